"""Jobs that run every T seconds in a long-lived process (maintain -c, the REST service).

One APScheduler 3.x background scheduler per process, configured for work
that may take longer than its interval: a tick that finds the previous run
still going is skipped quietly (APScheduler's "maximum number of running
instances reached" WARNING becomes a debug line), ticks missed while the
process was busy are folded into one run (``coalesce``), and a late tick still
runs however late it is (``misfire_grace_time=None``), since maintenance that
is late is still wanted.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

JOB_DEFAULTS = {"coalesce": True, "misfire_grace_time": None, "max_instances": 1}
SKIPPED_TICK = "maximum number of running instances reached"


class _QuietSkips(logging.LoggerAdapter[logging.Logger]):
    """APScheduler's own logger, except that a tick skipped because the previous run
    is still going is a debug line: expected for work that may outlast its interval."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level == logging.WARNING and SKIPPED_TICK in str(msg):
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


class Periodic:
    """Named jobs on one background scheduler; ``stop()`` waits for runs in flight."""

    def __init__(self) -> None:
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()

    def _started(self) -> BackgroundScheduler:
        with self._lock:
            if self._scheduler is None:
                from apscheduler.schedulers.background import BackgroundScheduler

                self._scheduler = BackgroundScheduler(
                    timezone=dt.UTC, job_defaults=dict(JOB_DEFAULTS),
                    logger=_QuietSkips(logging.getLogger("apscheduler.scheduler")))
                self._scheduler.start()
            return self._scheduler

    def every(self, seconds: float, run: Callable[[], Any], *, name: str,
              start_now: bool = True) -> None:
        """Run ``run`` every ``seconds``; never two runs of it at once."""
        when = {"next_run_time": dt.datetime.now(dt.UTC)} if start_now else {}
        self._started().add_job(run, "interval", seconds=seconds, id=name, name=name,
                                replace_existing=True, **when)

    def add_job(self, *args: Any, **kwargs: Any) -> Any:
        """Any other APScheduler job (a cron trigger...), on the same scheduler."""
        return self._started().add_job(*args, **kwargs)

    def stop(self, wait: bool = True) -> None:
        """No new run starts; with ``wait``, runs in flight are finished first."""
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=wait)
