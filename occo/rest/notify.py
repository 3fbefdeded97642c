"""Webhooks: POST a JSON event to an infrastructure's ``notify_url`` on each state change.

The store logs every infrastructure state change as an ``infra_state``
event in the same transaction as the change, whichever process made it
(a build thread here, ``occopus-destroy`` elsewhere). A watcher thread tails
those events; a small pool of sender threads delivers them, retrying with
exponential backoff. Neither runs inside a build or a maintenance pass, so
a slow or dead receiver never holds one up; and a receiver is served by one
sender at a time, in order, so a slow one delays only its own deliveries.
Delivery is at least once per change while the service runs; changes made
while it is down are not replayed. Deliveries are signed, and go only to
allowed addresses (see occo.rest.webhooks).

The event sent::

    {"event": "state_changed", "infraid": "...", "state": "ready",
     "previous": "building", "time": 1700000000.0, "sequence": 42}
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from occo.errors import UserInputError
from occo.rest.webhooks import TargetPolicy, post

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.store.records import EventRecord

log = logging.getLogger("occo.rest")

MAX_BACKOFF = 30.0
MAX_PARKED = 10_000   # changes kept for one receiver that is not answering
TOLD_FOR = 60.0       # seconds a webhook set through the API waits for the store to show it
Webhook = tuple[str, "str | None"]          # (url, secret)


@dataclass(order=True)
class _Delivery:
    due: float
    order: int
    url: str = field(compare=False)
    secret: str | None = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(default=0, compare=False)

    @property
    def target(self) -> str:
        """Deliveries to one receiver (scheme, host and port) go one at a time."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


