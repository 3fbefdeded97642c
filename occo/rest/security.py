"""Who may talk to the service: Host names, web page origins, bearer tokens, body size.

- A request whose ``Host`` is not a name the service answers to is refused
  (400): an IP address, ``localhost``, this machine's name, the name it
  listens as and ``rest.allowed_hosts``. A web page that rebinds its own DNS
  name to 127.0.0.1 sends its own name, and is turned away.
- A state-changing request (POST, PUT, PATCH, DELETE) that carries an
  ``Origin`` not listed in ``rest.cors_origins`` is refused (403): it was
  sent by a web page. curl, scripts and Occopus's clients send no Origin.
- With tokens configured, every request needs ``Authorization: Bearer
  <token>``; tokens are known only by their SHA-256 digests (see
  occo.model.tokens). Without a valid one the answer is 401.
- A body larger than ``max_body_bytes`` is answered 413 before it is read.
- CORS headers are sent only for origins listed in ``rest.cors_origins``.
- The secrets of ``auth_data`` (passwords, keys; see occo.context.auth) and
  the token the request presented are replaced by ``***`` in any answer
  that would contain one: a last line of defence, since no endpoint is
  meant to return them.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, Unauthorized

from occo.context.auth import AuthData, Redactor
from occo.errors import Forbidden, UserInputError
from occo.model.tokens import token_matches
from occo.rest.settings import ServiceSettings, is_loopback

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BEARER = "Bearer "


def redactors(auth_data: Any) -> list[Redactor]:
    """What must never be answered: the secrets of the auth file."""
    parsed = AuthData.parse(auth_data)
    return [parsed.redactor] if parsed.entries else []


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without port or brackets, lower case."""
    value = host_header.strip()
    if value.startswith("["):
        name = value[1:value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        name = value.split(":", 1)[0]
    else:
        name = value                      # a bare name, or an IPv6 address unbracketed
    return name.rstrip(".").lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return True


def answered_names(settings: ServiceSettings) -> frozenset[str]:
    """Host names the service answers to, besides IP addresses (which cannot be rebound)."""
    names = {"localhost", socket.gethostname(), settings.host,
             *settings.allowed_hosts}
    return frozenset(host_name(n) for n in names if n)


def _presented_token() -> str | None:
    header = request.headers.get("Authorization")
    if not header or not header.startswith(_BEARER):
        return None
    return header[len(_BEARER):].strip()


def may_run_host_commands(settings: ServiceSettings) -> bool:
    """Whether this request may bring node definitions that run commands on this host."""
    if settings.host_commands == "always":
        return True
    if settings.host_commands == "never":
        return False
    return bool(request.remote_addr) and is_loopback(str(request.remote_addr))


ScalingCheck = Callable[[str, str], bool]
#: The requests a scaling token may make: Occopus's scaling endpoints.
SCALING_PATH = re.compile(r"/infrastructures/(?P<infra_id>[^/]+)/(scaleup|scaledown|scaleto)/.+")


def _scaling_token_ok(token: str, scaling_ok: ScalingCheck | None) -> bool:
    """A scaling request carrying a scaling token of that very infrastructure
    (``{{ occo.scaling_token }}`` of one of its instances)."""
    match = SCALING_PATH.fullmatch(request.path)
    if scaling_ok is None or match is None or request.method != "POST":
        return False
    return scaling_ok(match["infra_id"], token)


def install(app: Flask, settings: ServiceSettings, redact: list[Redactor],
            scaling_ok: ScalingCheck | None = None) -> None:
    """Register the request and response hooks on ``app``; ``scaling_ok(infra_id,
    token)`` tells whether a scaling token may scale that infrastructure."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    origins = set(settings.cors_origins)
    names = answered_names(settings)
    any_host = "*" in names

    @app.before_request
    def _guard() -> None:
        host = request.environ.get("HTTP_HOST")
        if host is not None and not any_host:
            name = host_name(host)
            if name not in names and not _is_ip(name):
                raise UserInputError(
                    f"this service does not answer to the name {name[:100]!r}; use its "
                    f"address, or list the name in rest.allowed_hosts")
        origin = request.headers.get("Origin")
        if origin is not None and request.method in STATE_CHANGING \
                and origin not in origins and "*" not in origins:
            raise Forbidden(f"requests from web pages at {origin[:100]!r} are refused; list "
                            f"the origin in rest.cors_origins to allow it")
        preflight = request.method == "OPTIONS" and origins and \
            "Access-Control-Request-Method" in request.headers
        if settings.token_digests and not preflight:
            token = _presented_token()
            if token is None or not (token_matches(token, settings.token_digests)
                                     or _scaling_token_ok(token, scaling_ok)):
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
        token = _presented_token()
        cleaners = [*redact, Redactor([token])] if token else redact
        if cleaners and not response.direct_passthrough:
            _redact(response, cleaners)
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
