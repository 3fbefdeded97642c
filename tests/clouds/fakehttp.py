"""The plumbing of the fake cloud APIs: a real HTTP(S) server on 127.0.0.1, port 0.

A fake subclasses :class:`FakeHttpServer`, registers its routes, and checks
credentials in :meth:`FakeHttpServer.authorize`. Every request is logged;
:meth:`FakeHttpServer.inject` makes the next matching requests fail with a
given answer (a busy 503, a quota error) before they reach the routes, so a
test can see what the handler does with it.
"""

from __future__ import annotations

import re
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[..., Response]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class Injected:
    """An answer given instead of the real one to the next ``count`` matching requests."""

    response: Callable[[], Response]
    count: int
    method: str | None
    path: re.Pattern[str] | None

    def matches(self, request: Request) -> bool:
        return (self.method is None or request.method == self.method) and \
            (self.path is None or bool(self.path.search(request.path)))


class FakeHttpServer:
    """Routes, a request log and failure injection around a threaded WSGI server."""

    name = "fake-cloud"

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        self.auth_failures = 0
        self.unknown_routes: list[tuple[str, str]] = []
        self._ssl = ssl_context
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._injected: list[Injected] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeHttpServer:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler, ssl_context=self._ssl)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=self.name)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def base(self) -> str:
        assert self._server is not None, "start() first"
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_port}"

    # -- for subclasses -----------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def authorize(self, request: Request) -> Response | None:
        """None when the request may proceed, else the refusal to send."""
        return None

    def basic_auth_is(self, request: Request, user: str, password: str) -> bool:
        """Whether the request carries these basic credentials (a miss is counted)."""
        auth = request.authorization
        if auth is not None and auth.type == "basic" and \
                (auth.username, auth.password) == (user, password):
            return True
        with self.lock:
            self.auth_failures += 1
        return False

    # -- for tests ----------------------------------------------------------------------
    def inject(self, response: Callable[[], Response], *, count: int = 1,
               method: str | None = None, path: str | None = None) -> None:
        """Answer the next ``count`` requests matching ``method`` and ``path`` (a regex
        searched in the path) with ``response()`` instead."""
        with self.lock:
            self._injected.append(Injected(response, count, method,
                                           re.compile(path) if path else None))

    def requests_to(self, method: str, path_regex: str) -> list[str]:
        with self.lock:
            return [p for m, p in self.requests if m == method and re.search(path_regex, p)]

    # -- WSGI ---------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _take_injected(self, request: Request) -> Response | None:
        with self.lock:
            for injected in self._injected:
                if injected.count > 0 and injected.matches(request):
                    injected.count -= 1
                    return injected.response()
        return None

    def _answer(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((request.method, request.full_path.rstrip("?")))
        injected = self._take_injected(request)
        if injected is not None:
            return injected
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self.lock:
                    return handler(request, **match.groupdict())
        with self.lock:
            self.unknown_routes.append((request.method, request.path))
        return Response("no such route", status=404)
