"""Builds the service started and has not seen finish, for a clean shutdown.

A POSTed description is answered as soon as its infrastructure is recorded;
the build goes on in a thread. At shutdown those threads get a grace period
to finish; after it they are cancelled, which rolls back what they created
(the same path as Ctrl+C on ``occopus-build``), and waited for.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.model.description import InfraDescription

log = logging.getLogger("occo.rest")


class BackgroundBuilds:
    """Starts builds through ``Occo.start_build`` and counts those in flight."""

    def __init__(self, occo: Occo, *, parallelize: bool) -> None:
        self._occo = occo
        self._parallelize = parallelize
        self._cancel = threading.Event()
        self._lock = threading.Condition()
        self._running = 0

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def start(self, desc: InfraDescription) -> str:
        """Record the infrastructure, attach it to this service, build in the background."""
        with self._lock:
            self._running += 1

        def attach(infra_id: str) -> None:
            self._occo.attach(infra_id)

        def done(infra_id: str, error: BaseException | None) -> None:
            if error is not None:
                log.warning("build of %s failed: %s", infra_id, error)
            self._finished()

        try:
            return self._occo.start_build(desc, parallelize=self._parallelize,
                                          cancel=self._cancel, on_infra_id=attach,
                                          on_done=done)
        except BaseException:
            self._finished()
            raise

    def _finished(self) -> None:
        with self._lock:
            self._running -= 1
            self._lock.notify_all()

    def wait(self, timeout: float | None) -> bool:
        """True once no build is in flight; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def cancel(self) -> None:
        """Ask every build in flight to stop and roll back."""
        self._cancel.set()

    def shutdown(self, grace: float) -> None:
        """Let builds finish within ``grace`` seconds, then roll the rest back."""
        if self.wait(grace):
            return
        log.warning("%d build(s) still running after %gs: rolling them back",
                    self.running, grace)
        self.cancel()
        self.wait(None)

