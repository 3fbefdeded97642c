"""One execution in progress, and the one place that records what it does.

Builds, updates, destroys and maintenance passes all run through a
:class:`Run`: it holds what every step needs (the store, the plugins, the
runtime, the limits, cancel and progress), and its methods write what the
crash-safety and the audit trail depend on, in the same order for every
workflow: the execution row, an intent before every creation, the tasks,
one event per instance created, failed or dropped, the report, the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from occo.engine.builder import BuildOutcome, CreateExecutor
from occo.engine.consoles import gather_consoles
from occo.engine.dropper import DropExecutor, DropOutcome
from occo.engine.report import InfraSnapshot, RunFacts, execution_report
from occo.engine.runtime import InfraRuntime
from occo.engine.tasks import Task, TaskAction, TaskStatus
from occo.model.states import ExecutionStatus, InstanceState
from occo.model.vocabulary import Workflow
from occo.registry import PluginRegistry
from occo.resources.base import Address
from occo.store.records import InstanceRecord
from occo.store.store import Store

Publish = Callable[[str, dict[str, Any]], None]
Progress = Callable[[Task], None]


def _no_publish(_event: str, _report: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Limits:
    concurrency: int = 1
    create_timeout: float = 600.0
    destroy_timeout: float = 300.0


def address_of(inst: InstanceRecord) -> Address:
    """Where an instance answers, as its record keeps it."""
    ports = {int(k): int(v) for k, v in (inst.resource_data.get("ports") or {}).items()}
    return Address(inst.address, inst.private_address, ports)


def ready_addresses(instances: Iterable[InstanceRecord]) -> dict[str, list[Address]]:
    """Addresses of the ready instances, per node (what templates see of them)."""
    out: dict[str, list[Address]] = {}
    for inst in instances:
        if inst.state == InstanceState.READY:
            out.setdefault(inst.node_name, []).append(address_of(inst))
    return out


@dataclass
class Run:
    """One execution over one infrastructure, from its start to its end."""

    store: Store
    registry: PluginRegistry
    infra_id: str
    execution_id: str
    workflow: Workflow
    limits: Limits = Limits()
    runtime: InfraRuntime | None = None
    dependents: Callable[[str], list[str]] | None = None   # default: the runtime's
    base_url: str | None = None
    publish: Publish = _no_publish
    progress: Progress | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)   # stops drops too
    started: float = field(default_factory=time.time)
    tasks: list[Task] = field(default_factory=list)

    # -- start ------------------------------------------------------------------------
    @classmethod
    def start(cls, store: Store, registry: PluginRegistry, infra_id: str,
              workflow: Workflow, *, holder: str, execution_id: str | None = None,
              parameters: Mapping[str, Any] | None = None, creator: str | None = None,
              **context: Any) -> Run:
        """A new STARTED execution, or the given one (already started by a runner),
        claimed by ``holder`` (the lease holder that runs it)."""
        if execution_id is None:
            execution_id = str(uuid.uuid4())
            store.executions.create(execution_id, infra_id, workflow, dict(parameters or {}),
                                    creator, holder=holder)
        else:
            store.executions.claim(execution_id, holder)
        store.events.add("execution_started", f"{workflow} started", infra_id=infra_id,
                         execution_id=execution_id)
        return cls(store, registry, infra_id, execution_id, workflow, **context)

    # -- work -------------------------------------------------------------------------
    def record_intents(self, creates: Mapping[str, int]) -> list[Task]:
        """Write-ahead: a PENDING instance per creation, before any handler call."""
        assert self.runtime is not None
        rows, tasks = [], []
        for name, count in creates.items():
            node = self.runtime.nodes[name]
            for _ in range(count):
                instance_id = str(uuid.uuid4())
                rows.append({"id": instance_id, "infra_id": self.infra_id, "node_name": name,
                             "resource_type": node.resource_type,
                             "resource_config": node.resource,
                             "execution_id": self.execution_id})
                tasks.append(Task(instance_id, name))
        if rows:
            self.store.instances.add_intents(rows)
        self.tasks += tasks
        self._announce(tasks)
        return tasks

    def _announce(self, tasks: list[Task]) -> None:
        """Tell progress what is planned before any of it starts (done/total)."""
        if self.progress is not None:
            for task in tasks:
                self.progress(task)

    def create(self, tasks: list[Task]) -> BuildOutcome:
        """Create the recorded intents, in dependency order."""
        assert self.runtime is not None
        outcome = CreateExecutor(
            self.store, self.registry, self.runtime, execution_id=self.execution_id,
            concurrency=self.limits.concurrency, create_timeout=self.limits.create_timeout,
            cancel=self.cancel, progress=self.progress,
        ).run(tasks, ready_addresses(self.store.instances.for_infra(self.infra_id)))
        self._instance_events(outcome.tasks)
        return outcome

    def drop(self, instances: list[InstanceRecord]) -> DropOutcome:
        """Drop instances in reverse dependency order; their tasks join the run's."""
        dependents = self.dependents
        if dependents is None:
            assert self.runtime is not None
            dependents = self.runtime.dependents
        self._announce([Task(i.id, i.node_name, action=TaskAction.DESTROY) for i in instances])
        outcome = DropExecutor(self.store, self.registry, dependents,
                               execution_id=self.execution_id,
                               concurrency=self.limits.concurrency,
                               destroy_timeout=self.limits.destroy_timeout,
                               progress=self.progress, cancel=self.lease_lost).run(instances)
        self.tasks += outcome.tasks
        reasons = {i.id: i.reason for i in instances}
        self._instance_events(outcome.tasks, reasons)
        return outcome

    def _instance_events(self, tasks: list[Task],
                         reasons: Mapping[str, str | None] | None = None) -> None:
        """One event per instance created, failed or dropped, in one transaction."""
        reasons = reasons or {}
        lines = []
        for task in tasks:
            who = f"{task.node_name} {task.instance_id}"
            if task.status == TaskStatus.FAILED:
                lines.append(("instance_failed", f"{who}: {task.error}"))
            elif task.action == TaskAction.CREATE and task.status == TaskStatus.READY:
                lines.append(("instance_created", f"{who} created and ready"))
            elif task.action == TaskAction.DESTROY and task.status == TaskStatus.DESTROYED:
                reason = reasons.get(task.instance_id)
                lines.append(("instance_dropped",
                              f"{who} dropped" + (f" ({reason})" if reason else "")))
        if not lines:
            return
        with self.store.write() as conn:
            self.store.events.add_many(conn, lines, infra_id=self.infra_id,
                                       execution_id=self.execution_id)

    # -- end --------------------------------------------------------------------------
    def report(self, status: str, error: str | None,
               ended: float | None = None) -> dict[str, Any]:
        """Write (and publish) the report: at the end, or at a first failure."""
        infras = self.store.infras
        infra = infras.get(self.infra_id) if infras.exists(self.infra_id) else None
        instances = self.store.instances.for_infra(self.infra_id, include_destroyed=True)
        dependees = {n.name: n.dependees for n in self.runtime.nodes.values()} \
            if self.runtime else {}
        report = execution_report(
            RunFacts(self.infra_id, self.execution_id, self.workflow, status, error,
                     self.started, ended, self.base_url),
            InfraSnapshot(infra, infras.nodes(self.infra_id), instances, dependees,
                          gather_consoles(self.registry, instances)),
            self.tasks)
        self.store.executions.set_report(self.execution_id, report)
        self.publish(f"{self.workflow}_report", report)
        return report

    def finish(self, status: ExecutionStatus, error: str | None) -> dict[str, Any]:
        """The final report, the tasks, the end of the execution and its event."""
        report = self.report(str(status), error, time.time())
        self.store.executions.save_tasks([t.record(self.execution_id) for t in self.tasks])
        self.store.executions.finish(self.execution_id, status, error=error,
                                     keep_terminal=True)
        self.store.events.add("execution_ended", f"{self.workflow} {status}"
                              + (f": {error}" if error else ""),
                              infra_id=self.infra_id, execution_id=self.execution_id)
        return report
