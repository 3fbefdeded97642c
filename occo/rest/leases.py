"""Requests that act on an infrastructure at once wait briefly for its lease.

The service's own maintenance passes and trigger executions hold an
infrastructure's lease for moments at a time; a request arriving in one of
those moments waits up to :data:`LEASE_RETRY` seconds for it before the
LeaseHeld error (409) is answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from occo.errors import LeaseHeld

T = TypeVar("T")

LEASE_RETRY = 2.0      # seconds a request waits for an infrastructure's lease
_POLL = 0.1


def when_free(act: Callable[[], T], wait: float = LEASE_RETRY) -> T:
    """``act()``, tried again while it raises LeaseHeld, for at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return act()
        except LeaseHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_POLL)
