"""The planner: wanted state + observed instances in, actions out.

Two decisions, one vocabulary: :func:`plan_build` (a build or an update of a
description) and :func:`plan_maintenance` (one maintenance pass: judge probe
results, hold the brake, fold in scaling requests, meet each target).
Pure: no store, no handlers, no clock. Unit-tested from data files
(``tests/plans/*.yaml`` and ``tests/plans/maintain/*.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from occo.engine.scaling import Bounds, Request, ScalingDecision, apply_requests, clamp
from occo.model.states import InstanceState


@dataclass(frozen=True)
class WantedNode:
    name: str
    node_type: str
    min: int
    max: int
    dependees: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedInstance:
    id: str
    node_name: str
    state: InstanceState
    created_at: float
    node_type: str = ""
    state_since: float = 0.0
    unhealthy_since: float | None = None
    ready_at: float | None = None


@dataclass(frozen=True)
class Plan:
    """Counts to create per node, instances to drop, and each node's target."""

    create: dict[str, int] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    targets: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.create.values()) and not self.drop


_DROP_FIRST = (InstanceState.FAILED, InstanceState.UNKNOWN, InstanceState.UNHEALTHY,
               InstanceState.PENDING, InstanceState.CREATING, InstanceState.BOOTING)


def drop_order(instances: list[ObservedInstance]) -> list[ObservedInstance]:
    """Which instances to give up first: broken ones, then the youngest."""
    def key(inst: ObservedInstance) -> tuple[int, float]:
        rank = _DROP_FIRST.index(inst.state) if inst.state in _DROP_FIRST else len(_DROP_FIRST)
        return (rank, -inst.created_at)
    return sorted(instances, key=key)


def _fit(live: list[ObservedInstance], target: int) -> tuple[int, list[str]]:
    """How many to create, or which to drop, so that ``live`` meets ``target``."""
    if len(live) < target:
        return target - len(live), []
    return 0, [i.id for i in drop_order(live)[: len(live) - target]]


def plan_build(wanted: list[WantedNode], observed: list[ObservedInstance],
               previous_targets: dict[str, int] | None = None,
               previous_types: dict[str, str] | None = None) -> Plan:
    """Plan a build (no previous state) or an update of an existing infrastructure.

    A kept node keeps its target, clamped into the new bounds, and its failed
    instances are replaced; a new node starts at its min; a node whose type
    changed is rebuilt; a node no longer described loses every instance.
    """
    previous_targets = previous_targets or {}
    previous_types = previous_types or {}
    by_node: dict[str, list[ObservedInstance]] = {}
    for inst in observed:
        if inst.state != InstanceState.DESTROYED:
            by_node.setdefault(inst.node_name, []).append(inst)

    create: dict[str, int] = {}
    drop: list[str] = []
    targets: dict[str, int] = {}
    wanted_names = {w.name for w in wanted}
    for name in sorted(set(by_node) - wanted_names):
        drop.extend(i.id for i in by_node[name])

    for node in wanted:
        live = by_node.get(node.name, [])
        if node.name in previous_types and previous_types[node.name] != node.node_type:
            drop.extend(i.id for i in live)
            live = []
            target = node.min
        else:
            target = clamp(previous_targets.get(node.name, node.min), node.min, node.max)
            drop.extend(i.id for i in live if i.state == InstanceState.FAILED)  # replaced
            live = [i for i in live if i.state != InstanceState.FAILED]
        targets[node.name] = target
        missing, excess = _fit(live, target)
        if missing:
            create[node.name] = missing
        drop.extend(excess)
    return Plan(create=create, drop=tuple(drop), targets=targets)


# -- maintenance ---------------------------------------------------------------------------

class Verdict(StrEnum):
    """What one probe of an instance found."""

    READY = "ready"
    WAIT = "wait"
    FAILED = "failed"
    GONE = "gone"


@dataclass(frozen=True)
class Probe:
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class MaintainedNode:
    name: str
    min: int
    max: int
    target: int
    health_timeout: float | None = None   # the node's health_check.timeout, if it sets one


@dataclass(frozen=True)
class MaintenancePolicy:
    create_timeout: float = 600.0
    unhealthy_timeout: float = 600.0
    brake_share: float = 0.5
    brake_min_failed: int = 3
    ignore_brake: bool = False


@dataclass(frozen=True)
class Transition:
    """Move one instance to ``state``; ``fields`` are the columns that go with it."""

    instance_id: str
    state: InstanceState
    reason: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MaintenancePlan:
    transitions: tuple[Transition, ...] = ()
    brake: str | None = None                 # why nothing is replaced this pass
    scaling: ScalingDecision | None = None   # set when requests were folded in
    targets: dict[str, int] = field(default_factory=dict)
    create: dict[str, int] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Transition, ...]:
        """Instances this pass found failed (scale-downs are not failures)."""
        return tuple(t for t in self.transitions if t.state == InstanceState.FAILED)

    @property
    def acts(self) -> bool:
        return bool(any(self.create.values()) or self.drop)


