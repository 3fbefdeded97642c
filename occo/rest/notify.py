"""Webhooks: POST a JSON event to an infrastructure's ``notify_url`` on each state change.

The store logs every infrastructure state change as an ``infra_state``
event in the same transaction as the change, whichever process made it
(a build thread here, ``occopus-destroy`` elsewhere). A watcher thread tails
those events; a sender thread delivers them, retrying with exponential
backoff. Neither runs inside a build or a maintenance pass, so a slow or
dead receiver never holds one up. Delivery is at least once per change
while the service runs; changes made while it is down are not replayed.

The event sent::

    {"event": "state_changed", "infraid": "...", "state": "ready",
     "previous": "building", "time": 1700000000.0, "sequence": 42}
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from occo.errors import UserInputError

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.store.records import EventRecord

log = logging.getLogger("occo.rest")

MAX_BACKOFF = 30.0


def check_webhook_url(url: str) -> str:
    """Only absolute http(s) URLs: a webhook must never open a local file."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserInputError(f"notify url must be an absolute http:// or https:// URL, "
                             f"not {url!r}")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook answer that redirects is a failed delivery, not a hop elsewhere."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


@dataclass(order=True)
class _Delivery:
    due: float
    order: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Notifier:
    """Watches state changes and delivers them to their webhooks."""

    def __init__(self, occo: Occo, *, poll: float = 0.5, retries: int = 5,
                 timeout: float = 5.0, backoff: float = 0.5) -> None:
        self._occo = occo
        self._poll = poll
        self._retries = retries
        self._timeout = timeout
        self._backoff = backoff
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._queue: list[_Delivery] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._drain_until = 0.0
        self._last_id = 0
        self._seen: set[int] = set()
        self._urls: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self.delivered = 0
        self.dropped = 0

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._last_id = self._occo.last_event_id()
        self._urls = self._occo.notify_urls()
        for target, name in ((self._watch, "occo-notify-watch"),
                             (self._send, "occo-notify-send")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, drain: float = 2.0) -> None:
        """Stop watching; deliver what is due within ``drain`` seconds, then stop."""
        try:
            self._check()          # changes made by the last work in flight
        except Exception:
            log.exception("could not read the last state changes")
        with self._cv:
            self._drain_until = time.monotonic() + drain
            self._stop.set()
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(drain + self._timeout + 1)
        self._threads.clear()

    def remember(self, infra_id: str, url: str | None) -> None:
        """A URL set through the API applies from the next change on."""
        with self._cv:
            if url is None:
                self._urls.pop(infra_id, None)
            else:
                self._urls[infra_id] = url

    # -- watching ---------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self._check()
            except Exception:
                log.exception("could not read infrastructure state changes")

    def _check(self) -> None:
        # Ids may commit out of order on PostgreSQL: look back a little, skip seen ones.
        changes = self._occo.state_changes(max(0, self._last_id - 50))
        current = self._occo.notify_urls()
        with self._cv:
            known, self._urls = self._urls, current
            for event in changes:
                if event.id in self._seen:
                    continue
                self._seen.add(event.id)
                self._last_id = max(self._last_id, event.id)
                # a record deleted since (destroyed) took its URL along: use the one we knew
                url = current.get(event.infra_id or "") or known.get(event.infra_id or "")
                if url is not None:
                    self._enqueue(url, event)
            if len(self._seen) > 10_000:
                self._seen = {i for i in self._seen if i > self._last_id - 1_000}

    def _enqueue(self, url: str, event: EventRecord) -> None:
        data = event.data or {}
        body = json.dumps({"event": "state_changed", "infraid": event.infra_id,
                           "state": data.get("to"), "previous": data.get("from"),
                           "time": event.time, "sequence": event.id}).encode()
        heapq.heappush(self._queue, _Delivery(time.monotonic(), next(self._order), url, body))
        self._cv.notify_all()

    # -- sending ----------------------------------------------------------------------
    def _next(self) -> _Delivery | None:
        with self._cv:
            while True:
                now = time.monotonic()
                if self._stop.is_set() and (not self._queue or now >= self._drain_until
                                            or self._queue[0].due > self._drain_until):
                    return None
                if self._queue and self._queue[0].due <= now:
                    return heapq.heappop(self._queue)
                wait = self._queue[0].due - now if self._queue else None
                if self._stop.is_set():
                    wait = min(wait or 0.1, max(0.0, self._drain_until - now))
                self._cv.wait(wait)

    def _send(self) -> None:
        while (delivery := self._next()) is not None:
            if self._post(delivery):
                self.delivered += 1
                continue
            delivery.attempt += 1
            if delivery.attempt > self._retries:
                self.dropped += 1
                log.warning("giving up on webhook %s after %d attempts",
                            delivery.url, delivery.attempt)
                continue
            delay = min(MAX_BACKOFF, self._backoff * 2 ** (delivery.attempt - 1))
            with self._cv:
                delivery.due = time.monotonic() + delay
                heapq.heappush(self._queue, delivery)

    def _post(self, delivery: _Delivery) -> bool:
        request = urllib.request.Request(
            delivery.url, data=delivery.body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "occo-webhook"})
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                return bool(200 <= answer.status < 300)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.info("webhook %s failed (attempt %d): %s", delivery.url,
                     delivery.attempt + 1, exc)
            return False
