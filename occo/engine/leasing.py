"""Holding an infrastructure's lease for the length of some work.

Builds, destroys and maintenance passes all hold it, so no two of them act on
one infrastructure at once, whichever process or machine they run in.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from occo.errors import LeaseHeld
from occo.model.states import ExecutionStatus
from occo.resources import procinfo

if TYPE_CHECKING:   # annotations only: the store is passed in, not opened here
    from occo.store.store import Store

DEFAULT_TTL = 30.0


def make_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` (from :func:`make_holder`) ran on this machine and its
    process is gone, e.g. a build killed with SIGKILL: its lease need not be
    waited out. A holder elsewhere, or whose PID is alive, counts as alive."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    stat = procinfo.read_stat(pid)
    return stat is None or stat.is_zombie


def _acquire(store: Store, infra_id: str, holder: str, ttl: float) -> bool:
    if store.leases.acquire(infra_id, holder, ttl):
        return True
    current = store.leases.holder(infra_id)
    return current is not None and holder_is_dead(current[0]) and \
        store.leases.take_over(infra_id, current[0], holder, ttl)


def end_abandoned(store: Store, infra_id: str) -> None:
    """End, as failed, the started executions of ``infra_id`` whose process died.

    Whoever takes the lease does this, so a killed build or pass is not shown
    as running for ever. The instances they left are resolved by the next
    run (see :mod:`occo.engine.orphans`).
    """
    for execution in store.executions.unfinished(infra_id):
        if execution.status == ExecutionStatus.STARTED and execution.holder \
                and holder_is_dead(execution.holder):
            reason = f"its process died ({execution.holder})"
            store.executions.finish(execution.id, ExecutionStatus.FAILED, error=reason,
                                    keep_terminal=True)
            store.events.add("execution_abandoned", f"{execution.workflow} {execution.id} "
                             f"failed: {reason}", infra_id=infra_id, execution_id=execution.id)


def _keep(store: Store, infra_id: str, holder: str, ttl: float, lost: threading.Event,
          stop: threading.Event, also: tuple[threading.Event, ...]) -> None:
    """Renew every ttl/3. A store that does not answer is retried until the
    lease would really expire (measured on this process's monotonic clock from
    the last renewal the store confirmed, so a wrong wall clock does not
    matter); a renewal refused because another holder has it is lost at once."""
    expires = time.monotonic() + ttl        # acquired just before this thread started
    margin = min(1.0, ttl / 10)             # stop acting a little before anyone may take it
    wait = ttl / 3
    while not stop.wait(wait):
        attempt = time.monotonic()
        try:
            renewed: bool | None = store.leases.renew(infra_id, holder, ttl)
        except Exception:  # noqa: BLE001 - an unreachable store: retried below
            renewed = None
        if renewed:
            expires, wait = attempt + ttl, ttl / 3
            continue
        left = expires - margin - time.monotonic()
        if renewed is False or left <= 0:
            break
        wait = max(0.05, min(ttl / 3, left / 4))
    else:
        return
    lost.set()
    for event in also:
        event.set()


@contextmanager
def held_lease(store: Store, infra_id: str, holder: str, ttl: float = DEFAULT_TTL, *,
               also: tuple[threading.Event, ...] = ()) -> Iterator[threading.Event | None]:
    """Yield an Event set if the lease is lost, or None if another holds it.

    ``also``: events set together with it (a run's cancel), so losing the
    lease stops the work that relied on it.
    """
    if not _acquire(store, infra_id, holder, ttl):
        yield None
        return
    end_abandoned(store, infra_id)
    lost, stop = threading.Event(), threading.Event()
    keeper = threading.Thread(target=_keep, args=(store, infra_id, holder, ttl, lost, stop, also),
                              name=f"lease-{infra_id[:8]}", daemon=True)
    keeper.start()
    try:
        yield lost
    finally:
        stop.set()
        keeper.join()
        if not lost.is_set():
            with suppress(Exception):  # a store that is down: the lease simply expires
                store.leases.release(infra_id, holder)


@contextmanager
def exclusive(store: Store, infra_id: str, holder: str, what: str, *,
              ttl: float = DEFAULT_TTL,
              also: tuple[threading.Event, ...] = ()) -> Iterator[threading.Event]:
    """Like held_lease, but a held lease is a LeaseHeld error for the user; yields
    the lost-lease signal, which the work must heed."""
    with held_lease(store, infra_id, holder, ttl, also=also) as lost:
        if lost is None:
            current = store.leases.holder(infra_id)
            who = current[0] if current else "another process"
            raise LeaseHeld(f"cannot {what} infrastructure {infra_id}: {who} is acting on it; "
                            "try again shortly")
        yield lost


def lease_lost_message(infra_id: str) -> str:
    return (f"lost the lease on infrastructure {infra_id} (the store did not answer in "
            "time, or another process took it over); stopped without touching what it "
            "may now own")
