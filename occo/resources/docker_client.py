"""Reaching a Docker Engine: one Docker SDK client per endpoint and credentials.

The docker handler, and anything else that acts on containers (running a job
in one, say), asks :class:`EngineClients` for the client of a resource
section. Credentials are optional: an ``auth_data.yaml`` entry matching the
section may give TLS material for a ``tcp://`` Engine, each value a file path
or the PEM text itself::

    resource:
      - type: docker
        endpoint: tcp://docker.example.org:2376
        auth_data:
          tls_ca_cert: /home/me/.docker/ca.pem        # the Engine's CA
          tls_client_cert: /home/me/.docker/cert.pem  # this client
          tls_client_key: |                           # its key (a path works too)
            -----BEGIN PRIVATE KEY-----
            ...

PEM text is written to a private file under ``<home>/docker-tls/`` because
the SDK reads files. The client never takes settings from the environment
(``REQUESTS_CA_BUNDLE`` would replace ``tls_ca_cert``, ``HTTPS_PROXY`` would
route the Engine's API through a proxy).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from occo.context.auth import AuthData, AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import DockerResource

if TYPE_CHECKING:
    from docker import DockerClient

REQUEST_TIMEOUT = 60
MESSAGE_LIMIT = 400
TLS_KEYS = ("tls_ca_cert", "tls_client_cert", "tls_client_key")
_HTML_TAG = re.compile(r"<[^>]{0,200}>")
_SSL_REASON = re.compile(r"\] (?P<text>[^()]+?) \(_ssl")


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """An Engine's message as one bounded line (some carry an HTML page or a log)."""
    text = " ".join(_HTML_TAG.sub(" ", text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class EngineClients:
    """Docker SDK clients, one per Engine and credentials, closed with their owner."""

    def __init__(self, auth: AuthData, home: Path, redact: Any) -> None:
        self._auth = auth
        self._home = home
        self._redact = redact
        self._lock = threading.Lock()
        self._clients: dict[str, DockerClient] = {}
        self._connecting: dict[str, threading.Lock] = {}
        weakref.finalize(self, _close_all, self._clients)

    def credentials(self, config: DockerResource) -> tuple[AuthEntry | None, dict[str, Any]]:
        """The matching auth_data entry, if any, and its values."""
        entry = self._auth.find("resource", config.model_dump(mode="json", exclude_none=True))
        return entry, dict(entry.auth_data) if entry else {}

    def key(self, config: DockerResource) -> str:
        """Identifies an Engine as seen with its credentials."""
        return json.dumps([config.endpoint, self.credentials(config)[1]], sort_keys=True,
                          default=str)

    def get(self, config: DockerResource) -> DockerClient:
        """The client of this section's Engine, connecting once (and again after a
        failure); a slow Engine holds up only those who wait for it."""
        key = self.key(config)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                return client
            connecting = self._connecting.setdefault(key, threading.Lock())
        with connecting:
            with self._lock:
                client = self._clients.get(key)
            if client is None:
                client = self._connect(config)
                with self._lock:
                    self._clients[key] = client
        return client

    # -- connecting -------------------------------------------------------------------
    def _connect(self, config: DockerResource) -> DockerClient:
        from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION
        from docker.utils import version_lt

        entry, auth = self.credentials(config)
        tls = self._tls(entry, auth)
        try:
            _probe_unix_socket(config.endpoint)
            # The API version is asked for by hand (as version="auto" would) so that
            # the session ignores the environment from its first request on.
            probe = self._client(config.endpoint, MINIMUM_DOCKER_API_VERSION, tls)
            try:
                server = str(probe.api.version(api_version=False)["ApiVersion"])
            finally:
                probe.close()
        except Exception as exc:  # noqa: BLE001 - translated into one message
            raise self.error(exc, "connecting", config, entry) from None
        wanted = server if version_lt(server, DEFAULT_DOCKER_API_VERSION) \
            else DEFAULT_DOCKER_API_VERSION
        return self._client(config.endpoint, wanted, tls)

    @staticmethod
    def _client(endpoint: str, version: str, tls: Any) -> DockerClient:
        import docker

        client = docker.DockerClient(base_url=endpoint, version=version, timeout=REQUEST_TIMEOUT,
                                     tls=tls, user_agent="occo")
        client.api.trust_env = False
        return client

    def _tls(self, entry: AuthEntry | None, auth: dict[str, Any]) -> Any:
        """The SDK's TLS settings from an entry; False when it names no TLS material."""
        from docker.tls import TLSConfig

        if entry is None or not any(auth.get(k) for k in TLS_KEYS):
            return False
        where = f"{self._auth.source}: {entry.describe()}"
        files = {k: self._pem_file(str(auth[k]), k, where) for k in TLS_KEYS if auth.get(k)}
        cert, key = files.get("tls_client_cert"), files.get("tls_client_key")
        if bool(cert) != bool(key):
            raise ConfigError(f"{where}: tls_client_cert and tls_client_key go together")
        return TLSConfig(client_cert=(cert, key) if cert and key else None,
                         ca_cert=files.get("tls_ca_cert"),
                         verify=auth.get("tls_verify", True) is not False)

    def _pem_file(self, value: str, name: str, where: str) -> str:
        """A path for the SDK: the file named, or the PEM text written to a private file."""
        if value.lstrip().startswith("-----BEGIN"):
            digest = hashlib.sha256(value.encode()).hexdigest()[:24]
            path = self._home / "docker-tls" / f"{digest}.pem"
            if not path.exists():       # written aside, then renamed: never seen half-written
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "w") as out:
                    out.write(value)
                os.replace(partial, path)
            return str(path)
        if not os.path.isfile(value):
            shown = "" if name == "tls_client_key" else f" {value}"
            raise ConfigError(f"{where}: {name}{shown} is neither a file nor PEM text")
        return value

    # -- errors -----------------------------------------------------------------------
    def error(self, exc: BaseException, doing: str, config: DockerResource,
              entry: AuthEntry | None = None) -> ResourceError:
        """One clear, secret-free message for what the Engine (or the way to it) said."""
        if isinstance(exc, ResourceError):
            return exc
        where = f"the Docker Engine at {config.endpoint}"
        status = getattr(exc, "status_code", None)
        explanation = getattr(exc, "explanation", None)
        ssl = _ssl_error(exc)
        who = f"{entry.describe()} of {self._auth.source}" if entry else "no auth_data entry"
        if status is not None and explanation:
            text = f"{where}: {doing} failed: {one_line(str(explanation))} (HTTP {status})"
        elif ssl is not None and "CERTIFICATE_VERIFY_FAILED" in str(ssl):
            text = (f"{where} has a TLS certificate that the tls_ca_cert of {who} does not "
                    f"verify: {_ssl_reason(ssl)}")
        elif ssl is not None:
            text = f"{where} rejected the TLS client certificate of {who}: {_ssl_reason(ssl)}"
        elif is_unreachable(exc):
            text = f"cannot reach {where} while {doing}: {root_cause(exc)}"
        else:
            text = f"{where}: {doing} failed: {one_line(root_cause(exc))}"
        retry = 10.0 if status in (429, 503) else None
        return ResourceError(self._redact(text), handler="docker", retry_after=retry)


def _probe_unix_socket(endpoint: str) -> None:
    """Connect once to a ``unix://`` Engine and close again: the SDK leaks the socket
    of a connection that fails, so a missing or dead socket is found here first."""
    if not endpoint.startswith("unix://"):
        return
    path = endpoint[len("unix://"):]
    path = path if path.startswith("/") else "/" + path   # unix://var/run/... as Occopus wrote
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REQUEST_TIMEOUT)
        sock.connect(path)


