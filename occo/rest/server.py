"""Serving the app with waitress, and stopping without losing work.

``RestService.serve()`` runs until ``stop()`` is called (by a signal handler,
or by a test from another thread). Stopping goes in this order:

1. no new connection is accepted; a request arriving on an open
   connection is answered 503;
2. requests in flight finish and their answers are sent;
3. execution-group dispatchers start no new execution; background builds
   and the executions in flight (of groups, or resumed) get ``grace``
   seconds to finish, then are cancelled and rolled back;
4. the maintenance scheduler finishes the pass in flight;
5. webhooks already due are delivered (briefly), then everything closes.

On start, execution groups left with queued or started executions (a
previous service stopped or died) are dispatched again.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from occo.rest.app import create_app
from occo.rest.context import EXTENSION, ServiceContext
from occo.rest.settings import ServiceSettings

if TYPE_CHECKING:
    from occo.api import Occo

log = logging.getLogger("occo.rest")

LOOP_TICK = 0.2          # seconds between checks for a stop request
DRAIN_TIMEOUT = 30.0     # longest wait for requests in flight


class _Gate:
    """WSGI middleware that counts requests in flight and turns new ones away when stopping."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.in_flight = 0
        self.closing = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            if self.closing:
                body = json.dumps({"error": "unavailable",
                                   "message": "the service is shutting down"}).encode()
                start_response("503 Service Unavailable", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Connection", "close")])
                return [body]
            self.in_flight += 1
        try:
            result = self._app(environ, start_response)
            try:
                return list(result)     # answered in full before it counts as done
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            with self._lock:
                self.in_flight -= 1


class _JsonErrorTask(ErrorTask):  # type: ignore[misc]  # waitress ships no type hints
    """Errors waitress answers itself (a body far too large, a malformed request) in
    the service's JSON shape, like every other error."""

    def execute(self) -> None:
        error = self.request.error
        kind = str(error.reason).lower().replace(" ", "_")
        body = json.dumps({"error": kind, "message": " ".join(str(error.body).split())})
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body.encode())


class _JsonErrorChannel(HTTPChannel):  # type: ignore[misc]  # waitress ships no type hints
    error_task_class = _JsonErrorTask


class RestService:
    """The app, its waitress server and its background parts, started and stopped together."""

    def __init__(self, occo: Occo, settings: ServiceSettings) -> None:
        settings.check()
        self.settings = settings
        self.app = create_app(occo, settings)
        self.context: ServiceContext = self.app.extensions[EXTENSION]
        self._gate = _Gate(self.app)      # what waitress serves: the app behind the gate
        self._map: dict[int, Any] = {}
        # waitress cuts off bodies far over the limit (e.g. endless chunked uploads);
        # those just over it reach Flask, which answers 413 in JSON
        self._server = create_server(self._gate, map=self._map, host=settings.host,
                                     port=settings.port, threads=settings.threads,
                                     ident="occo",
                                     max_request_body_size=2 * settings.max_body_bytes + 65536)
        for listener in self._listeners():
            listener.channel_class = _JsonErrorChannel
        self.context.runs.base_url = self.public_url
        occo.base_url = self.public_url   # reports of builds and passes link here
        self._stop = threading.Event()
        self._force = threading.Event()
        self.stopped = threading.Event()

    # -- where it listens -------------------------------------------------------------
    @property
    def addresses(self) -> list[tuple[str, int]]:
        listen = getattr(self._server, "effective_listen", None)
        if listen:
            return [(str(host), int(port)) for host, port in listen]
        return [(str(self._server.effective_host), int(self._server.effective_port))]

    @property
    def requests_in_flight(self) -> int:
        """Requests being handled now (stopping waits for them)."""
        return self._gate.in_flight

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    @property
    def urls(self) -> list[str]:
        return [f"http://{f'[{h}]' if ':' in h else h}:{p}" for h, p in self.addresses]

    @property
    def public_url(self) -> str:
        """The URL links in reports use: the first listen address, or this host's name
        when the service listens on every address (0.0.0.0, ::)."""
        host, port = self.addresses[0]
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_unspecified:
                host = socket.gethostname()
        except ValueError:
            pass
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    # -- running ------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until :meth:`stop`; then shut down in order (see the module docstring)."""
        ctx = self.context
        ctx.notifier.start()
        if self.settings.maintain:
            ctx.scheduler.start()
        try:
            ctx.runs.dispatch_unfinished()
            while not self._stop.is_set():
                wasyncore.loop(timeout=LOOP_TICK, map=self._map, use_poll=True, count=1)
        finally:
            self._shutdown()

    def stop(self, *, force: bool = False) -> None:
        """Ask :meth:`serve` to shut down; ``force`` rolls builds back without grace."""
        if force:
            self._force.set()
            self.context.builds.cancel()
            self.context.runs.hurry()
        self._stop.set()

    def _listeners(self) -> Iterable[BaseWSGIServer]:
        return [d for d in list(self._map.values()) if isinstance(d, BaseWSGIServer)]

    def _shutdown(self) -> None:
        ctx = self.context
        try:
            for listener in self._listeners():
                listener.accepting = False
            self._gate.closing = True
            self._drain()
            grace = 0.0 if self._force.is_set() else self.settings.grace
            deadline = time.monotonic() + grace
            ctx.runs.stop_dispatching()
            ctx.builds.shutdown(grace)
            ctx.runs.shutdown(max(0.0, deadline - time.monotonic()))
            ctx.scheduler.stop()
            ctx.notifier.stop()
        finally:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._map)
            self.stopped.set()

    def _drain(self) -> None:
        """Keep the loop turning until requests in flight are answered and sent."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            busy = self._gate.in_flight or any(
                getattr(channel, "total_outbufs_len", 0) or getattr(channel, "requests", None)
                for channel in list(self._map.values()))
            if not busy:
                return
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        log.warning("requests still in flight after %gs; closing anyway", DRAIN_TIMEOUT)
