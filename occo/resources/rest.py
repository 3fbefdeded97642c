"""HTTP to a cloud's own REST API (CloudSigma, CloudBroker) with ``requests``.

One :class:`RestApi` per endpoint and account: basic authentication, a
timeout on every request, and bounded repeats of requests the cloud turned
away as busy (429, 503; for reads and deletes also 502, 504 and a dropped
connection or timeout). Anything else comes back as an :class:`ApiError` carrying the
status and body, for the handler to word; a cloud that cannot be reached is
an :class:`ApiUnreachable`. ``requests`` is imported when the first API
object is made, never by a console script that does not use these clouds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from occo.resources.cloud import CloudSettings

if TYPE_CHECKING:
    import requests

BUSY = frozenset({429, 503})
"""Statuses that say the request was not acted on: safe to send again."""
FLAKY = BUSY | {502, 504}
"""Also repeated for requests that change nothing twice (GET, PUT, DELETE)."""
MAX_RETRY_AFTER = 30.0
MAX_BODY_SHOWN = 500


class ApiError(Exception):
    """The cloud answered with an unexpected status."""

    def __init__(self, status: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {body[:MAX_BODY_SHOWN]}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


class ApiUnreachable(Exception):
    """The request never got an answer (refused, reset, timed out)."""


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value))) if value else None
    except ValueError:
        return None


class RestApi:
    """One cloud endpoint and account; thread-safe (a pooled ``requests`` session)."""

    def __init__(self, base_url: str, user: str, password: str, settings: CloudSettings,
                 *, headers: Mapping[str, str] | None = None) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self._session = requests.Session()
        self._session.auth = (user, password)
        self._session.headers.update({"User-Agent": "occo", **(headers or {})})

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,),
             **kwargs: Any) -> requests.Response:
        """Send one request (repeating busy answers); the response when its status is
        in ``ok``, else :class:`ApiError`."""
        import requests

        url = self.base_url + path
        repeatable = FLAKY if method.upper() in ("GET", "HEAD", "PUT", "DELETE") else BUSY
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(method, url,
                                                 timeout=self.settings.request_timeout, **kwargs)
            except requests.RequestException as exc:
                # A POST may have been acted on before the connection broke: never repeated.
                if attempt > self.settings.retries or repeatable is BUSY:
                    raise ApiUnreachable(f"{type(exc).__name__}: {exc}") from None
                time.sleep(self.settings.poll_interval)
                continue
            if response.status_code in ok:
                return response
            wait = _retry_after(response)
            if response.status_code in repeatable and attempt <= self.settings.retries:
                time.sleep(self.settings.poll_interval if wait is None else wait)
                continue
            raise ApiError(response.status_code, response.text, wait)

    def close(self) -> None:
        self._session.close()
