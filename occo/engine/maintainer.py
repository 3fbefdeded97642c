"""Maintenance passes: keep each infrastructure healthy and at its wanted size.

A pass over one infrastructure takes its lease, refreshes every instance
(in parallel; one call for handlers that report many states at once), marks
instances unhealthy for too long as failed, applies pending scaling requests
exactly once (the requests are marked applied in the same transaction that
stores the new targets), replaces what failed, enforces the bounds, and
releases the lease. A brake stops replacement when too much fails at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from occo.engine.builder import CreateExecutor
from occo.engine.consoles import gather_consoles
from occo.engine.dropper import DropExecutor
from occo.engine.leasing import held_lease, make_holder
from occo.engine.plan import ObservedInstance, drop_order
from occo.engine.readiness import ProbeResult, Verdict, run_health_checks
from occo.engine.report import execution_report
from occo.engine.runtime import InfraRuntime, NodeRuntime
from occo.engine.scaling import Bounds, Request, apply_requests
from occo.engine.tasks import Task
from occo.model.description import InfraDescription
from occo.model.states import ExecutionStatus, InfraState, InstanceState, ResourceState
from occo.registry import PluginRegistry
from occo.resources.base import Address, BatchStates, ResourceRef, StateReport
from occo.store.records import InstanceRecord, NodeRecord
from occo.store.store import Store

REFRESHED = (InstanceState.READY, InstanceState.UNHEALTHY, InstanceState.BOOTING,
             InstanceState.UNKNOWN)
NOT_COUNTED = (InstanceState.FAILED, InstanceState.DESTROYED, InstanceState.DESTROYING)


@dataclass(frozen=True)
class MaintainSettings:
    concurrency: int = 10
    create_timeout: float = 600.0
    destroy_timeout: float = 300.0
    lease_ttl: float = 30.0
    brake_share: float = 0.5
    brake_min_failed: int = 3
    unhealthy_timeout: float = 600.0
    ignore_brake: bool = False          # an operator's explicit "replace anyway"


@dataclass
class PassResult:
    infra_id: str
    skipped: str | None = None
    created: int = 0
    dropped: int = 0
    failed: list[str] = field(default_factory=list)
    applied_requests: int = 0
    brake: bool = False
    execution_id: str | None = None

    @property
    def acted(self) -> bool:
        return bool(self.created or self.dropped or self.failed or self.applied_requests
                    or self.brake)


def stored_runtime(infra_id: str, infra_name: str, description: dict[str, Any],
                   nodes: list[NodeRecord]) -> InfraRuntime:
    """The runtime of a built infrastructure, from what the store kept."""
    desc = InfraDescription.from_plain(description)
    runtime_nodes = {}
    for node in nodes:
        spec = desc.node(node.name)
        impl = node.implementation or {}
        runtime_nodes[node.name] = NodeRuntime(
            name=node.name, node_type=node.node_type,
            dependees=tuple(desc.dependees(node.name)), implementation=impl,
            variables={**(impl.get("variables") or {}), **(spec.variables or {})})
    return InfraRuntime(infra_id, infra_name, dict(desc.variables or {}), runtime_nodes)


class Maintainer:
    def __init__(self, store: Store, registry: PluginRegistry, settings: MaintainSettings,
                 holder: str | None = None,
                 publish: Callable[[str, dict[str, Any]], None] | None = None,
                 base_url: str | None = None) -> None:
        self.base_url = base_url
        self.publish = publish or (lambda _event, _report: None)
        self.store = store
        self.registry = registry
        self.settings = settings
        self.holder = holder or make_holder()

    # -- passes -------------------------------------------------------------------------
    def run_pass(self, infra_ids: list[str] | None = None) -> list[PassResult]:
        """One pass over the given (default: every) infrastructure."""
        if infra_ids is None:
            infra_ids = [i.id for i in self.store.infras.list()]
        return [self.pass_over(infra_id) for infra_id in infra_ids]

    def pass_over(self, infra_id: str) -> PassResult:
        with held_lease(self.store, infra_id, self.holder, self.settings.lease_ttl) as lost:
            if lost is None:
                return PassResult(infra_id, skipped="lease held by another maintainer")
            if not self.store.infras.exists(infra_id):
                return PassResult(infra_id, skipped="infrastructure is gone")
            infra = self.store.infras.get(infra_id)
            if infra.state not in (InfraState.READY, InfraState.FAILED):
                return PassResult(infra_id, skipped=f"infrastructure is {infra.state}")
            result = self._maintain(infra_id, infra.name, infra.description, lost)
            if result.execution_id is None and not result.skipped:
                self._record_pass(result)
            return result

    def _record_pass(self, result: PassResult) -> None:
        """Every pass is an execution; a run of idle passes shares one record
        (its ``passes`` count and end time grow), so the log stays readable."""
        summary: dict[str, Any] = {"failed": result.failed,
                                   "applied_requests": result.applied_requests,
                                   "brake": result.brake}
        result.execution_id = self.store.executions.record_pass(
            result.infra_id, self.holder, summary, idle=not result.acted)

    def _maintain(self, infra_id: str, name: str, description: dict[str, Any],
                  lost: threading.Event) -> PassResult:
        result = PassResult(infra_id)
        nodes = self.store.infras.nodes(infra_id)
        runtime = stored_runtime(infra_id, name, description, nodes)
        instances = self.store.instances.for_infra(infra_id)
        now = time.time()
        probes = self._refresh(runtime, [i for i in instances if i.state in REFRESHED])
        changes = self._judge(runtime, instances, probes, now, result)
        if changes:
            self.store.instances.transition_many(changes)
            instances = self.store.instances.for_infra(infra_id)

        live = [i for i in instances if i.state not in NOT_COUNTED]
        failed = [i for i in instances if i.state == InstanceState.FAILED]
        if not self.settings.ignore_brake and len(failed) >= self.settings.brake_min_failed and \
                len(failed) > self.settings.brake_share * max(1, len(instances)):
            result.brake = True
            self.store.events.add(
                "brake_engaged",
                f"{len(failed)} of {len(instances)} instances failed at once; "
                "no replacement or scaling until fewer fail", infra_id=infra_id)
            return result
        if lost.is_set():
            return PassResult(infra_id, skipped="lease lost")

        targets = self._apply_requests(infra_id, nodes, live, result)
        if result.applied_requests:  # targeted drops changed some states
            instances = self.store.instances.for_infra(infra_id)
        creates, drops = self._reconcile(runtime, instances, targets)
        if not creates and not drops:
            return result
        self._execute(runtime, creates, drops, result)
        return result

    # -- refresh ------------------------------------------------------------------------
    def _refresh(self, runtime: InfraRuntime,
                 instances: list[InstanceRecord]) -> dict[str, ProbeResult]:
        """State and health of each instance; batch handlers answer in one call."""
        by_type: dict[str, list[tuple[InstanceRecord, ResourceRef]]] = {}
        configs: dict[tuple[str, str], Any] = {}   # instances of a node share one config
        for inst in instances:
            if not inst.resource_id:
                continue
            handler = self.registry.handler(inst.resource_type)
            key = (inst.resource_type, json.dumps(inst.resource_config, sort_keys=True))
            if key not in configs:
                configs[key] = handler.config_model.model_validate(inst.resource_config)
            config = configs[key]
            by_type.setdefault(inst.resource_type, []).append(
                (inst, ResourceRef(inst.id, inst.resource_id, config, inst.resource_data)))
        reports: dict[str, StateReport] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(32, self.settings.concurrency))) as pool:
            for rtype, pairs in by_type.items():
                handler = self.registry.handler(rtype)
                refs = [ref for _, ref in pairs]
                states = self._states(handler, refs, pool)
                reports.update({inst.id: st for (inst, _), st in zip(pairs, states, strict=True)})
            checks = [inst for pairs in by_type.values() for inst, _ in pairs
                      if reports[inst.id].state == ResourceState.RUNNING
                      and self._health_spec(runtime, inst)]
            healths = dict(zip([i.id for i in checks], pool.map(
                lambda inst: run_health_checks(self.registry, self._health_spec(runtime, inst),
                                               self._address(inst)), checks), strict=True))
        out: dict[str, ProbeResult] = {}
        for inst_id, report in reports.items():
            if report.state == ResourceState.RUNNING:
                ok, reason = healths.get(inst_id, (True, ""))
                out[inst_id] = ProbeResult(Verdict.READY if ok else Verdict.WAIT, reason)
            elif report.state in (ResourceState.FAILED, ResourceState.GONE):
                out[inst_id] = ProbeResult(Verdict.FAILED if report.state == ResourceState.FAILED
                                           else Verdict.GONE, report.reason or str(report.state))
            else:
                out[inst_id] = ProbeResult(Verdict.WAIT, report.reason or str(report.state))
        return out

    @staticmethod
    def _states(handler: Any, refs: list[ResourceRef],
                pool: ThreadPoolExecutor) -> list[StateReport]:
        """States of many resources; a cloud error makes them UNKNOWN for this
        pass instead of stopping maintenance of the whole infrastructure."""
        if isinstance(handler, BatchStates):
            try:
                return handler.states(refs)
            except Exception as exc:  # noqa: BLE001 - one failing call is not fatal
                return [StateReport(ResourceState.UNKNOWN, reason=str(exc))] * len(refs)

        def one(ref: ResourceRef) -> StateReport:
            try:
                report: StateReport = handler.state(ref)
            except Exception as exc:  # noqa: BLE001 - as above, per instance
                return StateReport(ResourceState.UNKNOWN, reason=str(exc))
            return report

        return list(pool.map(one, refs))

    @staticmethod
    def _health_spec(runtime: InfraRuntime, inst: InstanceRecord) -> dict[str, Any]:
        node = runtime.nodes.get(inst.node_name)
        return node.health_check if node else {}

    @staticmethod
    def _address(inst: InstanceRecord) -> Address:
        ports = {int(k): int(v) for k, v in (inst.resource_data.get("ports") or {}).items()}
        return Address(inst.address, inst.private_address, ports)

    def _timeout(self, runtime: InfraRuntime, inst: InstanceRecord) -> float:
        value = self._health_spec(runtime, inst).get("timeout")
        return float(value) if value else self.settings.unhealthy_timeout

    def _judge(self, runtime: InfraRuntime, instances: list[InstanceRecord],
               probes: dict[str, ProbeResult], now: float,
               result: PassResult) -> list[tuple[str, InstanceState, dict[str, Any]]]:
        """Turn probe results into state changes (and events for failures)."""
        changes: list[tuple[str, InstanceState, dict[str, Any]]] = []
        for inst in instances:
            probe = probes.get(inst.id)
            stale_create = inst.state in (InstanceState.PENDING, InstanceState.CREATING) and \
                now - inst.created_at > self.settings.create_timeout
            if stale_create:
                reason = f"stuck {inst.state} for longer than {self.settings.create_timeout:g} s"
            elif probe is None:
                continue
            elif probe.verdict in (Verdict.FAILED, Verdict.GONE):
                reason = probe.reason
            elif probe.verdict == Verdict.READY:
                if inst.state != InstanceState.READY:
                    changes.append((inst.id, InstanceState.READY,
                                    {"unhealthy_since": None,
                                     "ready_at": inst.ready_at or now}))
                continue
            else:
                since = inst.unhealthy_since or (
                    inst.state_since if inst.state in (InstanceState.BOOTING,
                                                       InstanceState.UNKNOWN) else now)
                if now - since <= self._timeout(runtime, inst):
                    if inst.state == InstanceState.READY:
                        changes.append((inst.id, InstanceState.UNHEALTHY,
                                        {"unhealthy_since": now, "reason": probe.reason}))
                    continue
                reason = f"unhealthy for more than {self._timeout(runtime, inst):g} s: " \
                         f"{probe.reason}"
            changes.append((inst.id, InstanceState.FAILED, {"reason": reason}))
            result.failed.append(inst.id)
            self.store.events.add("instance_failed", f"{inst.node_name} {inst.id}: {reason}",
                                  infra_id=inst.infra_id)
        return changes

    # -- scaling --------------------------------------------------------------------------
    def _apply_requests(self, infra_id: str, nodes: list[NodeRecord],
                        live: list[InstanceRecord], result: PassResult) -> dict[str, int]:
        """Fold pending requests into the targets, exactly once (one transaction)."""
        bounds = {n.name: Bounds(n.min, n.max) for n in nodes}
        live_ids: dict[str, set[str]] = {}
        for inst in live:
            live_ids.setdefault(inst.node_name, set()).add(inst.id)
        targets = {n.name: n.target for n in nodes}
        with self.store.read() as conn:  # the common case: nothing pending, no write lock
            if not self.store.scaling.pending(infra_id, conn):
                return targets
        with self.store.write() as conn:
            pending = self.store.scaling.pending(infra_id, conn)
            if not pending:
                return targets
            decision = apply_requests(
                [Request(r.id, r.node_name, r.kind, r.count, r.target_instance) for r in pending],
                bounds, targets, live_ids)
            for node_name, target in decision.targets.items():
                if target != targets[node_name]:
                    self.store.infras.set_target(infra_id, node_name, target, conn=conn)
            for instance_id in decision.targeted_drops:
                self.store.instances.transition_in(conn, instance_id, InstanceState.FAILED,
                                                   reason="scale-down requested")
            for request_id, text in decision.outcomes:
                self.store.scaling.mark_applied(conn, request_id, text)
                kind = "request_clamped" if request_id in decision.clamped else "request_applied"
                self.store.events.add(kind, f"scaling request {request_id}: {text}",
                                      infra_id=infra_id, conn=conn)
            result.applied_requests = len(pending)
            return decision.targets

    def _reconcile(self, runtime: InfraRuntime, instances: list[InstanceRecord],
                   targets: dict[str, int]) -> tuple[dict[str, int], list[InstanceRecord]]:
        """Creates per node and instances to drop, to meet each target."""
        creates: dict[str, int] = {}
        drops: list[InstanceRecord] = [i for i in instances if i.state == InstanceState.FAILED]
        for name in runtime.nodes:
            mine = [i for i in instances if i.node_name == name and i.state not in NOT_COUNTED]
            target = targets.get(name, 0)
            if len(mine) < target:
                creates[name] = target - len(mine)
            elif len(mine) > target:
                order = drop_order([ObservedInstance(i.id, i.node_name, i.state, i.created_at, "")
                                    for i in mine])
                excess = {o.id for o in order[: len(mine) - target]}
                drops += [i for i in mine if i.id in excess]
        return creates, drops

    def _execute(self, runtime: InfraRuntime, creates: dict[str, int],
                 drops: list[InstanceRecord], result: PassResult) -> None:
        """Creates first, then drops; one execution records both."""
        execution_id = str(uuid.uuid4())
        started = time.time()
        infra_id = runtime.infra_id
        self.store.executions.create(execution_id, infra_id, "maintain",
                                     {"creates": creates, "drops": [d.id for d in drops]},
                                     self.holder)
        result.execution_id = execution_id
        rows, tasks = [], []
        for name, count in creates.items():
            node = runtime.nodes[name]
            for _ in range(count):
                instance_id = str(uuid.uuid4())
                rows.append({"id": instance_id, "infra_id": infra_id, "node_name": name,
                             "resource_type": node.resource_type,
                             "resource_config": node.resource, "execution_id": execution_id})
                tasks.append(Task(instance_id, name))
        error = None
        if rows:
            self.store.instances.add_intents(rows)
            ready: dict[str, list[Address]] = {}
            for inst in self.store.instances.for_infra(infra_id):
                if inst.state == InstanceState.READY:
                    ready.setdefault(inst.node_name, []).append(self._address(inst))
            outcome = CreateExecutor(self.store, self.registry, runtime,
                                     execution_id=execution_id,
                                     concurrency=self.settings.concurrency,
                                     create_timeout=self.settings.create_timeout).run(tasks, ready)
            result.created = sum(1 for t in outcome.tasks if t.ready_at is not None)
            error = outcome.error
            for task in outcome.tasks:
                if task.error:
                    self.store.events.add("instance_failed", f"{task.node_name} "
                                          f"{task.instance_id}: {task.error}", infra_id=infra_id,
                                          execution_id=execution_id)
        # Anything this execution left PENDING is dropped with the rest.
        to_drop = {d.id: d for d in drops}
        for inst in self.store.instances.for_infra(infra_id):
            if inst.execution_id == execution_id and inst.state in (
                    InstanceState.PENDING, InstanceState.FAILED):
                to_drop[inst.id] = inst
        drop = DropExecutor(self.store, self.registry, runtime.dependents,
                            execution_id=execution_id, concurrency=self.settings.concurrency,
                            destroy_timeout=self.settings.destroy_timeout
                            ).run(list(to_drop.values()))
        result.dropped = sum(1 for t in drop.tasks if not t.error)
        for inst in drops:
            self.store.events.add("instance_dropped", f"{inst.node_name} {inst.id} dropped"
                                  + (f" ({inst.reason})" if inst.reason else ""),
                                  infra_id=infra_id, execution_id=execution_id)
        all_tasks = tasks + drop.tasks
        status = ExecutionStatus.FAILED if error or drop.left else ExecutionStatus.TERMINATED
        message = str(error) if error else (
            "could not drop: " + ", ".join(i for i, _ in drop.left) if drop.left else None)
        instances = self.store.instances.for_infra(infra_id)
        report = execution_report(
            infra=self.store.infras.get(infra_id), infra_id=infra_id,
            execution_id=execution_id, workflow="maintain", status=str(status), error=message,
            started_at=started, ended_at=time.time(), nodes=self.store.infras.nodes(infra_id),
            instances=instances, tasks=all_tasks,
            dependees={n.name: n.dependees for n in runtime.nodes.values()},
            base_url=self.base_url, consoles=gather_consoles(self.registry, instances))
        self.store.executions.save_tasks([t.record(execution_id) for t in all_tasks])
        self.store.executions.finish(execution_id, status, error=message, report=report)
        self.publish("maintain_report", report)
