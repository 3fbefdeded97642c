"""``urls: ['http://{{ip}}:8080/health']`` — every URL answers a GET with status < 400.

``{{ip}}`` becomes the instance's IP. When the URL points at the instance and
its port is a wanted port of a local instance sharing 127.0.0.1, the actual
port is used instead. Only http and https are fetched; proxies from the
environment are ignored, since a health check talks to the instance itself.
"""

from __future__ import annotations

import http.client
import re
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


def _fetch_status(url: str, timeout: float) -> int:
    """Status of one GET (after redirects); raises OSError-family errors when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
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
        urls = [argument] if isinstance(argument, str) else argument
        if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
            return HealthResult(False, f"urls expects a list of URLs, got {argument!r}")
        deadline = time.monotonic() + timeout
        for template in urls:
            url = render_url(template, target)
            if "{{" in url:
                return HealthResult(False, f"{template}: instance has no IP address yet")
            if urllib.parse.urlsplit(url).scheme not in _DEFAULT_PORTS:
                return HealthResult(False, f"{url}: only http and https URLs can be checked")
            try:
                status = _fetch_status(url, max(0.01, deadline - time.monotonic()))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                return HealthResult(False, f"{url}: {reason}")
            result = interpret_status(url, status)
            if not result.ok:
                return result
        return HealthResult(True)
