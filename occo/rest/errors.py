"""Every error answer is JSON ``{"error": kind, "message": ...}`` with a real HTTP code.

occo's errors carry their own ``http_status`` and ``kind`` as class
attributes, so one handler registered for ``OccoError`` covers the whole
tree: Flask picks it by walking the raised class's MRO, and the class
attributes resolve the same way. HTTP errors (404, 405, 413...) and
anything unexpected get the same shape; a stack trace never leaves the
process (it goes to the service log).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from occo.errors import DestroyIncomplete, OccoError, ResourceError

log = logging.getLogger("occo.rest")


def error_response(status: int, kind: str, message: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"error": kind, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    return response


def _http_kind(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def handle_occo_error(exc: OccoError) -> Response:
    location = None
    if exc.location is not None:
        location = {"source": exc.location.file, "line": exc.location.line,
                    "column": exc.location.column}
    response = error_response(
        exc.http_status, exc.kind, str(exc), location=location, path=exc.path,
        left=exc.left if isinstance(exc, DestroyIncomplete) else None)
    if isinstance(exc, ResourceError) and exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.http_status >= 500:
        log.warning("%s: %s", exc.kind, exc)
    return response


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    message = data.get("message") or exc.description or exc.name
    errors = data.get("errors") or data.get("messages")
    if errors:  # request validation by flask-smorest: say which field and why
        message = f"invalid request: {_flatten(errors)}"
    response = error_response(status, _http_kind(exc), str(message))
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    response.headers.update(data.get("headers") or {})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="occo"'
    return response


def handle_unexpected(exc: Exception) -> Response:
    log.error("unexpected error while serving a request", exc_info=exc)
    return error_response(500, "internal_error",
                          "internal error; the service log has the details")


def _flatten(errors: Any, prefix: str = "") -> str:
    """``{"query": {"limit": ["Must be ..."]}}`` -> ``query.limit: Must be ...``."""
    if isinstance(errors, dict):
        parts = [_flatten(v, f"{prefix}{k}.") for k, v in errors.items()]
        return "; ".join(p for p in parts if p)
    if isinstance(errors, list):
        return f"{prefix.rstrip('.')}: " + " ".join(str(e) for e in errors)
    return f"{prefix.rstrip('.')}: {errors}"


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(OccoError, handle_occo_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
