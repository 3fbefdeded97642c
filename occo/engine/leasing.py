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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from occo.errors import LeaseHeld, NotFound
from occo.model.states import ExecutionStatus, InfraState
from occo.model.vocabulary import Workflow
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


# Builds that die leave their infrastructure 'building': it is marked failed (as a
# build killed in-process marks it). A dead destroy's stays 'destroying', which no
# pass maintains (a failed one would be rebuilt), until a destroy finishes it.
_BUILDS = frozenset({Workflow.BUILD, Workflow.UPDATE})


def end_abandoned(store: Store, infra_id: str) -> None:
    """End, as failed, the started executions of ``infra_id`` whose process died.

    Whoever takes the lease does this, so a killed build or pass is not shown
    as running for ever, and an infrastructure a killed build left ``building``
    is marked failed, its records kept for a destroy or a resume. The
    instances they left are resolved by the next run (see
    :mod:`occo.engine.orphans`).
    """
    for execution in store.executions.unfinished(infra_id):
        if execution.status != ExecutionStatus.STARTED or not execution.holder \
                or not holder_is_dead(execution.holder):
            continue
        reason = f"its process died ({execution.holder})"
        store.executions.finish(execution.id, ExecutionStatus.FAILED, error=reason,
                                keep_terminal=True)
        store.events.add("execution_abandoned", f"{execution.workflow} {execution.id} "
                         f"failed: {reason}", infra_id=infra_id, execution_id=execution.id)
        if execution.workflow in _BUILDS and _state(store, infra_id) == InfraState.BUILDING:
            store.infras.set_state(infra_id, InfraState.FAILED)
            store.events.add("infra_failed", f"its {execution.workflow} {execution.id} died; "
                             f"records kept: run occopus-destroy -i {infra_id} to remove it, "
                             f"or occopus-executions action {execution.id} force-resume --run "
                             "to finish it", infra_id=infra_id, execution_id=execution.id)


def _state(store: Store, infra_id: str) -> InfraState | None:
    try:
        return store.infras.get(infra_id).state
    except NotFound:
        return None


def _keep(renew: Callable[[set[str]], set[str]], held: dict[str, threading.Event],
          ttl: float, stop: threading.Event, also: tuple[threading.Event, ...]) -> None:
    """Renew the ``held`` leases every ttl/3 (``renew`` answers which it renewed).

    A store that does not answer is retried until the leases would really
    expire (measured on this process's monotonic clock from the last renewal
    the store confirmed, so a wrong wall clock does not matter); a lease whose
    renewal is refused because another holder has it is lost at once: its
    event is set, and those in ``also`` with it.
    """
    expires = time.monotonic() + ttl        # acquired just before this thread started
    margin = min(1.0, ttl / 10)             # stop acting a little before anyone may take it
    wait = ttl / 3
    kept = set(held)
    while kept and not stop.wait(wait):
        attempt = time.monotonic()
        try:
            renewed: set[str] | None = renew(kept)
        except Exception:  # noqa: BLE001 - an unreachable store: retried below
            renewed = None
        if renewed is not None:
            _lose(held, kept - renewed, also)
            kept &= renewed
            expires, wait = attempt + ttl, ttl / 3
            continue
        left = expires - margin - time.monotonic()
        if left <= 0:
            _lose(held, kept, also)
            return
        wait = max(0.05, min(ttl / 3, left / 4))


def _lose(held: dict[str, threading.Event], lost: set[str],
          also: tuple[threading.Event, ...]) -> None:
    for infra_id in lost:
        held[infra_id].set()
    if lost:
        for event in also:
            event.set()


@contextmanager
def _kept(renew: Callable[[set[str]], set[str]], held: dict[str, threading.Event], ttl: float,
          also: tuple[threading.Event, ...], name: str) -> Iterator[None]:
    """A thread renewing ``held`` while the block runs."""
    stop = threading.Event()
    keeper = threading.Thread(target=_keep, args=(renew, held, ttl, stop, also), name=name,
                              daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()


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
    lost = threading.Event()

    def renew(_kept: set[str]) -> set[str]:
        return {infra_id} if store.leases.renew(infra_id, holder, ttl) else set()

    try:
        with _kept(renew, {infra_id: lost}, ttl, also, f"lease-{infra_id[:8]}"):
            yield lost
    finally:
        if not lost.is_set():
            with suppress(Exception):  # a store that is down: the lease simply expires
                store.leases.release(infra_id, holder)


@contextmanager
def held_leases(store: Store, infra_ids: list[str], holder: str,
                ttl: float = DEFAULT_TTL) -> Iterator[dict[str, threading.Event]]:
    """Take the leases of several infrastructures together, in one transaction.

    Yields ``{infra_id: lost}`` for those taken: the others are held by another
    (alive or dead: taking a dead holder's lease over, and ending what it left,
    is :func:`held_lease`'s work). One thread renews them all; each is released
    at the end.
    """
    held = {i: threading.Event() for i in store.leases.acquire_many(infra_ids, holder, ttl)}
    if not held:
        yield held
        return

    def renew(kept: set[str]) -> set[str]:
        return store.leases.renew_many(kept, holder, ttl)

    try:
        with _kept(renew, held, ttl, (), f"leases-{len(held)}"):
            yield held
    finally:
        with suppress(Exception):  # as above
            store.leases.release_many([i for i, lost in held.items() if not lost.is_set()],
                                      holder)


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
