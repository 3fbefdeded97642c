"""Executions and execution groups the service runs in its own threads.

A resumed execution runs through ``Occo.run_execution``; an execution group
through ``Occo.run_execution_group`` (its dispatcher takes the group's lease,
so two services never dispatch one group). Both are tracked here so that a
shutdown treats them like background builds: dispatchers start nothing new,
the executions in flight get the grace period to end, and those still running
after it are cancelled (a build then rolls back). A group stopped that way
keeps its queued executions; the next service start dispatches it again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from occo.errors import OccoError
from occo.model.states import ExecutionStatus

if TYPE_CHECKING:
    from occo.api import Occo

log = logging.getLogger("occo.rest")


@dataclass
class _Dispatch:
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)
    again: bool = False        # asked to dispatch while this thread was busy
    done: bool = False         # decided to end: a new request needs a new thread


class BackgroundRuns:
    """Starts and tracks resumed executions and group dispatchers."""

    def __init__(self, occo: Occo) -> None:
        self._occo = occo
        self._lock = threading.Condition()
        self._dispatchers: dict[str, _Dispatch] = {}
        self._executions: dict[str, threading.Thread] = {}
        self._stopping = False
        self._hurry = threading.Event()
        self.base_url: str | None = None
        """Prefix of the links in group reports; the service sets it once it listens."""

    # -- starting ---------------------------------------------------------------------
    def run_execution(self, execution_id: str) -> None:
        """Run one queued execution to its end in a thread (a group member: its group)."""
        record = self._occo.execution(execution_id)
        if record.group_id:
            self.dispatch_group(record.group_id)
            return
        with self._lock:
            if self._stopping or execution_id in self._executions:
                return
            thread = threading.Thread(target=self._run_one, args=(execution_id,),
                                      name=f"occo-exec-{execution_id[:8]}")
            self._executions[execution_id] = thread
            thread.start()

    def dispatch_group(self, group_id: str, base_url: str | None = None) -> None:
        """Dispatch a group's queued executions, unless this service already does."""
        with self._lock:
            if self._stopping:
                return
            current = self._dispatchers.get(group_id)
            if current is not None and not current.done:
                current.again = True
                return
            thread = threading.Thread(target=self._dispatch, args=(group_id, base_url),
                                      name=f"occo-group-{group_id[:8]}")
            self._dispatchers[group_id] = _Dispatch(thread)
            thread.start()

    def dispatch_unfinished(self) -> list[str]:
        """Dispatch every group with a queued or started execution (e.g. after a restart)."""
        ids = self._occo.unfinished_execution_groups()
        for group_id in ids:
            log.info("dispatching execution group %s again", group_id)
            self.dispatch_group(group_id)
        return ids

    # -- the threads ------------------------------------------------------------------
    def _run_one(self, execution_id: str) -> None:
        try:
            record = self._occo.run_execution(execution_id)
            log.info("execution %s: %s", execution_id, record.status)
        except Exception:
            log.exception("execution %s could not be run", execution_id)
        finally:
            with self._lock:
                self._executions.pop(execution_id, None)
                self._lock.notify_all()

    def _dispatch(self, group_id: str, base_url: str | None) -> None:
        with self._lock:
            current = self._dispatchers[group_id]
        try:
            while True:
                status = self._occo.run_execution_group(
                    group_id, current.stop, base_url=base_url or self.base_url)
                log.info("execution group %s: %s", group_id, status)
                if not self._asked_again(group_id, current):
                    return
        except Exception:
            log.exception("execution group %s could not be dispatched", group_id)
        finally:
            with self._lock:
                current.done = True
                self._lock.notify_all()

    def _asked_again(self, group_id: str, current: _Dispatch) -> bool:
        """Whether a resume arrived while the dispatcher was ending and left work queued.

        The flag is read under the lock that ``dispatch_group`` sets it under, and
        a resume queues its executions before it sets the flag, so none is lost.
        """
        while True:
            with self._lock:
                asked, current.again = current.again, False
                if not asked or current.stop.is_set():
                    current.done = True
                    return False
            if any(e.status == ExecutionStatus.QUEUED
                   for e in self._occo.group_executions(group_id)):
                return True

    # -- stopping ---------------------------------------------------------------------
    def _alive(self) -> list[threading.Thread]:
        return [t for t in [*self._executions.values(),
                            *(d.thread for d in self._dispatchers.values())] if t.is_alive()]

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._alive())

    def stop_dispatching(self) -> None:
        """Start nothing new: dispatchers end once their executions in flight have."""
        with self._lock:
            self._stopping = True
            for dispatch in self._dispatchers.values():
                dispatch.stop.set()

    def wait(self, timeout: float | None) -> bool:
        """True once no thread of this service runs; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._alive():
                left = None if deadline is None else deadline - time.monotonic()
                if (left is not None and left <= 0) or \
                        (self._hurry.is_set() and timeout is not None):
                    return False
                self._lock.wait(0.1 if left is None else min(left, 0.1))
        return True

    def hurry(self) -> None:
        """Cut the grace period short (safe in a signal handler: it only sets an event)."""
        self._hurry.set()

    def cancel(self) -> None:
        """Stop dispatching and cancel every execution this service runs (builds roll back)."""
        self.stop_dispatching()
        with self._lock:
            ids = list(self._executions)
            groups = [g for g, d in self._dispatchers.items() if d.thread.is_alive()]
        for group_id in groups:
            ids += [e.id for e in self._occo.group_executions(group_id)
                    if e.status == ExecutionStatus.STARTED]
        for execution_id in ids:
            try:
                self._occo.execution_action(execution_id, "cancel")
            except OccoError as exc:
                log.warning("could not cancel execution %s: %s", execution_id, exc)

    def shutdown(self, grace: float) -> None:
        """Stop dispatching; let executions in flight end within ``grace``, then cancel them."""
        self.stop_dispatching()
        if self.wait(grace):
            return
        log.warning("%d execution run(s) still going after %gs: cancelling them",
                    self.running, grace)
        self.cancel()
        self.wait(None)
