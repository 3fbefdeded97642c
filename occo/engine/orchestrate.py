"""Running orchestration files against a running infrastructure (workflow ``orchestrate``).

:meth:`Orchestrator.plan` renders every job for every ready instance it
targets and decides, from the per-instance cache, which ones run; nothing is
written when a job, a target or a transport setting is wrong. The plan is
recorded as an execution with one task per job x instance (each with its own
id). :meth:`Orchestrator.run` runs the queued tasks: instances in parallel up
to the concurrency, the jobs of one instance in order; a failed job cancels
the later jobs of its own instance only. A resumed execution runs again what
did not succeed. Tasks move by guarded updates, so no task runs twice.

Planning and running hold the infrastructure's lease (:meth:`Orchestrator.lease`),
as builds, destroys and maintenance passes do: jobs never run while one of
those changes the instances, and none of those starts while jobs run.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from occo.configure.orchestration import Orchestration, PlannedJob, plan_instance
from occo.configure.transport import Transport, run_step
from occo.context.auth import AuthData
from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.engine.leasing import DEFAULT_TTL, exclusive, lease_lost_message, make_holder
from occo.engine.lifecycle import stored_runtime
from occo.engine.runtime import InfraRuntime
from occo.engine.watch import STOPPING
from occo.errors import (
    ConfigError,
    DescriptionError,
    Interrupted,
    JobsFailed,
    LeaseLost,
    OccoError,
    UserInputError,
)
from occo.model.states import ExecutionStatus, InstanceState, JobTaskStatus
from occo.registry import PluginRegistry
from occo.resources.base import JobTransports, ResourceRef
from occo.store.records import InstanceRecord, JobTaskRecord
from occo.store.store import Store

WORKFLOW = "orchestrate"
MAX_TASKS = 100_000          # job x instance pairs in one execution
MAX_RESTRICT = 1_000
_S = JobTaskStatus

Progress = Callable[[JobTaskRecord], None]


@dataclass(frozen=True)
class OrchestrateOptions:
    """``restrict``: job ids (every instance) or task ids of an earlier run (that job on
    that instance); restricted jobs run even when cached. ``concurrency``: instances
    worked on at once."""

    restrict: tuple[str, ...] = ()
    ignore_cache: bool = False
    concurrency: int = 1

    def to_parameters(self) -> dict[str, Any]:
        return {"restrict": list(self.restrict), "ignore_cache": self.ignore_cache,
                "concurrency": self.concurrency}

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> OrchestrateOptions:
        return cls(tuple(str(r) for r in parameters.get("restrict") or ()),
                   bool(parameters.get("ignore_cache", False)),
                   max(1, int(parameters.get("concurrency", 1))))


@dataclass(frozen=True)
class OrchestrationOutcome:
    execution_id: str
    tasks: list[JobTaskRecord]
    report: dict[str, Any]

    @property
    def failed(self) -> list[JobTaskRecord]:
        return [t for t in self.tasks if t.status == _S.FAILED]


@dataclass(frozen=True)
class HeldLease:
    """The infrastructure's lease while jobs run: who holds it, and the Event set
    if it is lost (the store did not answer, or another process took it over)."""

    holder: str
    lost: threading.Event


class _HostKeyPins:
    """The store's pin for one instance, as the SSH transport asks for it."""

    def __init__(self, store: Store, instance_id: str, host: str, port: int) -> None:
        self._store, self._id, self._host, self._port = store, instance_id, host, port

    def get(self) -> tuple[str, str] | None:
        return self._store.host_keys.get(self._id)

    def pin(self, key_type: str, key: str) -> bool:
        return self._store.host_keys.pin(self._id, self._host, self._port, key_type, key)


