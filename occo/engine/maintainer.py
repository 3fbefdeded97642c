"""Maintenance passes: keep each infrastructure healthy and at its wanted size.

A pass over one infrastructure takes its lease, refreshes every instance
(:mod:`occo.engine.refresh`), lets the pure :func:`plan_maintenance` decide
(failures, the brake, scaling requests, what to create and drop), writes the
decision — pending scaling requests are marked applied in the same
transaction that stores the new targets, so each is applied exactly once —
and carries it out as one execution (:class:`occo.engine.recorder.Run`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from occo.engine.leasing import (
    held_lease,
    held_leases,
    holder_is_dead,
    lease_lost_message,
    make_holder,
)
from occo.engine.lifecycle import observed_instances, stored_runtime
from occo.engine.orphans import HALF_CREATED, find_orphans
from occo.engine.plan import (
    MaintainedNode,
    MaintenancePlan,
    MaintenancePolicy,
    Probe,
    plan_maintenance,
)
from occo.engine.recorder import Limits, Publish, Run
from occo.engine.refresh import recover, refresh
from occo.engine.runtime import InfraRuntime
from occo.engine.scaling import Request
from occo.errors import NotFound
from occo.model.states import ExecutionStatus, InfraState, InstanceState
from occo.model.vocabulary import ScalingKind, Workflow
from occo.registry import PluginRegistry
from occo.resources.base import CreateResult
from occo.store.records import InfraRecord, InstanceRecord, NodeRecord
from occo.store.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Connection


SURVEY_CHUNK = 200   # infrastructures looked at together by run_pass


@dataclass(frozen=True)
class MaintainSettings(MaintenancePolicy):
    """The decision's policy, and how passes carry it out."""

    concurrency: int = 10
    destroy_timeout: float = 300.0
    lease_ttl: float = 30.0


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
    status: ExecutionStatus = ExecutionStatus.TERMINATED
    error: str | None = None

    @property
    def acted(self) -> bool:
        return bool(self.created or self.dropped or self.failed or self.applied_requests
                    or self.brake)


def _summary(result: PassResult) -> dict[str, Any]:
    """What a pass's execution record keeps of it."""
    return {"failed": result.failed, "applied_requests": result.applied_requests,
            "brake": result.brake}


def _maintained(node: NodeRecord, runtime: InfraRuntime) -> MaintainedNode:
    spec = runtime.nodes.get(node.name)
    timeout = spec.health_check.get("timeout") if spec else None
    return MaintainedNode(node.name, node.min, node.max, node.target,
                          float(timeout) if timeout else None)


@dataclass
class _Pass:
    """What one pass observed, and what it decided."""

    infra: InfraRecord
    runtime: InfraRuntime
    nodes: list[MaintainedNode]
    instances: list[InstanceRecord]
    probes: dict[str, Probe]
    orphans: dict[str, bool]
    recovered: dict[str, CreateResult]
    now: float
    plan: MaintenancePlan = field(default_factory=MaintenancePlan)

    def decide(self, policy: MaintenancePolicy, requests: list[Request] | None = None) -> None:
        self.plan = plan_maintenance(self.nodes, observed_instances(self.instances),
                                     self.probes, self.now, policy=policy,
                                     requests=requests, orphans=self.orphans)


