"""Build, update and destroy: plan, execute, report, roll back.

These functions own the order of store writes that makes occo crash-safe:
intent before every handler call, resource id as soon as it exists, and an
infrastructure record that is removed only once its resources are gone.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from occo.engine.builder import CreateExecutor
from occo.engine.consoles import gather_consoles
from occo.engine.dropper import DropExecutor, DropOutcome
from occo.engine.leasing import exclusive, make_holder
from occo.engine.plan import ObservedInstance, Plan, WantedNode, plan_build
from occo.engine.readiness import check_names
from occo.engine.report import execution_report
from occo.engine.runtime import InfraRuntime, NodeRuntime, choose_implementation
from occo.engine.tasks import Task
from occo.engine.watch import watch_requests
from occo.errors import BuildFailed, DescriptionError, DestroyIncomplete, Interrupted, OccoError
from occo.model.description import InfraDescription, check_node_types
from occo.model.states import ExecutionStatus, InfraState, InstanceState
from occo.registry import PluginRegistry
from occo.resources.base import Address
from occo.store.records import InfraRecord, InstanceRecord, NodeRecord
from occo.store.store import Store

Progress = Callable[[Task], None]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 1
    create_timeout: float = 600.0
    destroy_timeout: float = 300.0
    base_url: str | None = None
    creator: str | None = None
    execution_id: str | None = None   # run as this (queued) execution instead of a new one
    rollback: bool = True             # False: keep what became ready, so a resume continues


@dataclass
class BuildResult:
    infra_id: str
    execution_id: str | None
    plan: Plan
    report: dict[str, Any] | None = None
    nodes: dict[str, NodeRuntime] = field(default_factory=dict)


def resolve_runtime(store: Store, registry: PluginRegistry, desc: InfraDescription,
                    infra_id: str) -> InfraRuntime:
    """Join each node with its implementation; unknown types fail here, with location."""
    check_node_types(desc, store.node_defs.types())
    nodes: dict[str, NodeRuntime] = {}
    for node in desc.nodes:
        impl = choose_implementation(node.name, store.node_defs.get(node.type), node.filter)
        registry.handler(str(impl["resource"]["type"]))  # a missing plugin fails now
        for check in check_names(impl.get("health_check") or {}):
            try:
                registry.health_check(check)
            except DescriptionError as exc:
                raise DescriptionError(f"node '{node.name}' (type '{node.type}'): "
                                       f"{exc.message}") from None
        nodes[node.name] = NodeRuntime(
            name=node.name, node_type=node.type, dependees=tuple(desc.dependees(node.name)),
            implementation=impl,
            variables={**(impl.get("variables") or {}), **(node.variables or {})})
    return InfraRuntime(infra_id=infra_id, infra_name=desc.infra_name,
                        variables=dict(desc.variables or {}), nodes=nodes)


def node_rows(infra_id: str, desc: InfraDescription, runtime: InfraRuntime,
              targets: dict[str, int]) -> list[NodeRecord]:
    return [NodeRecord(infra_id=infra_id, name=n.name, node_type=n.type,
                       min=n.scaling.min, max=n.scaling.max, target=targets[n.name],
                       spec=n.model_dump(mode="json"),
                       implementation=runtime.nodes[n.name].implementation)
            for n in desc.nodes]


def _observed(instances: list[InstanceRecord],
              node_types: dict[str, str]) -> list[ObservedInstance]:
    return [ObservedInstance(i.id, i.node_name, i.state, i.created_at,
                             node_types.get(i.node_name, "")) for i in instances]


def plan_for(store: Store, desc: InfraDescription, infra_id: str | None) -> Plan:
    wanted = [WantedNode(n.name, n.type, n.scaling.min, n.scaling.max,
                         tuple(desc.dependees(n.name))) for n in desc.nodes]
    if infra_id is None:
        return plan_build(wanted, [])
    old_nodes = store.infras.nodes(infra_id)
    types = {n.name: n.node_type for n in old_nodes}
    return plan_build(wanted, _observed(store.instances.for_infra(infra_id), types),
                      previous_targets={n.name: n.target for n in old_nodes},
                      previous_types=types)


class Lifecycle:
    """Builds and destroys infrastructures for the API object."""

    def __init__(self, store: Store, registry: PluginRegistry,
                 publish: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.store = store
        self.registry = registry
        self.publish = publish or (lambda _event, _report: None)

    # -- build ----------------------------------------------------------------------
    def build(self, desc: InfraDescription, *, source: str | None, options: RunOptions,
              infra_id: str | None = None, dry_run: bool = False,
              cancel: threading.Event | None = None, progress: Progress | None = None,
              on_infra_id: Callable[[str], None] | None = None,
              kill: threading.Event | None = None) -> BuildResult:
        """Build or update; ``kill`` (set with ``cancel``) skips the rollback."""
        updating = infra_id is not None
        previous = self.store.infras.get(infra_id) if infra_id else None
        the_id = infra_id or str(uuid.uuid4())
        runtime = resolve_runtime(self.store, self.registry, desc, the_id)
        plan = plan_for(self.store, desc, infra_id)
        if dry_run:
            return BuildResult(the_id, None, plan, nodes=runtime.nodes)
        with exclusive(self.store, the_id, make_holder(), "update" if updating else "build"):
            if updating:  # re-read and re-plan under the lease: others may have just acted
                previous = self.store.infras.get(the_id)
                plan = plan_for(self.store, desc, infra_id)
            if kill is not None and kill.is_set():
                options = replace(options, rollback=False)
            return self._build_locked(desc, source, options, the_id, previous, runtime, plan,
                                      cancel, progress, on_infra_id, kill)

    def _build_locked(self, desc: InfraDescription, source: str | None, options: RunOptions,
                      the_id: str, previous: InfraRecord | None, runtime: InfraRuntime,
                      plan: Plan, cancel: threading.Event | None, progress: Progress | None,
                      on_infra_id: Callable[[str], None] | None,
                      kill: threading.Event | None = None) -> BuildResult:
        updating = previous is not None
        rows = node_rows(the_id, desc, runtime, plan.targets)
        previous_rows = self.store.infras.nodes(the_id) if updating else []
        if previous is not None:
            self.store.infras.set_state(the_id, InfraState.BUILDING)
            self.store.infras.replace_description(the_id, desc.to_plain(), source, rows)
        else:
            self.store.infras.create(the_id, desc.infra_name, desc.user_id, desc.to_plain(),
                                     source, rows)
        if on_infra_id:
            on_infra_id(the_id)
        started = time.time()
        workflow = "update" if updating else "build"
        execution_id = self._start_execution(the_id, workflow, options)
        self.store.events.add("execution_started", f"{workflow} started", infra_id=the_id,
                              execution_id=execution_id)

        with self._guard(the_id, execution_id):
            return self._run_plan(desc, options, the_id, previous, previous_rows, runtime, plan,
                                  cancel, progress, kill, workflow, execution_id, started)

    @contextmanager
    def _guard(self, infra_id: str, execution_id: str) -> Iterator[None]:
        """An unexpected error (a bug, a plugin's own exception) still ends the
        execution and marks the infrastructure failed, so destroy or a
        maintainer can take over instead of finding it 'building' forever."""
        try:
            yield
        except (BuildFailed, Interrupted, DestroyIncomplete):
            raise                              # these already left consistent records
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            with suppress(Exception):
                self.store.executions.finish(execution_id, ExecutionStatus.FAILED,
                                             error=message, keep_terminal=True)
            with suppress(Exception):
                self.store.infras.set_state(infra_id, InfraState.FAILED)
            with suppress(Exception):
                self.store.events.add("execution_crashed", message, infra_id=infra_id,
                                      execution_id=execution_id)
            raise

    def _run_plan(self, desc: InfraDescription, options: RunOptions, the_id: str,
                  previous: InfraRecord | None, previous_rows: list[NodeRecord],
                  runtime: InfraRuntime, plan: Plan, cancel: threading.Event | None,
                  progress: Progress | None, kill: threading.Event | None, workflow: str,
                  execution_id: str, started: float) -> BuildResult:
        tasks = self._record_intents(runtime, plan, execution_id)
        error: OccoError | None = None
        cancelled = False
        if plan.drop:
            drop = self._drop(runtime, [self.store.instances.get(i) for i in plan.drop],
                              execution_id, options, progress)
            tasks += drop.tasks
            if not drop.ok:
                error = OccoError("could not drop: " + "; ".join(r for _, r in drop.left))
        if error is None:
            cancel = cancel or threading.Event()
            kill = kill or threading.Event()
            with watch_requests(self.store, execution_id, cancel, kill):  # cancels from anywhere
                outcome = CreateExecutor(
                    self.store, self.registry, runtime, execution_id=execution_id,
                    concurrency=options.concurrency, create_timeout=options.create_timeout,
                    cancel=cancel, progress=progress,
                ).run([t for t in tasks if t.action == "create"],
                      self._ready_addresses(the_id))
            error, cancelled = outcome.error, outcome.cancelled

        if error is None and not cancelled:
            self.store.infras.set_state(the_id, InfraState.READY)
            report = self._finish(the_id, execution_id, workflow, ExecutionStatus.TERMINATED,
                                  None, started, tasks, runtime, options)
            return BuildResult(the_id, execution_id, plan, report, runtime.nodes)

        # First failure (or cancel): report what every instance is doing, then roll back.
        message = "interrupted by the user" if cancelled else str(error)
        if kill is not None and kill.is_set():  # killed: leave every record for destroy
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message = f"killed; records kept: run occopus-destroy -i {the_id} to clean up"
            self._finish(the_id, execution_id, workflow, ExecutionStatus.CANCELLED, message,
                         started, tasks, runtime, options)
            raise Interrupted(message)
        self._write_report(the_id, execution_id, workflow, "failing", message, started, None,
                           tasks, runtime, options)
        self.store.events.add("rollback_started", f"{workflow} failed: {message}; rolling back",
                              infra_id=the_id, execution_id=execution_id)
        created = [i for i in self.store.instances.for_infra(the_id)
                   if i.execution_id == execution_id
                   and (options.rollback or i.state != InstanceState.READY)]
        rollback = self._drop(runtime, created, execution_id, options, progress)
        tasks += rollback.tasks
        status = ExecutionStatus.CANCELLED if cancelled else ExecutionStatus.FAILED
        if not rollback.ok:
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message += ("; rollback incomplete, run occopus-destroy -i "
                        f"{the_id} to remove: " + ", ".join(i for i, _ in rollback.left))
        elif not options.rollback:  # kept for a resume, which continues from here
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message += "; instances that became ready were kept"
        elif previous is not None:
            self.store.infras.replace_description(the_id, previous.description,
                                                  previous.source, previous_rows)
            self.store.infras.set_state(the_id, InfraState.READY)
        self._finish(the_id, execution_id, workflow, status, message, started, tasks,
                     runtime, options)
        if rollback.ok and options.rollback and previous is None:
            self.store.infras.delete(the_id)
        if cancelled:
            raise Interrupted(message)
        raise BuildFailed(message)

    def _start_execution(self, infra_id: str, workflow: str, options: RunOptions) -> str:
        """A new STARTED execution, or the given one (already started by a runner)."""
        if options.execution_id is not None:
            return options.execution_id
        execution_id = str(uuid.uuid4())
        self.store.executions.create(execution_id, infra_id, workflow,
                                     {"concurrency": options.concurrency,
                                      "rollback": options.rollback}, options.creator)
        return execution_id

    def _record_intents(self, runtime: InfraRuntime, plan: Plan, execution_id: str) -> list[Task]:
        rows, tasks = [], []
        for name in plan.create:
            node = runtime.nodes[name]
            for _ in range(plan.create[name]):
                instance_id = str(uuid.uuid4())
                rows.append({"id": instance_id, "infra_id": runtime.infra_id, "node_name": name,
                             "resource_type": node.resource_type,
                             "resource_config": node.resource, "execution_id": execution_id})
                tasks.append(Task(instance_id, name))
        if rows:
            self.store.instances.add_intents(rows)
        return tasks

    def _ready_addresses(self, infra_id: str) -> dict[str, list[Address]]:
        out: dict[str, list[Address]] = {}
        for inst in self.store.instances.for_infra(infra_id):
            if inst.state == InstanceState.READY:
                ports = {int(k): int(v) for k, v in
                         (inst.resource_data.get("ports") or {}).items()}
                out.setdefault(inst.node_name, []).append(
                    Address(inst.address, inst.private_address, ports))
        return out

    def _drop(self, runtime: InfraRuntime | None, instances: list[InstanceRecord],
              execution_id: str, options: RunOptions, progress: Progress | None,
              dependents: Callable[[str], list[str]] | None = None) -> DropOutcome:
        if dependents is None:
            assert runtime is not None
            dependents = runtime.dependents
        return DropExecutor(self.store, self.registry, dependents, execution_id=execution_id,
                            concurrency=options.concurrency,
                            destroy_timeout=options.destroy_timeout,
                            progress=progress).run(instances)

    def _write_report(self, infra_id: str, execution_id: str, workflow: str, status: str,
                      error: str | None, started: float, ended: float | None,
                      tasks: list[Task], runtime: InfraRuntime | None,
                      options: RunOptions) -> dict[str, Any]:
        infra = self.store.infras.get(infra_id) if self.store.infras.exists(infra_id) else None
        instances = self.store.instances.for_infra(infra_id, include_destroyed=True)
        report = execution_report(
            infra=infra, infra_id=infra_id, execution_id=execution_id, workflow=workflow,
            status=status, error=error, started_at=started, ended_at=ended,
            nodes=self.store.infras.nodes(infra_id), instances=instances, tasks=tasks,
            dependees={n.name: n.dependees for n in runtime.nodes.values()} if runtime else {},
            base_url=options.base_url, consoles=gather_consoles(self.registry, instances))
        self.store.executions.set_report(execution_id, report)
        self.publish(f"{workflow}_report", report)
        return report

    def _finish(self, infra_id: str, execution_id: str, workflow: str,
                status: ExecutionStatus, error: str | None, started: float,
                tasks: list[Task], runtime: InfraRuntime | None,
                options: RunOptions) -> dict[str, Any]:
        report = self._write_report(infra_id, execution_id, workflow, str(status), error,
                                    started, time.time(), tasks, runtime, options)
        self.store.executions.save_tasks([t.record(execution_id) for t in tasks])
        self.store.executions.finish(execution_id, status, error=error, keep_terminal=True)
        self.store.events.add("execution_ended", f"{workflow} {status}"
                              + (f": {error}" if error else ""),
                              infra_id=infra_id, execution_id=execution_id)
        return report

    # -- destroy --------------------------------------------------------------------
    def destroy(self, infra_id: str, *, options: RunOptions,
                progress: Progress | None = None) -> dict[str, Any]:
        self.store.infras.get(infra_id)
        with exclusive(self.store, infra_id, make_holder(), "destroy"):
            return self._destroy_locked(infra_id, options, progress)

    def _destroy_locked(self, infra_id: str, options: RunOptions,
                        progress: Progress | None) -> dict[str, Any]:
        infra = self.store.infras.get(infra_id)
        self.store.infras.set_state(infra_id, InfraState.DESTROYING)
        started = time.time()
        execution_id = self._start_execution(infra_id, "destroy", options)
        deps = self._stored_dependents(infra.description)
        with self._guard(infra_id, execution_id):
            outcome = self._drop(None, self.store.instances.for_infra(infra_id), execution_id,
                                 options, progress, dependents=deps)
        if outcome.ok:
            report = self._finish(infra_id, execution_id, "destroy", ExecutionStatus.TERMINATED,
                                  None, started, outcome.tasks, None, options)
            self.store.infras.delete(infra_id)
            return report
        self.store.infras.set_state(infra_id, InfraState.FAILED)
        left = [f"{i} ({reason})" for i, reason in outcome.left]
        message = f"{len(left)} resource(s) could not be confirmed gone: " + ", ".join(left)
        self._finish(infra_id, execution_id, "destroy", ExecutionStatus.FAILED, message, started,
                     outcome.tasks, None, options)
        raise DestroyIncomplete(message, left=[i for i, _ in outcome.left])

    @staticmethod
    def _stored_dependents(description: dict[str, Any]) -> Callable[[str], list[str]]:
        desc = InfraDescription.from_plain(description)
        return lambda name: desc.dependents(name)
