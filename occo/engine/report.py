"""Reports: the JSON that says what happened to every node and instance.

Pure functions over records, so a 1,000-instance report costs one pass.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from occo.engine.tasks import Task, TaskAction
from occo.model.states import InstanceState
from occo.store.records import InfraRecord, InstanceRecord, NodeRecord

COUNTED_STATES = frozenset(set(InstanceState) - {InstanceState.DESTROYED})


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 4) if start is not None and end is not None else None


def iso_utc(ts: float | None) -> str | None:
    """POSIX seconds as an ISO 8601 UTC string (what reports and logs carry)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class InstanceLike(Protocol):
    """What a report reads of an instance (a full record or a brief one)."""

    @property
    def id(self) -> str: ...
    @property
    def node_name(self) -> str: ...
    @property
    def state(self) -> InstanceState: ...
    @property
    def address(self) -> str | None: ...


def occopus_report(nodes: list[NodeRecord], instances: Iterable[InstanceLike],
                   node_filter: str | None = None) -> dict[str, Any]:
    """The Occopus shape: ``{node: {instances: {id: {...}}, scaling: {...}}}``."""
    out: dict[str, Any] = {}
    for node in nodes:
        if node_filter and node.name != node_filter:
            continue
        out[node.name] = {"instances": {},
                          "scaling": {"actual": 0, "target": node.target,
                                      "min": node.min, "max": node.max}}
    for inst in instances:
        entry = out.get(inst.node_name)
        if entry is None or inst.state not in COUNTED_STATES:
            continue
        entry["instances"][inst.id] = {"resource_address": inst.address,
                                       "state": str(inst.state)}
        entry["scaling"]["actual"] += 1
    return out


def critical_path(tasks: list[Task], dependees: Mapping[str, tuple[str, ...]]) -> list[Task]:
    """The chain of ready instances that decided when the build finished.

    Walk back from the last instance to become ready, each time to the
    latest-ready instance of the nodes it depended on.
    """
    ready = [t for t in tasks if t.ready_at is not None]
    if not ready:
        return []
    latest: dict[str, Task] = {}
    for task in ready:
        best = latest.get(task.node_name)
        if best is None or (task.ready_at or 0) > (best.ready_at or 0):
            latest[task.node_name] = task
    path = [max(ready, key=lambda t: t.ready_at or 0)]
    while True:
        parents = [latest[d] for d in dependees.get(path[-1].node_name, ()) if d in latest]
        if not parents:
            break
        path.append(max(parents, key=lambda t: t.ready_at or 0))
    return list(reversed(path))


def task_timings(task: Task, origin: float | None) -> dict[str, Any]:
    return {
        "queued": _span(task.queued_at, task.started_at),
        "create_call": _span(task.started_at, task.created_at),
        "boot": _span(task.created_at, task.ready_at),
        "ready_after": _span(origin, task.ready_at),
        "drop": _span(task.started_at, task.ended_at)
        if task.action == TaskAction.DESTROY else None,
    }


@dataclass(frozen=True)
class RunFacts:
    """An execution's own facts, as its report states them."""

    infra_id: str
    execution_id: str
    workflow: str
    status: str
    error: str | None
    started_at: float
    ended_at: float | None
    base_url: str | None = None


@dataclass(frozen=True)
class InfraSnapshot:
    """The infrastructure as the report describes it."""

    infra: InfraRecord | None
    nodes: list[NodeRecord]
    instances: list[InstanceRecord]
    dependees: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    consoles: Mapping[str, str] = field(default_factory=dict)


def execution_report(run: RunFacts, snapshot: InfraSnapshot,
                     tasks: list[Task]) -> dict[str, Any]:
    """Every node and instance with status, timings, critical path and links."""
    infra_id, started_at, base_url = run.infra_id, run.started_at, run.base_url
    by_instance = {t.instance_id: t for t in tasks}
    node_entries: dict[str, Any] = {
        n.name: {"type": n.node_type,
                 "scaling": {"min": n.min, "max": n.max, "target": n.target, "actual": 0},
                 "instances": {}}
        for n in snapshot.nodes}
    seen: set[str] = set()
    for inst in snapshot.instances:
        seen.add(inst.id)
        entry = node_entries.setdefault(inst.node_name, {"instances": {}, "scaling": {}})
        if inst.state in COUNTED_STATES and "actual" in entry["scaling"]:
            entry["scaling"]["actual"] += 1
        task = by_instance.get(inst.id)
        entry["instances"][inst.id] = {
            "state": str(inst.state),
            "task": str(task.status) if task else None,
            "resource_type": inst.resource_type,
            "resource_id": inst.resource_id,
            "resource_address": inst.address,
            "private_address": inst.private_address,
            "error": (task.error if task else None) or inst.reason,
            "timings": task_timings(task, started_at) if task else None,
            "links": {"rest": f"{base_url}/infrastructures/{infra_id}/instances/{inst.id}"
                      if base_url else f"occo://{infra_id}/{inst.id}",
                      "console": snapshot.consoles.get(inst.id)},
        }
    path = critical_path([t for t in tasks if t.action == TaskAction.CREATE],
                         snapshot.dependees)
    return {
        "infra_id": infra_id,
        "infra_name": snapshot.infra.name if snapshot.infra else None,
        "execution_id": run.execution_id,
        "workflow": str(run.workflow),
        "status": str(run.status),
        "error": run.error,
        "started_at": iso_utc(started_at),
        "ended_at": iso_utc(run.ended_at),
        "duration": _span(started_at, run.ended_at),
        "nodes": node_entries,
        "critical_path": [{"instance_id": t.instance_id, "node": t.node_name,
                           **task_timings(t, started_at)} for t in path],
        "critical_path_seconds": _span(started_at, path[-1].ready_at) if path else None,
        "unrecorded_tasks": [t.instance_id for t in tasks if t.instance_id not in seen],
    }
