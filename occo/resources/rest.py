"""HTTP to a cloud's own REST API (CloudSigma, CloudBroker) with ``requests``, and the
handler base those two clouds share.

One :class:`RestApi` per endpoint and account: basic authentication, a
timeout on every request, and bounded repeats of requests the cloud turned
away as busy (429, 503; for reads and deletes also 502, 504 and a dropped
connection or timeout). Anything else comes back as an :class:`ApiError` carrying the
status and body, for the handler to word; a cloud that cannot be reached is
an :class:`ApiUnreachable`. ``requests`` is imported when the first API
object is made, never by a console script that does not use these clouds.

:class:`RestCloudHandler` holds what both handlers do around it: one
:class:`RestApi` per endpoint and ``auth_data`` entry (``{email, password}``),
and one wording of errors, where each cloud adds how it writes an error and
when a refusal means a quota.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.resources.base import HandlerEnv
from occo.resources.cloud import CloudHandler, CloudSettings

if TYPE_CHECKING:
    import requests
    from pydantic import BaseModel

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


class RestCloudHandler(CloudHandler):
    """A cloud reached over its own REST API with an email and password."""

    cloud: ClassVar[str]            # the cloud's name in messages
    accept: ClassVar[str]           # the media type its API answers in

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env)
        self._apis: dict[str, RestApi] = {}

    def _api(self, config: BaseModel) -> tuple[RestApi, AuthEntry]:
        """The API of the resource's endpoint, with the matching entry's credentials."""
        entry, auth = self._auth.for_resource(config.model_dump(mode="json", exclude_none=True))
        email, password = auth.get("email"), auth.get("password")
        if not email or not password:
            raise ConfigError(f"{self._auth.source}: {entry.describe()}: {self.name} needs "
                              "'email' and 'password'")
        endpoint = str(getattr(config, "endpoint", ""))
        key = hashlib.sha256(json.dumps([endpoint, str(email), str(password)])
                             .encode()).hexdigest()
        with self._lock:
            api = self._apis.get(key)
            if api is None:
                api = RestApi(endpoint, str(email), str(password), self.settings,
                              headers={"Accept": self.accept})
                self._apis[key] = api
        return api, entry

    # -- what each cloud says its own way -------------------------------------------
    def _message(self, error: ApiError) -> str:
        """The cloud's own words in an error answer."""
        return error.body.strip()[:MAX_BODY_SHOWN] or "(no message)"

    def _is_quota(self, error: ApiError, message: str) -> bool:
        """Whether a refusal means the account's quota, limits or funds."""
        return False

    def _secrets(self, config: BaseModel) -> tuple[str | None, ...]:
        """Secrets of the resource section itself, kept out of messages too."""
        return ()

    def _error(self, exc: BaseException, doing: str, config: BaseModel,
               entry: AuthEntry | None = None) -> ResourceError:
        """One clear, secret-free message for what the cloud (or the way to it) said."""
        if isinstance(exc, ResourceError):
            return exc
        where = f"{self.cloud} at {getattr(config, 'endpoint', '?')}"
        retry = None
        if isinstance(exc, ApiUnreachable):
            text = f"cannot reach {where} while {doing}: {exc}"
        elif isinstance(exc, ApiError):
            message = self._message(exc)
            if exc.status == 401:
                who = f" for {entry.describe()} of {self._auth.source}" if entry else ""
                text = f"{where} rejected the credentials{who}: {message}"
            elif self._is_quota(exc, message):
                text = f"{where}: quota exceeded while {doing}: {message}"
            else:
                retry = exc.retry_after
                text = f"{where}: {doing} failed: {message} (HTTP {exc.status})"
        else:
            text = f"{where}: {doing} failed: {type(exc).__name__}: {exc}"
        return ResourceError(self._scrub(text, *self._secrets(config)), handler=self.name,
                             retry_after=retry)
