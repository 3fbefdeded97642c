"""Carry cancel requests from the store to a run in this process.

A cancel may come from any process (the REST service, ``occopus-executions``),
so a run watches its execution's ``requested_action`` while it works.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from occo.store.store import Store

WATCH_EVERY = 0.2
STOPPING = ("cancel", "force-cancel", "kill")


@contextmanager
def watch_requests(store: Store, execution_id: str, cancel: threading.Event,
                   kill: threading.Event) -> Iterator[None]:
    """Set ``cancel`` (and ``kill`` for a kill) when one is requested, until the block ends."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_EVERY):
            requested = store.executions.get(execution_id).requested_action
            if requested in STOPPING:
                if requested == "kill":
                    kill.set()
                cancel.set()

    watcher = threading.Thread(target=watch, daemon=True, name=f"watch-{execution_id[:8]}")
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
