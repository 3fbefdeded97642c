"""Maintenance of the infrastructures attached to the service.

One APScheduler 3.x interval job runs a pass over every attached
infrastructure (the attachment is a column of the store, so a restarted
service takes them up again). Passes take the same leases as
``occopus-maintain``, so a CLI maintainer and the service never act on one
infrastructure at once. Stopping waits for the pass in flight.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from occo.periodic import Periodic

if TYPE_CHECKING:
    from occo.api import Occo

log = logging.getLogger("occo.rest")


class MaintenanceScheduler:
    """Runs ``Occo.maintain(attached ids)`` every ``interval`` seconds."""

    def __init__(self, occo: Occo, *, interval: float, parallelize: bool) -> None:
        self._occo = occo
        self._interval = interval
        self._parallelize = parallelize
        self._periodic = Periodic()

    def start(self) -> None:
        self._periodic.every(self._interval, self.run_pass, name="maintain-attached")

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
