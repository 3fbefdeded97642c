"""What the REST service needs to know besides the Occo object.

Built from the Config plus the command-line flags; checked before the
service binds, so an unsafe setup never starts.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass

from occo.config import Config
from occo.errors import ConfigError

TOKENS_ENV = "OCCO_REST_TOKENS"


def env_tokens() -> list[str]:
    """Bearer tokens from ``$OCCO_REST_TOKENS`` (comma-separated)."""
    return [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]


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


@dataclass(frozen=True)
class ServiceSettings:
    """Settings of one REST service; ``port=0`` asks the OS for a free port."""

    host: str = "127.0.0.1"
    port: int = 5000
    parallelize: bool = False
    tokens: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_048_576
    maintain_interval: float = 10.0
    maintain: bool = True                 # run the scheduler for attached infrastructures
    grace: float = 30.0                   # seconds builds in flight get at shutdown
    threads: int = 8                      # waitress worker threads
    notify_poll: float = 0.5              # how often state changes are looked for
    notify_retries: int = 5

    @classmethod
    def from_config(cls, config: Config, *, host: str | None = None, port: int | None = None,
                    parallelize: bool = False, **overrides: object) -> ServiceSettings:
        """Settings from the config's ``rest:`` section (or Occopus's ``components.rest``)
        and ``$OCCO_REST_TOKENS``; ``host`` and ``port`` given here win."""
        tokens = tuple(dict.fromkeys([*config.rest.tokens, *env_tokens()]))
        values: dict[str, object] = {
            "host": config.rest.host if host is None else host,
            "port": config.rest.port if port is None else port,
            "parallelize": parallelize, "tokens": tokens,
            "cors_origins": tuple(config.rest.cors_origins),
            "max_body_bytes": config.rest.max_body_bytes,
            "maintain_interval": config.maintain_interval}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse a setup that would expose the service without authentication."""
        if not is_loopback(self.host) and not self.tokens:
            raise ConfigError(
                f"refusing to listen on {self.host} without a bearer token: anyone who can "
                f"reach it could build and destroy infrastructures. Set rest: {{tokens: [...]}} "
                f"in occopus_config.yaml or ${TOKENS_ENV}, or bind 127.0.0.1")
        if self.max_body_bytes <= 0:
            raise ConfigError("rest.max_body_bytes must be positive")