class Notifier:
    """Watches state changes and delivers them to their webhooks."""

    def __init__(self, occo: Occo, *, poll: float = 0.5, retries: int = 5,
                 timeout: float = 5.0, backoff: float = 0.5, senders: int = 4,
                 policy: TargetPolicy | None = None) -> None:
        self._occo = occo
        self._poll = poll
        self._retries = retries
        self._timeout = timeout
        self._backoff = backoff
        self._senders = senders
        self.policy = policy or TargetPolicy()
        self._queue: list[_Delivery] = []        # at most one delivery per receiver
        self._parked: dict[str, deque[_Delivery]] = defaultdict(deque)   # the rest, in order
        self._busy: set[str] = set()               # receivers with one queued or in flight
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._drain_until = 0.0
        self._last_id = 0
        self._seen: set[int] = set()
        self._hooks: dict[str, Webhook] = {}
        self._told: dict[str, tuple[Webhook | None, float]] = {}
        # infra -> (last change id when its webhook was set, when): older changes the
        # watcher had not read yet are not the new webhook's
        self._since: dict[str, tuple[int, float]] = {}
        self._threads: list[threading.Thread] = []
        self.delivered = 0
        self.dropped = 0

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._last_id = self._occo.last_event_id()
        self._hooks = self._occo.webhooks()
        workers = [(self._watch, "occo-notify-watch")] + [
            (self._send, f"occo-notify-send-{i}") for i in range(self._senders)]
        for target, name in workers:
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

    def remember(self, infra_id: str, url: str | None, secret: str | None = None) -> None:
        """A webhook set through the API applies from the next change on, even if the
        watcher read the store just before it was written."""
        hook = None if url is None else (url, secret)
        since = self._occo.last_event_id()
        with self._cv:
            self._told[infra_id] = (hook, time.monotonic())
            self._since[infra_id] = (since, time.monotonic())
            if hook is None:
                self._hooks.pop(infra_id, None)
            else:
                self._hooks[infra_id] = hook

    def _with_told(self, current: dict[str, Webhook]) -> dict[str, Webhook]:
        """``current`` (read from the store) with what :meth:`remember` was told since;
        an entry is kept until the store shows it, or for ``TOLD_FOR`` seconds."""
        now = time.monotonic()
        for infra_id, (hook, when) in list(self._told.items()):
            if current.get(infra_id) == hook or now - when > TOLD_FOR:
                del self._told[infra_id]
            elif hook is None:
                current.pop(infra_id, None)
            else:
                current[infra_id] = hook
        return current

    # -- watching ---------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self._check()
            except Exception:
                log.exception("could not read infrastructure state changes")

    def _check(self) -> None:
        # Webhooks before changes: no change read here is newer than the webhooks, so
        # the URL of a record destroyed since is in this list or in the previous one.
        current = self._occo.webhooks()
        # Ids may commit out of order on PostgreSQL: look back a little, skip seen ones.
        changes = self._occo.state_changes(max(0, self._last_id - 50))
        with self._cv:
            known, self._hooks = self._hooks, self._with_told(current)
            current = self._hooks
            self._forget_old_since()
            for event in changes:
                if event.id in self._seen:
                    continue
                self._seen.add(event.id)
                self._last_id = max(self._last_id, event.id)
                since = self._since.get(event.infra_id or "")
                if since is not None and event.id <= since[0]:
                    continue
                # a record deleted since (destroyed) took its URL along: use the one we knew
                hook = current.get(event.infra_id or "") or known.get(event.infra_id or "")
                if hook is not None:
                    self._enqueue(hook, event)
            if len(self._seen) > 10_000:
                self._seen = {i for i in self._seen if i > self._last_id - 1_000}

    def _forget_old_since(self) -> None:
        now = time.monotonic()
        for infra_id, (_, when) in list(self._since.items()):
            if now - when > TOLD_FOR:
                del self._since[infra_id]

    def _enqueue(self, hook: Webhook, event: EventRecord) -> None:
        data = event.data or {}
        body = json.dumps({"event": "state_changed", "infraid": event.infra_id,
                           "state": data.get("to"), "previous": data.get("from"),
                           "time": event.time, "sequence": event.id}).encode()
        url, secret = hook
        self._push(_Delivery(time.monotonic(), next(self._order), url, secret, body))

    def _push(self, delivery: _Delivery) -> None:
        """Queue a delivery (the lock is held). A receiver has at most one delivery
        queued or in flight; the rest wait in order behind it."""
        if delivery.target in self._busy:
            parked = self._parked[delivery.target]
            if len(parked) >= MAX_PARKED:          # a receiver gone for good: keep the newest
                parked.popleft()
                self.dropped += 1
                log.warning("webhook %s is %d changes behind; the oldest is dropped",
                            delivery.url, MAX_PARKED)
            parked.append(delivery)
        else:
            self._busy.add(delivery.target)
            heapq.heappush(self._queue, delivery)
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

    def _done(self, delivery: _Delivery, retry: bool) -> None:
        """A delivery ended: its retry, or else the receiver's next parked delivery,
        takes its place in the queue, so nothing newer overtakes an older change."""
        with self._cv:
            parked = self._parked.get(delivery.target)
            if retry:
                delay = min(MAX_BACKOFF, self._backoff * 2 ** (delivery.attempt - 1))
                delivery.due = time.monotonic() + delay
                heapq.heappush(self._queue, delivery)
            elif parked:
                heapq.heappush(self._queue, parked.popleft())
            else:
                self._parked.pop(delivery.target, None)
                self._busy.discard(delivery.target)
            self._cv.notify_all()

    def _send(self) -> None:
        while (delivery := self._next()) is not None:
            if self._post(delivery):
                self.delivered += 1
                self._done(delivery, retry=False)
                continue
            delivery.attempt += 1
            if delivery.attempt > self._retries:
                self.dropped += 1
                log.warning("giving up on webhook %s after %d attempts",
                            delivery.url, delivery.attempt)
            self._done(delivery, retry=delivery.attempt <= self._retries)

    def _post(self, delivery: _Delivery) -> bool:
        try:
            status = post(self.policy, delivery.url, delivery.body, delivery.secret,
                          self._timeout)
        except UserInputError as exc:         # the target is not allowed (any more)
            log.warning("webhook %s refused: %s", delivery.url, exc)
            delivery.attempt = self._retries
            return False
        except (OSError, ValueError, http.client.HTTPException) as exc:
            log.info("webhook %s failed (attempt %d): %s", delivery.url,
                     delivery.attempt + 1, exc)
            return False
        return 200 <= status < 300
