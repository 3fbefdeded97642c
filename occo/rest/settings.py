"""What the REST service needs to know besides the Occo object.

Built from the Config plus the command-line flags; checked before the
service binds, so an unsafe setup never starts.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from occo.config import Config
from occo.errors import ConfigError
from occo.model.tokens import new_token, token_digest

TOKENS_ENV = "OCCO_REST_TOKENS"
TOKEN_FILE = "rest_token"


def env_token_digests() -> list[str]:
    """Digests of the bearer tokens in ``$OCCO_REST_TOKENS`` (comma-separated)."""
    return [token_digest(t) for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]


def is_loopback(host: str) -> bool:
    """True when every address ``host`` stands for is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                                   for a in addresses)


def generated_token_digest(home: Path) -> str:
    """The digest of ``<home>/rest_token``, made (mode 0600) with a fresh token if missing.

    The file holds the token itself, for clients run by the same user to read;
    the service keeps only its digest.
    """
    path = home / TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(new_token() + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds the service's bearer token but others may read it "
                          f"(chmod 600 {path})")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise ConfigError(f"{path} is empty; remove it and a new token is made")
    return token_digest(token)


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of one REST service; ``port=0`` asks the OS for a free port."""

    host: str = "127.0.0.1"
    port: int = 5000
    parallelize: bool = False
    token_digests: tuple[str, ...] = ()   # SHA-256 hex digests; see occo.model.tokens
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()   # Host names answered besides loopback and IPs
    host_commands: str = "loopback"       # who may send local nodes and command checks
    webhook_local_targets: bool = False   # webhooks to loopback, link-local, own address
    max_body_bytes: int = 1_048_576
    maintain_interval: float = 10.0
    maintain: bool = True                 # run the scheduler for attached infrastructures
    grace: float = 30.0                   # seconds builds in flight get at shutdown
    threads: int = 8                      # waitress worker threads
    notify_poll: float = 0.5              # how often state changes are looked for
    notify_retries: int = 5
    notify_timeout: float = 5.0           # seconds one webhook delivery may take

    @classmethod
    def from_config(cls, config: Config, *, host: str | None = None, port: int | None = None,
                    parallelize: bool = False, **overrides: Any) -> ServiceSettings:
        """Settings from the config's ``rest:`` section (or Occopus's ``components.rest``)
        and ``$OCCO_REST_TOKENS``; ``host`` and ``port`` given here win."""
        generated = [generated_token_digest(config.home)] if config.rest.generate_token else []
        digests = tuple(dict.fromkeys([*config.rest.tokens, *env_token_digests(), *generated]))
        settings = cls(
            host=config.rest.host if host is None else host,
            port=config.rest.port if port is None else port,
            parallelize=parallelize, token_digests=digests,
            cors_origins=tuple(config.rest.cors_origins),
            allowed_hosts=tuple(config.rest.allowed_hosts),
            host_commands=config.rest.host_commands,
            webhook_local_targets=config.rest.webhook_local_targets,
            max_body_bytes=config.rest.max_body_bytes,
            maintain_interval=config.maintain_interval)
        return replace(settings, **overrides)

    def check(self) -> None:
        """Refuse a setup that would expose the service without authentication."""
        if not self.host.strip():
            raise ConfigError("--host must name an address to listen on, e.g. 127.0.0.1")
        try:
            socket.getaddrinfo(self.host, None)
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"cannot listen on {self.host[:100]!r}: {exc}") from None
        if not is_loopback(self.host) and not self.token_digests:
            raise ConfigError(
                f"refusing to listen on {self.host} without a bearer token: anyone who can "
                f"reach it could build and destroy infrastructures. Set rest: {{tokens: [...]}} "
                f"in occopus_config.yaml or ${TOKENS_ENV}, or bind 127.0.0.1")
        if self.max_body_bytes <= 0:
            raise ConfigError("rest.max_body_bytes must be positive")