def _close_all(clients: dict[str, Any]) -> None:
    for client in clients.values():
        client.close()


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception, its causes and the exceptions wrapped in its arguments, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        current = current.__cause__ or current.__context__ or (nested[-1] if nested else None)
    return seen


def _ssl_error(exc: BaseException) -> BaseException | None:
    import ssl

    return next((e for e in _chain(exc) if isinstance(e, ssl.SSLError)), None)


def _ssl_reason(exc: BaseException) -> str:
    found = _SSL_REASON.search(str(exc))
    return found.group("text") if found else one_line(str(exc))


def is_unreachable(exc: BaseException) -> bool:
    """Whether the Engine could not be talked to at all (no socket, refused, TLS...)."""
    for cause in _chain(exc):
        names = {c.__name__ for c in type(cause).__mro__}
        if "ReadTimeout" in names:
            return False
        if names & {"ConnectionError", "FileNotFoundError", "PermissionError", "TimeoutError",
                    "SSLError"}:
            return True
    return False


def root_cause(exc: BaseException) -> str:
    """The innermost reason, as a user can act on it (not a chain of wrappers)."""
    current = _chain(exc)[-1]
    if isinstance(current, FileNotFoundError) and current.filename is None:
        return "no such socket"
    if isinstance(current, OSError) and current.strerror:
        return current.strerror
    return str(current) or type(current).__name__
