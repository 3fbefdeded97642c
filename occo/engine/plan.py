"""The planner: wanted description + observed instances in, actions out.

Pure: no store, no handlers, no clock. Unit-tested from data files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    node_type: str


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


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def plan_build(wanted: list[WantedNode], observed: list[ObservedInstance],
               previous_targets: dict[str, int] | None = None,
               previous_types: dict[str, str] | None = None) -> Plan:
    """Plan a build (no previous state) or an update of an existing infrastructure.

    A kept node keeps its target, clamped into the new bounds; a new node
    starts at its min; a node whose type changed is rebuilt; a node no longer
    described loses every instance.
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
        targets[node.name] = target
        if len(live) < target:
            create[node.name] = target - len(live)
        elif len(live) > target:
            drop.extend(i.id for i in drop_order(live)[: len(live) - target])
    return Plan(create=create, drop=tuple(drop), targets=targets)