class Orchestrator:
    def __init__(self, store: Store, registry: PluginRegistry, auth: AuthData,
                 lease_ttl: float = DEFAULT_TTL) -> None:
        self.store = store
        self.registry = registry
        self.auth = auth
        self.redact = auth.redactor
        self.renderer = TemplateRenderer()
        self.lease_ttl = lease_ttl

    @contextmanager
    def lease(self, infra_id: str,
              cancel: threading.Event | None = None) -> Iterator[HeldLease]:
        """Hold the infrastructure's lease: LeaseHeld (exit 75, HTTP 409) while a build,
        destroy, maintenance pass or other orchestration holds it; losing it sets
        ``cancel``, so no new job starts."""
        self.store.infras.get(infra_id)         # an unknown id is NotFound, before any lease
        holder = make_holder()
        with exclusive(self.store, infra_id, holder, "run jobs on", ttl=self.lease_ttl,
                       also=(cancel,) if cancel is not None else ()) as lost:
            yield HeldLease(holder, lost)

    # -- planning ---------------------------------------------------------------------
    def submit(self, infra_id: str, orchestration: Orchestration, options: OrchestrateOptions,
               *, creator: str | None = None) -> tuple[str, list[JobTaskRecord]]:
        """Plan, then record the execution (queued) and its tasks; nothing on bad input."""
        execution_id = str(uuid.uuid4())
        tasks = self.plan(infra_id, orchestration, options, execution_id)
        self.store.executions.create(
            execution_id, infra_id, WORKFLOW,
            {**orchestration.to_parameters(), **options.to_parameters()}, creator,
            status=ExecutionStatus.QUEUED)
        self.store.job_tasks.add(tasks)
        return execution_id, tasks

    def plan(self, infra_id: str, orchestration: Orchestration, options: OrchestrateOptions,
             execution_id: str) -> list[JobTaskRecord]:
        infra = self.store.infras.get(infra_id)
        runtime = stored_runtime(infra, self.store.infras.nodes(infra_id))
        live = self.store.instances.for_infra(infra_id)
        ready = [i for i in live if i.state == InstanceState.READY]
        unknown = sorted(orchestration.targets() - set(runtime.nodes) - {i.id for i in live})
        if unknown:
            raise UserInputError(f"{orchestration.source}: target '{unknown[0]}' is neither a "
                                 f"node of infrastructure {infra_id} nor one of its instances "
                                 f"(nodes: {', '.join(sorted(runtime.nodes))})")
        if not ready:
            raise UserInputError(f"infrastructure {infra_id} has no ready instance to run "
                                 "jobs on")
        jobs, pairs = self._restriction(orchestration, options.restrict)
        cached = set() if options.ignore_cache else \
            self.store.job_tasks.cached([i.id for i in ready])
        addresses = _addresses(ready)
        order = {job.job_id: n for n, job in enumerate(orchestration.jobs)}
        now = time.time()
        tasks: list[tuple[int, int, JobTaskRecord]] = []
        for index, inst in enumerate(ready):
            ctx = _context(runtime, inst, addresses)
            try:
                planned = plan_instance(orchestration, self.renderer, ctx)
            except DescriptionError as exc:
                if exc.location is not None:
                    raise
                raise DescriptionError(f"{orchestration.source}: {exc.message}") from None
            chosen = [p for p in planned
                      if not options.restrict or p.job_id in jobs or (p.job_id, inst.id) in pairs]
            if chosen:
                self._check_transport(runtime, inst, ctx)
            for p in chosen:
                replay = bool(options.restrict)
                status = _S.SKIPPED if not replay and (inst.id, p.content_hash) in cached \
                    else _S.QUEUED
                tasks.append((order[p.job_id], index, self._task(execution_id, inst, p,
                                                                 status, now)))
            if len(tasks) > MAX_TASKS:
                raise UserInputError(f"more than {MAX_TASKS} job x instance tasks in one run")
        tasks.sort(key=lambda item: item[:2])
        return [_with_position(task, n) for n, (_, _, task) in enumerate(tasks)]

    def _task(self, execution_id: str, inst: InstanceRecord, planned: PlannedJob,
              status: JobTaskStatus, now: float) -> JobTaskRecord:
        return JobTaskRecord(
            id=str(uuid.uuid4()), execution_id=execution_id, position=0, instance_id=inst.id,
            node_name=inst.node_name, job_id=planned.job_id, job=self.redact(planned.description),
            step=planned.step, content_hash=planned.content_hash, status=status, exit_code=None,
            queued_at=now, started_at=None, ended_at=now if status == _S.SKIPPED else None,
            output=None, error=None)

    def _restriction(self, orchestration: Orchestration,
                     restrict: tuple[str, ...]) -> tuple[set[str], set[tuple[str, str]]]:
        """Job ids to run everywhere, and (job id, instance id) pairs from task ids."""
        if len(restrict) > MAX_RESTRICT:
            raise UserInputError(f"at most {MAX_RESTRICT} --restrict values")
        known = {job.job_id for job in orchestration.jobs}
        jobs, pairs = set(), set()
        for value in restrict:
            if value in known:
                jobs.add(value)
                continue
            try:
                task = self.store.job_tasks.get(value)
            except OccoError:
                task = None
            if task is None or task.job_id not in known:
                raise UserInputError(
                    f"--restrict {value!r} names neither a job of {orchestration.source} nor "
                    f"a task of one (job ids: {', '.join(j.job_id for j in orchestration.jobs)})")
            pairs.add((task.job_id, task.instance_id))
        return jobs, pairs

    # -- transports -------------------------------------------------------------------
    def _check_transport(self, runtime: InfraRuntime, inst: InstanceRecord,
                         ctx: TemplateContext) -> None:
        """Refuse now what could not connect later (missing SSH credentials...)."""
        node = runtime.nodes[inst.node_name]
        handler = self.registry.handler(inst.resource_type)
        if node.implementation.get("ssh") is None and isinstance(handler, JobTransports):
            return
        self._ssh_target(runtime, inst, ctx)

    def _ssh_target(self, runtime: InfraRuntime, inst: InstanceRecord,
                    ctx: TemplateContext) -> Any:
        from occo.configure.ssh import target_for

        node = runtime.nodes[inst.node_name]
        section = self.renderer.render_tree(dict(node.implementation.get("ssh") or {}), ctx,
                                            what="ssh section")
        host = inst.private_address if section.get("address") == "private" else \
            inst.address or inst.private_address
        if not host:
            raise ConfigError(f"instance {inst.id} of node '{inst.node_name}' has no address "
                              "to reach over SSH")
        try:
            credentials = self.auth.match("ssh", node.resource).auth_data
        except ConfigError as exc:
            raise ConfigError(f"node '{inst.node_name}' is reached over SSH: {exc}") from None
        return target_for(host, section, credentials)

    def _open(self, runtime: InfraRuntime, inst: InstanceRecord) -> Transport:
        node = runtime.nodes[inst.node_name]
        handler = self.registry.handler(inst.resource_type)
        if node.implementation.get("ssh") is None and isinstance(handler, JobTransports):
            config = handler.config_model.model_validate(inst.resource_config)
            ref = ResourceRef(inst.id, inst.resource_id or inst.id, config, inst.resource_data)
            return handler.transport(ref, infra_id=inst.infra_id, node_name=inst.node_name)
        from occo.configure.ssh import SshTransport

        addresses = _addresses([inst])
        target = self._ssh_target(runtime, inst, _context(runtime, inst, addresses))
        return SshTransport(target, _HostKeyPins(self.store, inst.id, target.host, target.port))

    # -- running ----------------------------------------------------------------------
    def run(self, execution_id: str, *, cancel: threading.Event | None = None,
            progress: Progress | None = None) -> OrchestrationOutcome:
        """Run the execution's queued tasks; the report is stored with the execution."""
        cancel = cancel or threading.Event()
        execution = self.store.executions.get(execution_id)
        params = execution.parameters
        infra_id = execution.infra_id or ""
        options = OrchestrateOptions.from_parameters(params)
        tasks = self.store.job_tasks.for_execution(execution_id)
        if not tasks:      # recorded elsewhere (a trigger, an execution group): plan here
            tasks = self.plan(infra_id, Orchestration.from_parameters(params), options,
                              execution_id)
            self.store.job_tasks.add(tasks)
        for task in tasks:   # a resumed execution retries what did not succeed
            if execution.attempt > 1 and task.status in (_S.RUNNING, _S.FAILED, _S.CANCELLED):
                self.store.job_tasks.move(task.id, (task.status,), _S.QUEUED, exit_code=None,
                                          started_at=None, ended_at=None, output=None,
                                          error=None)
        tasks = self.store.job_tasks.for_execution(execution_id)
        by_instance: dict[str, list[JobTaskRecord]] = {}
        for task in tasks:
            if task.status == _S.QUEUED:
                by_instance.setdefault(task.instance_id, []).append(task)
        if by_instance:
            infra = self.store.infras.get(infra_id)
            runtime = stored_runtime(infra, self.store.infras.nodes(infra_id))
            workers = max(1, min(options.concurrency, len(by_instance)))
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="occo-orchestrate") as pool:
                for future in [pool.submit(self._run_instance, runtime, instance_id, queue,
                                           cancel, progress or (lambda _t: None))
                               for instance_id, queue in by_instance.items()]:
                    future.result()
        tasks = self.store.job_tasks.for_execution(execution_id)
        report = orchestration_report(execution_id, infra_id, tasks)
        self.store.executions.set_report(execution_id, report)
        return OrchestrationOutcome(execution_id, tasks, report)

    def _stop_requested(self, execution_id: str, cancel: threading.Event) -> bool:
        """A cancel from this process, or one asked for through the store (by any
        process) that the run's watcher has not relayed yet: no job starts after it."""
        if not cancel.is_set() and \
                self.store.executions.get(execution_id).requested_action in STOPPING:
            cancel.set()
        return cancel.is_set()

    def _run_instance(self, runtime: InfraRuntime, instance_id: str,
                      queue: list[JobTaskRecord], cancel: threading.Event,
                      progress: Progress) -> None:
        transport: Transport | None = None
        stopped: str | None = None
        try:
            for task in queue:
                if stopped is None and self._stop_requested(task.execution_id, cancel):
                    stopped = "cancelled before it started"
                if stopped is not None:
                    if self.store.job_tasks.move(task.id, (_S.QUEUED,), _S.CANCELLED,
                                                 ended_at=time.time(), error=stopped):
                        progress(self.store.job_tasks.get(task.id))
                    continue
                if not self.store.job_tasks.move(task.id, (_S.QUEUED,), _S.RUNNING,
                                                 started_at=time.time()):
                    continue        # another run took it
                progress(self.store.job_tasks.get(task.id))
                try:
                    if transport is None:
                        transport = self._open(runtime, self.store.instances.get(instance_id))
                    outcome = run_step(transport, task.step, self.redact)
                except OccoError as exc:
                    outcome = None
                    error = self.redact(str(exc))
                if outcome is not None and outcome.ok:
                    self.store.job_tasks.succeed(task, exit_code=outcome.exit_code,
                                                 output=outcome.output or None)
                else:
                    if outcome is not None:
                        error = outcome.error or "failed"
                    self.store.job_tasks.move(
                        task.id, (_S.RUNNING,), _S.FAILED, ended_at=time.time(),
                        exit_code=outcome.exit_code if outcome else None,
                        output=(outcome.output or None) if outcome else None, error=error)
                    stopped = f"not run: job {task.job_id} failed on this instance"
                progress(self.store.job_tasks.get(task.id))
        finally:
            if transport is not None:
                transport.close()