class Maintainer:
    def __init__(self, store: Store, registry: PluginRegistry, settings: MaintainSettings,
                 holder: str | None = None, publish: Publish | None = None,
                 base_url: str | None = None) -> None:
        self.base_url = base_url
        self.publish: Publish = publish or (lambda _event, _report: None)
        self.store = store
        self.registry = registry
        self.settings = settings
        self.holder = holder or make_holder()

    # -- passes -------------------------------------------------------------------------
    def run_pass(self, infra_ids: list[str] | None = None) -> list[PassResult]:
        """One pass over the given (default: every) infrastructure.

        Most passes find nothing to do. The infrastructures are first looked at
        together, in chunks, under leases taken together, so such an idle pass
        costs a few statements per chunk instead of a dozen per infrastructure;
        each of the others (something to change, to apply or to resolve, a lease
        held elsewhere) then gets a full pass of its own (:meth:`pass_over`).
        """
        if infra_ids is None:
            infra_ids = [i.id for i in self.store.infras.list()]
        idle: dict[str, PassResult] = {}
        for start in range(0, len(infra_ids), SURVEY_CHUNK):
            idle.update(self._idle_passes(infra_ids[start:start + SURVEY_CHUNK]))
        return [idle.get(infra_id) or self.pass_over(infra_id) for infra_id in infra_ids]

    def _idle_passes(self, infra_ids: list[str]) -> dict[str, PassResult]:
        """The passes over ``infra_ids`` that find nothing to do, recorded together."""
        with held_leases(self.store, infra_ids, self.holder, self.settings.lease_ttl) as held:
            idle = [infra_id for infra_id, seen in self._survey(list(held)).items()
                    if not (seen.plan.transitions or seen.plan.brake or seen.plan.acts)
                    and not held[infra_id].is_set()]
            recorded = self.store.executions.record_passes(
                [(infra_id, _summary(PassResult(infra_id)), True) for infra_id in idle],
                self.holder)
        return {infra_id: PassResult(infra_id, execution_id=recorded[infra_id])
                for infra_id in idle}

    def _survey(self, infra_ids: list[str]) -> dict[str, _Pass]:
        """A first look at infrastructures whose leases are held, read together:
        the decision for each that needs no full pass to tell (ready or failed, no
        request pending, nothing half-created, nothing a dead process left)."""
        if not infra_ids:
            return {}
        infras = self.store.infras.get_many(infra_ids)
        left_behind = {infra_id for infra_id, holder in
                       self.store.executions.started_holders(infra_ids)
                       if holder_is_dead(holder)}
        requested = self.store.scaling.infras_with_pending(infra_ids)
        nodes = self.store.infras.nodes_of(infra_ids)
        instances: dict[str, list[InstanceRecord]] = {}
        for inst in self.store.instances.for_infras(infra_ids):
            instances.setdefault(inst.infra_id, []).append(inst)
        looked_at = []
        for infra in infras:
            mine = instances.get(infra.id, [])
            if infra.state in (InfraState.READY, InfraState.FAILED) \
                    and infra.id not in left_behind and infra.id not in requested \
                    and not any(i.state in HALF_CREATED for i in mine):
                rows = nodes.get(infra.id, [])
                looked_at.append((infra, rows, stored_runtime(infra, rows), mine))
        probes = refresh(self.registry, [(runtime, mine) for _, _, runtime, mine in looked_at],
                         self.settings.concurrency)
        out = {}
        now = time.time()
        for infra, rows, runtime, mine in looked_at:
            seen = _Pass(infra, runtime, [_maintained(n, runtime) for n in rows], mine, probes,
                         {}, {}, now)
            seen.decide(self.settings)
            out[infra.id] = seen
        return out

    def pass_over(self, infra_id: str, *, execution_id: str | None = None,
                  workflow: Workflow = Workflow.MAINTAIN,
                  under_lease: Callable[[], None] | None = None) -> PassResult:
        """One pass; with ``execution_id`` (a queued scale or maintain execution),
        the pass runs as that execution and always writes its report.
        ``under_lease`` runs once the lease is held, before the pass looks at
        requests (a scale execution records its request there, so no other
        pass applies it first)."""
        with held_lease(self.store, infra_id, self.holder, self.settings.lease_ttl) as lost:
            if lost is None:
                return PassResult(infra_id, skipped="lease held by another run "
                                  "(a build, a pass or an orchestration)")
            try:
                infra = self.store.infras.get(infra_id)
            except NotFound:
                return PassResult(infra_id, skipped="infrastructure is gone")
            if infra.state not in (InfraState.READY, InfraState.FAILED):
                return PassResult(infra_id, skipped=f"infrastructure is {infra.state}")
            if under_lease is not None:
                under_lease()
            result = self._maintain(infra, lost, execution_id, workflow)
            if result.execution_id is None and not result.skipped:
                self._record_pass(result)
            return result

    def _record_pass(self, result: PassResult) -> None:
        """Every pass is an execution; a run of idle passes shares one record
        (its ``passes`` count and end time grow), so the log stays readable."""
        result.execution_id = self.store.executions.record_pass(
            result.infra_id, self.holder, _summary(result), idle=not result.acted)

    def _observe(self, infra: InfraRecord) -> _Pass:
        """Read and refresh one infrastructure; resolve what dead runs half-created."""
        nodes = self.store.infras.nodes(infra.id)
        runtime = stored_runtime(infra, nodes)
        instances = self.store.instances.for_infra(infra.id)
        orphaned = find_orphans(self.store, instances, self.holder)
        recovered = recover(self.registry, orphaned)
        orphans = {i.id: bool(i.resource_id) or i.id in recovered for i in orphaned}
        probes = refresh(self.registry, [(runtime, instances)], self.settings.concurrency)
        return _Pass(infra, runtime, [_maintained(n, runtime) for n in nodes], instances,
                     probes, orphans, recovered, time.time())

    def _maintain(self, infra: InfraRecord, lost: threading.Event, execution_id: str | None,
                  workflow: Workflow) -> PassResult:
        result = PassResult(infra.id)
        seen = self._observe(infra)
        seen.decide(self.settings)
        if not seen.plan.brake and not lost.is_set() and self._requests_pending(infra.id):
            with self.store.write() as conn:   # requests are applied with the decision
                pending = self.store.scaling.pending(infra.id, conn)
                seen.decide(self.settings, [
                    Request(r.id, r.node_name, ScalingKind(r.kind), r.count, r.target_instance)
                    for r in pending])
                self._write(seen, conn, result)
        elif seen.plan.transitions or seen.plan.brake:   # an idle pass takes no write lock
            with self.store.write() as conn:
                self._write(seen, conn, result)
        if seen.plan.brake and execution_id is None:
            return result       # a queued execution (a trigger's) is the pass: it gets a report
        if lost.is_set():
            return replace(result, skipped="lease lost")
        if not seen.plan.acts and execution_id is None:
            return result
        self._execute(seen, result, execution_id, workflow, lost)
        return result

    def _requests_pending(self, infra_id: str) -> bool:
        with self.store.read() as conn:  # the common case: nothing pending, no write lock
            return bool(self.store.scaling.pending(infra_id, conn))

    def _write(self, seen: _Pass, conn: Connection, result: PassResult) -> None:
        """The decision's state changes, events and applied requests, in one transaction."""
        plan, infra_id = seen.plan, seen.infra.id
        changes = []
        for change in plan.transitions:
            fields = dict(change.fields)
            found = seen.recovered.get(change.instance_id)
            if found is not None and change.state == InstanceState.BOOTING:
                fields.update(resource_id=found.resource_id, resource_data=found.data)
            changes.append((change.instance_id, change.state, fields))
        self.store.instances.transition_batch(conn, changes)
        events = self.store.events
        node_of = {i.id: i.node_name for i in seen.instances}
        for change in plan.failed:
            result.failed.append(change.instance_id)
            events.add("instance_failed", f"{node_of[change.instance_id]} "
                       f"{change.instance_id}: {change.reason}", infra_id=infra_id, conn=conn)
        if plan.brake:
            result.brake = True
            events.add("brake_engaged", plan.brake, infra_id=infra_id, conn=conn)
        decision = plan.scaling
        if decision is None:
            return
        targets = {n.name: n.target for n in seen.nodes}
        for node_name, target in decision.targets.items():
            if target != targets[node_name]:
                self.store.infras.set_target(infra_id, node_name, target, conn=conn)
        for instance_id in decision.targeted_drops:
            self.store.instances.transition_in(conn, instance_id, InstanceState.FAILED,
                                               reason="scale-down requested")
        for request_id, text in decision.outcomes:
            self.store.scaling.mark_applied(conn, request_id, text)
            kind = "request_clamped" if request_id in decision.clamped else "request_applied"
            events.add(kind, f"scaling request {request_id}: {text}", infra_id=infra_id,
                       conn=conn)
        result.applied_requests = len(decision.outcomes)

    # -- carrying the decision out -----------------------------------------------------
    def _execute(self, seen: _Pass, result: PassResult, execution_id: str | None,
                 workflow: Workflow, lost: threading.Event) -> None:
        """Creates first, then drops; one execution records both."""
        plan = seen.plan
        run = Run.start(self.store, self.registry, seen.infra.id, workflow, holder=self.holder,
                        execution_id=execution_id, creator=self.holder,
                        parameters={"creates": plan.create, "drops": list(plan.drop)},
                        limits=Limits(self.settings.concurrency, self.settings.create_timeout,
                                      self.settings.destroy_timeout),
                        runtime=seen.runtime, base_url=self.base_url, publish=self.publish,
                        cancel=lost, lease_lost=lost)
        result.execution_id = run.execution_id
        error = None
        creates = run.record_intents(plan.create)
        if creates:
            outcome = run.create(creates)
            result.created = sum(1 for t in outcome.tasks if t.ready_at is not None)
            error = outcome.error
        if lost.is_set():   # another may own it now: touch nothing more
            result.status, result.error = ExecutionStatus.CANCELLED, lease_lost_message(
                seen.infra.id)
            run.finish(result.status, result.error)
            return
        # Anything this execution left PENDING or FAILED is dropped with the rest.
        wanted = set(plan.drop)
        to_drop = [i for i in self.store.instances.for_infra(seen.infra.id)
                   if i.id in wanted or (i.execution_id == run.execution_id and i.state in (
                       InstanceState.PENDING, InstanceState.FAILED))]
        drop = run.drop(to_drop)
        result.dropped = sum(1 for t in drop.tasks if not t.error)
        result.status = ExecutionStatus.FAILED if error or drop.left \
            else ExecutionStatus.TERMINATED
        result.error = str(error) if error else (
            "could not drop: " + ", ".join(i for i, _ in drop.left) if drop.left else None)
        run.finish(result.status, result.error)