# Not counted towards a node's size: on their way out.
NOT_COUNTED = frozenset({InstanceState.FAILED, InstanceState.DESTROYED,
                         InstanceState.DESTROYING})
SCALE_DOWN_REASON = "scale-down requested"


def orphan_transition(inst: ObservedInstance, adopted: bool) -> Transition:
    """A half-created instance whose creator is gone: adopt the resource it got,
    or fail it (to be dropped and replaced) when it got none."""
    if adopted:
        return Transition(inst.id, InstanceState.BOOTING,
                          "adopted: its creator died after creating it")
    reason = f"its creator died while it was {inst.state}"
    return Transition(inst.id, InstanceState.FAILED, reason, {"reason": reason})


def _judge(inst: ObservedInstance, probe: Probe | None, orphan: bool | None,
           timeout: float, now: float, policy: MaintenancePolicy) -> Transition | None:
    """One instance's change of state this pass, if any."""
    if orphan is not None:
        return orphan_transition(inst, orphan)
    if inst.state in (InstanceState.PENDING, InstanceState.CREATING):
        if now - inst.created_at <= policy.create_timeout:
            return None
        reason = f"stuck {inst.state} for longer than {policy.create_timeout:g} s"
    elif probe is None:
        return None
    elif probe.verdict in (Verdict.FAILED, Verdict.GONE):
        reason = probe.reason
    elif probe.verdict == Verdict.READY:
        if inst.state == InstanceState.READY:
            return None
        return Transition(inst.id, InstanceState.READY, "",
                          {"unhealthy_since": None, "ready_at": inst.ready_at or now})
    else:
        since = inst.unhealthy_since or (
            inst.state_since if inst.state in (InstanceState.BOOTING, InstanceState.UNKNOWN)
            else now)
        if now - since <= timeout:
            if inst.state != InstanceState.READY:
                return None
            return Transition(inst.id, InstanceState.UNHEALTHY, probe.reason,
                              {"unhealthy_since": now, "reason": probe.reason})
        reason = f"unhealthy for more than {timeout:g} s: {probe.reason}"
    return Transition(inst.id, InstanceState.FAILED, reason, {"reason": reason})


def plan_maintenance(nodes: list[MaintainedNode], instances: list[ObservedInstance],
                     probes: Mapping[str, Probe], now: float, *,
                     policy: MaintenancePolicy = MaintenancePolicy(),
                     requests: list[Request] | None = None,
                     orphans: Mapping[str, bool] | None = None) -> MaintenancePlan:
    """One maintenance pass over one infrastructure.

    ``probes``: what refreshing each instance found. ``orphans``: instances
    (pending or creating) whose creator died, each with whether its resource
    was found (then it is adopted) or not (then it fails and is replaced).
    Failed instances are dropped and replaced; scaling requests are folded
    into the targets in order; each node is then brought to its target. The
    brake holds everything but the judging when too many fail at once.
    """
    orphans = orphans or {}
    timeouts = {n.name: n.health_timeout or policy.unhealthy_timeout for n in nodes}
    transitions = []
    for inst in instances:
        change = _judge(inst, probes.get(inst.id), orphans.get(inst.id),
                        timeouts.get(inst.node_name, policy.unhealthy_timeout), now, policy)
        if change is not None:
            transitions.append(change)
    states = {i.id: i.state for i in instances} | {t.instance_id: t.state for t in transitions}
    failed = [i for i in instances if states[i.id] == InstanceState.FAILED]
    targets = {n.name: n.target for n in nodes}
    if not policy.ignore_brake and len(failed) >= policy.brake_min_failed and \
            len(failed) > policy.brake_share * max(1, len(instances)):
        return MaintenancePlan(tuple(transitions), targets=targets, brake=(
            f"{len(failed)} of {len(instances)} instances failed at once; "
            "no replacement or scaling until fewer fail"))

    live: dict[str, list[ObservedInstance]] = {}
    for inst in instances:
        if states[inst.id] not in NOT_COUNTED:
            live.setdefault(inst.node_name, []).append(inst)
    scaling = None
    if requests:
        scaling = apply_requests(requests, {n.name: Bounds(n.min, n.max) for n in nodes},
                                 targets, {k: {i.id for i in v} for k, v in live.items()})
        targets = scaling.targets
        dropped = set(scaling.targeted_drops)
        for name in live:
            live[name] = [i for i in live[name] if i.id not in dropped]

    create: dict[str, int] = {}
    drop = [i.id for i in failed] + (list(scaling.targeted_drops) if scaling else [])
    for node in nodes:
        missing, excess = _fit(live.get(node.name, []), targets[node.name])
        if missing:
            create[node.name] = missing
        drop.extend(excess)
    return MaintenancePlan(tuple(transitions), scaling=scaling, targets=targets,
                           create=create, drop=tuple(drop))
