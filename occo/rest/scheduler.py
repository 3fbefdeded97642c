"""Maintenance of the infrastructures attached to the service, and cron triggers.

One APScheduler 3.x interval job runs a pass over every attached
infrastructure (the attachment is a column of the store, so a restarted
service takes them up again). Passes take the same leases as
``occopus-maintain``, so a CLI maintainer and the service never act on one
infrastructure at once. Cron triggers fire here too, claimed in the store
like in ``occopus-maintain --cyclic``. Stopping waits for the pass in flight
and for the executions triggers started here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from occo.periodic import Periodic

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.engine.triggers import TriggerRunner

log = logging.getLogger("occo.rest")


class MaintenanceScheduler:
    """Runs ``Occo.maintain(attached ids)`` every ``interval`` seconds."""

    def __init__(self, occo: Occo, *, interval: float, parallelize: bool) -> None:
        self._occo = occo
        self._interval = interval
        self._parallelize = parallelize
        self._periodic = Periodic()
        self._triggers: TriggerRunner | None = None

    def start(self) -> None:
        from occo.engine.triggers import TICK

        self._periodic.every(self._interval, self.run_pass, name="maintain-attached")
        self._triggers = self._occo.trigger_runner()
        self._periodic.every(TICK, self._triggers.look, name="cron-triggers")

    def run_pass(self) -> None:
        """One pass over the attached infrastructures; errors are logged, never raised."""
        try:
            ids = self._occo.attached_infrastructures()
            if ids:
                for result in self._occo.maintain(ids, parallelize=self._parallelize):
                    if result.acted:
                        log.info("maintained %s: %d created, %d dropped, %d request(s)",
                                 result.infra_id, result.created, result.dropped,
                                 result.applied_requests)
        except Exception:
            log.exception("maintenance pass failed")

    def stop(self) -> None:
        """No new pass starts; the pass in flight is finished first."""
        self._periodic.stop(wait=True)
        if self._triggers is not None:
            self._triggers.stop()
            self._triggers = None
