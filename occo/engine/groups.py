"""Execution groups: one workflow over every infrastructure of a group.

The pure parts (aggregate status, parameter merging, the group report) are
separate from :class:`GroupDispatcher`, which starts queued executions while
fewer than ``concurrency`` are started — re-reading the concurrency every
tick, so it can be changed live (0 pauses the group).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from occo.engine.executions import ExecutionRunner
from occo.engine.leasing import held_lease, make_holder
from occo.engine.report import iso_utc
from occo.model.states import ExecutionStatus
from occo.model.vocabulary import Workflow
from occo.store.records import ExecutionGroupRecord, ExecutionRecord
from occo.store.store import Store

WORKFLOWS = tuple(str(w) for w in Workflow)
TICK = 0.05


def aggregate_status(statuses: list[ExecutionStatus]) -> str:
    """The group's status, as seed 000 defines it.

    pending if all are pending (queued counts as pending); started while any
    is not yet ended; terminated if all ended and none failed; failed if all
    ended and at least one failed.
    """
    waiting = (ExecutionStatus.PENDING, ExecutionStatus.QUEUED)
    if not statuses or all(s in waiting for s in statuses):
        return str(ExecutionStatus.PENDING)
    if any(not s.is_terminal for s in statuses):
        return str(ExecutionStatus.STARTED)
    if any(s == ExecutionStatus.FAILED for s in statuses):
        return str(ExecutionStatus.FAILED)
    return str(ExecutionStatus.TERMINATED)


def merge_parameters(default: dict[str, Any], overrides: dict[str, dict[str, Any]],
                     infra_id: str) -> dict[str, Any]:
    """An execution's parameters: the group defaults, overridden per infrastructure."""
    return {**default, **overrides.get(infra_id, {})}


def group_report(group: ExecutionGroupRecord, executions: list[ExecutionRecord],
                 base_url: str | None, *, failure: bool = False) -> dict[str, Any]:
    """Every member with status (pending and running ones too), timings, error, links."""
    def link(path: str) -> str:
        return f"{base_url}{path}" if base_url else f"occo:{path}"

    members = []
    for e in executions:
        members.append({
            "execution_id": e.id, "infra_id": e.infra_id, "status": str(e.status),
            "attempt": e.attempt, "created_at": iso_utc(e.created_at),
            "started_at": iso_utc(e.started_at), "ended_at": iso_utc(e.ended_at),
            "duration": round(e.ended_at - e.started_at, 4)
            if e.ended_at and e.started_at else None,
            "error": e.error,
            "links": {"execution": link(f"/executions/{e.id}"),
                      "infrastructure": link(f"/infrastructures/{e.infra_id}")},
            "report": e.report,
        })
    return {
        "execution_group_id": group.id, "workflow": group.workflow,
        "infra_group_id": group.infra_group_id, "concurrency": group.concurrency,
        "status": aggregate_status([e.status for e in executions]),
        "kind": "first_failure" if failure else "final",
        "written_at": iso_utc(time.time()),
        "counts": {s: sum(1 for e in executions if e.status == s)
                   for s in sorted({str(e.status) for e in executions})},
        "executions": members,
    }


class GroupDispatcher:
    """Runs the queued executions of one group, at most ``concurrency`` at once."""

    def __init__(self, store: Store, runner: ExecutionRunner, *,
                 publish: Callable[[str, dict[str, Any]], None] | None = None,
                 base_url: str | None = None) -> None:
        self.store = store
        self.runner = runner
        self.publish = publish or (lambda _e, _r: None)
        self.base_url = base_url

    def run(self, group_id: str, stop: threading.Event | None = None) -> str:
        """Dispatch until every execution has ended (or ``stop``); the final status.

        Holds the group's lease, so two services never dispatch one group.
        """
        stop = stop or threading.Event()
        with held_lease(self.store, f"group:{group_id}", make_holder()) as lost:
            if lost is None:
                return aggregate_status([e.status for e in
                                         self.store.executions.for_group(group_id)])
            threads: list[threading.Thread] = []
            while not stop.is_set() and not lost.is_set():
                group = self.store.execution_groups.get(group_id)
                executions = self.store.executions.for_group(group_id)
                self._report_first_failure(group, executions)
                if all(e.status.is_terminal for e in executions):
                    break
                started = sum(1 for e in executions if e.status == ExecutionStatus.STARTED)
                for e in executions:
                    if started >= group.concurrency:
                        break
                    if e.status == ExecutionStatus.QUEUED and self.store.executions.move(
                            e.id, (ExecutionStatus.QUEUED,), ExecutionStatus.STARTED):
                        started += 1
                        thread = threading.Thread(target=self.runner.run_started, args=(e.id,),
                                                  name=f"exec-{e.id[:8]}", daemon=True)
                        thread.start()
                        threads.append(thread)
                time.sleep(TICK)
            for thread in threads:
                thread.join()
            group = self.store.execution_groups.get(group_id)
            executions = self.store.executions.for_group(group_id)
            if not all(e.status.is_terminal for e in executions):
                # stopped (or lease lost) with work left: the final report waits for the end
                return aggregate_status([e.status for e in executions])
            report = group_report(group, executions, self.base_url)
            self.store.execution_groups.update(group_id, report=report)
            self.publish("execution_group_report", report)
            return str(report["status"])

    def _report_first_failure(self, group: ExecutionGroupRecord,
                              executions: list[ExecutionRecord]) -> None:
        if group.failure_report is None and any(e.status == ExecutionStatus.FAILED
                                                for e in executions):
            report = group_report(group, executions, self.base_url, failure=True)
            self.store.execution_groups.update(group.id, failure_report=report)
            self.publish("execution_group_first_failure", report)
