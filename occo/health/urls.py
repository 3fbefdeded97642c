"""``urls: ['http://{{ip}}:8080/health']`` — every URL answers a GET with status < 400.

``{{ip}}`` becomes the instance's IP. When the URL points at the instance and
its port is a wanted port of a local instance sharing 127.0.0.1, the actual
port is used instead. Only http and https are fetched; proxies from the
environment are ignored, since a health check talks to the instance itself.

An https certificate is verified against the system's CAs. An entry may be a
mapping instead of a URL, to verify against a CA file of its own or not at
all (an instance with a self-signed certificate)::

    urls:
      - https://{{ip}}/health
      - {url: 'https://{{ip}}:8443/', verify: /etc/occo/our-ca.pem}
      - {url: 'https://{{ip}}:9443/', verify: false}
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

from occo.health.base import HealthCheck, HealthResult, HealthTarget

_IP_PLACEHOLDER = re.compile(r"\{\{\s*ip\s*\}\}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def render_url(url: str, target: HealthTarget) -> str:
    """Fill in ``{{ip}}`` and translate a wanted port of the target into its actual port."""
    if target.ip is not None:
        url = _IP_PLACEHOLDER.sub(target.ip, url)
    parts = urllib.parse.urlsplit(url)
    if target.ip is None or parts.hostname != target.ip or parts.scheme not in _DEFAULT_PORTS:
        return url
    wanted = parts.port or _DEFAULT_PORTS[parts.scheme]
    actual = target.port(wanted)
    if actual == wanted:
        return url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{actual}" if userinfo else f"{host}:{actual}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def interpret_status(url: str, status: int) -> HealthResult:
    if status < 400:
        return HealthResult(True)
    return HealthResult(False, f"{url} answered HTTP {status}")


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """Verify against the system's CAs (True), a CA file (its path), or not at all."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)


def url_entries(argument: Any) -> list[tuple[str, bool | str]] | None:
    """``(url, verify)`` per entry (a URL, or ``{url, verify}``); None if malformed."""
    items = [argument] if isinstance(argument, (str, dict)) else argument
    if not isinstance(items, (list, tuple)):
        return None
    entries: list[tuple[str, bool | str]] = []
    for item in items:
        if isinstance(item, str):
            entries.append((item, True))
        elif isinstance(item, dict) and isinstance(item.get("url"), str) \
                and isinstance(item.get("verify", True), (bool, str)):
            entries.append((item["url"], item.get("verify", True)))
        else:
            return None
    return entries


def _fetch_status(url: str, timeout: float, verify: bool | str = True) -> int:
    """Status of one GET (after redirects); raises OSError-family errors when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=tls_context(verify)))
    try:
        with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


class UrlsCheck(HealthCheck):
    """HTTP GET of each URL, all within one ``timeout``."""

    name: ClassVar[str] = "urls"

    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        entries = url_entries(argument)
        if entries is None:
            return HealthResult(False, f"urls expects a list of URLs, got {argument!r}")
        deadline = time.monotonic() + timeout
        for template, verify in entries:
            url = render_url(template, target)
            if "{{" in url:
                return HealthResult(False, f"{template}: instance has no IP address yet")
            if urllib.parse.urlsplit(url).scheme not in _DEFAULT_PORTS:
                return HealthResult(False, f"{url}: only http and https URLs can be checked")
            try:
                status = _fetch_status(url, max(0.01, deadline - time.monotonic()), verify)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                return HealthResult(False, f"{url}: {reason}")
            result = interpret_status(url, status)
            if not result.ok:
                return result
        return HealthResult(True)