def run_and_end(orchestrator: Orchestrator, execution_id: str, *, lease: HeldLease,
                cancel: threading.Event, progress: Progress | None = None) -> OrchestrationOutcome:
    """Run a started execution under ``lease``; raise :class:`LeaseLost` when the lease
    was lost meanwhile, :class:`JobsFailed` naming every failed task,
    :class:`Interrupted` when it was cancelled (so it does not end as done)."""
    orchestrator.store.executions.claim(execution_id, lease.holder)
    outcome = orchestrator.run(execution_id, cancel=cancel, progress=progress)
    if lease.lost.is_set():
        raise LeaseLost(lease_lost_message(outcome.report["infra_id"]))
    if outcome.failed:
        raise JobsFailed(failure_summary(outcome.failed))
    if cancel.is_set():
        raise Interrupted(f"execution {execution_id} was cancelled; jobs not started were "
                          "not run")
    return outcome


def failure_summary(failed: list[JobTaskRecord], limit: int = 10) -> str:
    parts = [f"job {t.job_id} ({t.job[:80]}) on {t.node_name} {t.instance_id}: {t.error}"
             for t in failed[:limit]]
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return f"{len(failed)} job(s) failed: " + "; ".join(parts) + more


def orchestration_report(execution_id: str, infra_id: str,
                         tasks: list[JobTaskRecord]) -> dict[str, Any]:
    """Every task with status and timings; each failed one with its exit code and output."""
    def span(task: JobTaskRecord) -> float | None:
        if task.started_at is None or task.ended_at is None:
            return None
        return round(task.ended_at - task.started_at, 4)

    return {
        "workflow": WORKFLOW, "execution_id": execution_id, "infra_id": infra_id,
        "written_at": time.time(),
        "counts": {s: sum(1 for t in tasks if t.status == s)
                   for s in sorted({str(t.status) for t in tasks})},
        "failed": [{"task_id": t.id, "job_id": t.job_id, "job": t.job,
                    "instance_id": t.instance_id, "node": t.node_name,
                    "exit_code": t.exit_code, "error": t.error, "output": t.output}
                   for t in tasks if t.status == _S.FAILED],
        "tasks": [{"task_id": t.id, "job_id": t.job_id, "instance_id": t.instance_id,
                   "node": t.node_name, "status": str(t.status), "exit_code": t.exit_code,
                   "duration": span(t)} for t in tasks],
    }


def _with_position(task: JobTaskRecord, position: int) -> JobTaskRecord:
    from dataclasses import replace

    return replace(task, position=position)


def _addresses(instances: list[InstanceRecord]) -> dict[str, NodeAddresses]:
    pairs: dict[str, list[tuple[str | None, str | None]]] = {}
    ports: dict[str, dict[int, int]] = {}
    for inst in instances:
        pairs.setdefault(inst.node_name, []).append((inst.address, inst.private_address))
        ports.setdefault(inst.node_name, {int(k): int(v) for k, v in
                                          (inst.resource_data.get("ports") or {}).items()})
    return {name: NodeAddresses(tuple(p), ports[name]) for name, p in pairs.items()}


def _context(runtime: InfraRuntime, inst: InstanceRecord,
             addresses: dict[str, NodeAddresses]) -> TemplateContext:
    node = runtime.nodes[inst.node_name]
    return TemplateContext(infra_id=runtime.infra_id, infra_name=runtime.infra_name,
                           node_name=inst.node_name, instance_id=inst.id,
                           variables={**runtime.variables, **node.variables},
                           addresses=addresses)
