"""Bearer tokens, body size, CORS, and keeping secrets out of answers.

- With tokens configured, every request needs ``Authorization: Bearer <token>``
  (compared in constant time); without one it is answered 401.
- A body larger than ``max_body_bytes`` is answered 413 before it is read.
- CORS headers are sent only for origins listed in ``rest.cors_origins``.
- The secrets of ``auth_data`` (passwords, keys; see occo.context.auth) and
  the API tokens are replaced by ``***`` in any answer that would contain
  one: a last line of defence, since no endpoint is meant to return them.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, Unauthorized

from occo.context.auth import AuthData, Redactor
from occo.rest.settings import ServiceSettings


def redactors(auth_data: Any, tokens: Iterable[str] = ()) -> list[Redactor]:
    """What must never be answered: the secrets of the auth file, and the API tokens."""
    found = [Redactor(tokens)] if tokens else []
    parsed = AuthData.parse(auth_data)
    if parsed.entries:
        found.append(parsed.redactor)
    return found


def _token_ok(header: str | None, tokens: tuple[str, ...]) -> bool:
    if not header or not header.startswith("Bearer "):
        return False
    given = header[len("Bearer "):].strip().encode()
    # compare against every token, always, so timing says nothing about which matched
    return sum(hmac.compare_digest(given, t.encode()) for t in tokens) > 0


def install(app: Flask, settings: ServiceSettings, redact: list[Redactor]) -> None:
    """Register the request and response hooks on ``app``."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    origins = set(settings.cors_origins)

    @app.before_request
    def _guard() -> None:
        preflight = request.method == "OPTIONS" and origins and \
            "Access-Control-Request-Method" in request.headers
        if settings.tokens and not preflight and \
                not _token_ok(request.headers.get("Authorization"), settings.tokens):
            raise Unauthorized("a valid bearer token is required "
                               "(Authorization: Bearer <token>)")
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            raise RequestEntityTooLarge(
                f"the body has {length} bytes; the limit is {settings.max_body_bytes}")

    @app.after_request
    def _finish(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and (origin in origins or "*" in origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers.add("Vary", "Origin")
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = \
                    "GET, POST, PUT, PATCH, DELETE, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response.headers["Access-Control-Max-Age"] = "600"
        if redact and not response.direct_passthrough:
            _redact(response, redact)
        return response


def _redact(response: Response, redact: list[Redactor]) -> None:
    """Clean the decoded JSON (so escaped forms of a secret are caught too), else the text."""
    if response.is_json:
        data = response.get_json(silent=True)
        cleaned = data
        for redactor in redact:
            cleaned = redactor.redact_tree(cleaned)
        if cleaned != data:
            response.set_data(current_app.json.dumps(cleaned))
        return
    text = response.get_data(as_text=True)
    cleaned_text = text
    for redactor in redact:
        cleaned_text = redactor(cleaned_text)
    if cleaned_text != text:
        response.set_data(cleaned_text)
