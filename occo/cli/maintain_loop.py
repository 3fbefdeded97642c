"""Running maintenance from the console: one pass, or passes every T seconds.

In cyclic mode the process also fires cron triggers (every process that does
claims each firing in the store, so each runs once). SIGINT/SIGTERM stop the
schedule; the pass in flight, and executions triggers started here, finish
first.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from occo.cli.common import err

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.engine.maintainer import PassResult

def describe(result: PassResult) -> str | None:
    if result.skipped:
        return f"{result.infra_id}: skipped ({result.skipped})"
    if not result.acted:
        return None
    parts = []
    if result.applied_requests:
        parts.append(f"{result.applied_requests} request(s) applied")
    if result.failed:
        parts.append(f"{len(result.failed)} failed")
    if result.created:
        parts.append(f"{result.created} created")
    if result.dropped:
        parts.append(f"{result.dropped} dropped")
    if result.brake:
        parts.append("brake engaged")
    return f"{result.infra_id}: " + ", ".join(parts)


def run_maintenance(occo: Occo, *, infra_id: str | None, cyclic: bool,
                    interval: float | None, parallelize: bool, force: bool = False,
                    triggers: bool = True) -> None:
    ids = [infra_id] if infra_id else None
    if infra_id:
        occo.infrastructure(infra_id)  # unknown id: one clear error, exit 2

    def one_pass() -> None:
        for result in occo.maintain(ids, parallelize=parallelize, force=force):
            line = describe(result)
            if line:
                err(line)

    if not cyclic:
        one_pass()
        return

    from occo.periodic import Periodic

    every = interval or occo.config.maintain_interval

    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    periodic = Periodic()
    periodic.every(every, one_pass, name="maintain")
    runner = occo.trigger_runner() if triggers else None
    if runner is not None:
        from occo.engine.triggers import TICK

        periodic.every(TICK, runner.look, name="cron-triggers")
    err(f"maintaining every {every:g} s{' and firing cron triggers' if runner else ''}; "
        "Ctrl+C or SIGTERM to stop")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        err("stopping: finishing the pass in flight")
        periodic.stop(wait=True)
        if runner is not None:
            runner.stop()
