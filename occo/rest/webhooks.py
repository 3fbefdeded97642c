"""Where a webhook may point, and how one delivery is sent: signed, to a checked address.

A webhook URL is given by a caller of the REST API, and the service POSTs to
it from inside the operator's network, so it must not become a way to reach
what the caller could not: the service itself, other services on loopback,
or the cloud metadata address (169.254.169.254). Addresses that are
loopback, link-local, unspecified (0.0.0.0 reaches loopback) or this
service's own are refused, at registration and again at every delivery,
unless ``rest.webhook_local_targets`` allows them. A delivery connects to the
very address that was checked, so a name re-resolving to another address
between check and connection (DNS rebinding) gains nothing.

Each delivery carries ``X-Occo-Signature-256: sha256=<hex>``, the HMAC-SHA256
of the body under the webhook's secret, for the receiver to check.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from occo.errors import UserInputError

SIGNATURE_HEADER = "X-Occo-Signature-256"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature(secret: str, body: bytes) -> str:
    """The header value that proves ``body`` came from whoever knows ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_webhook_url(url: str) -> str:
    """Only absolute http(s) URLs: a webhook must never open a local file."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserInputError(f"notify url must be an absolute http:// or https:// URL, "
                             f"not {url[:200]!r}")
    return url


def _plain(address: IPAddress) -> IPAddress:
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def local_addresses(listen_host: str) -> frozenset[IPAddress]:
    """This service's own addresses: the one it listens on, else those of its host name."""
    names = {listen_host, socket.gethostname()}
    found: set[IPAddress] = set()
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None)
        except (OSError, UnicodeError):
            continue
        found.update(_plain(ipaddress.ip_address(str(i[4][0]).split("%")[0])) for i in infos)
    return frozenset(found)


@dataclass(frozen=True)
class TargetPolicy:
    """Which addresses deliveries may go to."""

    allow_local: bool = False
    own: frozenset[IPAddress] = frozenset()

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` is no place for a webhook, or None."""
        if self.allow_local:
            return None
        address = _plain(address)
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address (such as the cloud metadata service)"
        if address.is_unspecified:
            return "an unspecified address"
        if address in self.own:
            return "this service's own address"
        return None

    def addresses(self, url: str) -> list[tuple[IPAddress, int]]:
        """Resolve ``url``'s host; every address must be allowed (UserInputError if not)."""
        parts = urlsplit(check_webhook_url(url))
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UserInputError(f"notify url: cannot resolve {host[:100]!r}: {exc}") from None
        found = list(dict.fromkeys(
            (ipaddress.ip_address(str(i[4][0]).split("%")[0]), port) for i in infos))
        for address, _ in found:
            why = self.refusal(address)
            if why:
                raise UserInputError(
                    f"notify url {url[:200]!r} points at {address}, {why}; set "
                    f"rest.webhook_local_targets to allow such targets")
        return found


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an address already checked, whatever the host name resolves to now."""

    def __init__(self, host: str, address: IPAddress, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: IPAddress, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((str(self._address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]  # set by HTTPSConnection


def post(policy: TargetPolicy, url: str, body: bytes, secret: str | None,
         timeout: float) -> int:
    """POST one delivery; its HTTP status. Raises OSError-family errors when nothing
    answers, UserInputError when the target is not allowed (any more)."""
    parts = urlsplit(url)
    address, port = _first(policy.addresses(url))
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = kind(parts.hostname or "", address, port, timeout)
    headers = {"Content-Type": "application/json", "User-Agent": "occo-webhook"}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(65536)
        return int(answer.status)
    finally:
        connection.close()


def _first(found: Iterable[tuple[IPAddress, int]]) -> tuple[IPAddress, int]:
    for item in found:
        return item
    raise OSError("the host name resolves to no address")
