"""Holding an infrastructure's lease for the length of some work.

Builds, destroys and maintenance passes all hold it, so no two of them act on
one infrastructure at once, whichever process or machine they run in.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from occo.errors import Conflict
from occo.model.states import ExecutionStatus
from occo.resources import procinfo
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


@contextmanager
def held_lease(store: Store, infra_id: str, holder: str,
               ttl: float = DEFAULT_TTL) -> Iterator[threading.Event | None]:
    """Yield an Event set if the lease is lost, or None if another holds it."""
    if not _acquire(store, infra_id, holder, ttl):
        yield None
        return
    end_abandoned(store, infra_id)
    lost, stop = threading.Event(), threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                renewed = store.leases.renew(infra_id, holder, ttl)
            except Exception:  # noqa: BLE001 - a store we cannot reach is a lost lease
                renewed = False
            if not renewed:
                lost.set()
                return

    keeper = threading.Thread(target=renew, name=f"lease-{infra_id[:8]}", daemon=True)
    keeper.start()
    try:
        yield lost
    finally:
        stop.set()
        keeper.join()
        store.leases.release(infra_id, holder)


@contextmanager
def exclusive(store: Store, infra_id: str, holder: str, what: str) -> Iterator[None]:
    """Like held_lease, but a held lease is a Conflict error for the user."""
    with held_lease(store, infra_id, holder) as lost:
        if lost is None:
            current = store.leases.holder(infra_id)
            who = current[0] if current else "another process"
            raise Conflict(f"cannot {what} infrastructure {infra_id}: {who} is acting on it; "
                           "try again shortly")
        yield
