"""Plain, frozen records returned by the store (no ORM objects leak upward)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from occo.model.states import ExecutionStatus, InfraState, InstanceState, JobTaskStatus


@dataclass(frozen=True)
class InfraRecord:
    id: str
    name: str
    user_id: str | None
    state: InfraState
    description: dict[str, Any]
    source: str | None
    created_at: float
    updated_at: float
    attached: bool = False
    notify_url: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeRecord:
    infra_id: str
    name: str
    node_type: str
    min: int
    max: int
    target: int
    spec: dict[str, Any]
    implementation: dict[str, Any] | None


@dataclass(frozen=True)
class InstanceRecord:
    id: str
    infra_id: str
    node_name: str
    state: InstanceState
    resource_type: str
    resource_config: dict[str, Any]
    resource_id: str | None
    resource_data: dict[str, Any]
    address: str | None
    private_address: str | None
    created_at: float
    state_since: float
    ready_at: float | None
    unhealthy_since: float | None
    execution_id: str | None
    reason: str | None


@dataclass(frozen=True)
class ExecutionRecord:
    id: str
    infra_id: str | None
    workflow: str
    parameters: dict[str, Any]
    status: ExecutionStatus
    created_at: float
    started_at: float | None
    ended_at: float | None
    creator: str | None
    error: str | None
    report: dict[str, Any] | None
    group_id: str | None = None
    requested_action: str | None = None
    attempt: int = 1
    holder: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    execution_id: str
    instance_id: str
    node_name: str
    action: str
    status: str
    queued_at: float | None
    started_at: float | None
    created_at: float | None
    ended_at: float | None
    error: str | None


@dataclass(frozen=True)
class EventRecord:
    id: int
    infra_id: str | None
    execution_id: str | None
    time: float
    kind: str
    message: str
    data: dict[str, Any] | None


@dataclass(frozen=True)
class InfraGroupRecord:
    id: str
    created_at: float
    created_by: str | None
    description: str | None
    infra_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExecutionGroupRecord:
    id: str
    created_at: float
    created_by: str | None
    workflow: str
    infra_group_id: str
    concurrency: int
    default_parameters: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    success_group_id: str | None
    failure_group_id: str | None
    report: dict[str, Any] | None
    failure_report: dict[str, Any] | None


@dataclass(frozen=True)
class JobTaskRecord:
    """One orchestration job on one instance, with its own id to poll."""

    id: str
    execution_id: str
    position: int
    instance_id: str
    node_name: str
    job_id: str
    job: str
    step: dict[str, Any]
    content_hash: str
    status: JobTaskStatus
    exit_code: int | None
    queued_at: float
    started_at: float | None
    ended_at: float | None
    output: str | None
    error: str | None


@dataclass(frozen=True)
class TriggerRecord:
    """A cron trigger: a workflow, a target and a schedule (see occo.engine.triggers)."""

    name: str
    workflow: str
    infra_id: str | None
    infra_group_id: str | None
    parameters: dict[str, Any]
    concurrency: int | None
    cron: str | None
    timezone: str
    interval: float | None
    first_time: float | None
    last_time: float | None
    remaining: int | None
    grace: float
    next_fire_time: float | None
    paused: bool
    created_at: float
    created_by: str | None


@dataclass(frozen=True)
class FiringRecord:
    """One claimed firing of a trigger and what it started."""

    id: int
    trigger_name: str
    fire_time: float
    claimed_at: float
    claimed_by: str
    execution_id: str | None
    execution_group_id: str | None


class InstanceBrief(NamedTuple):
    """A live instance without its JSON columns: what a report needs."""

    id: str
    node_name: str
    state: InstanceState
    address: str | None


# Rows (column -> value, JSON columns decoded) to records; shared by the Store's
# repositories and occo.store.quick.

def infra_record(row: Mapping[str, Any]) -> InfraRecord:
    data = dict(row)
    data.pop("notify_secret", None)          # read only by the webhook sender
    data["state"] = InfraState(data["state"])
    data["attached"] = bool(data["attached"])
    data["labels"] = data["labels"] or {}
    return InfraRecord(**data)


def node_record(row: Mapping[str, Any]) -> NodeRecord:
    data = dict(row)
    data.pop("id", None)
    return NodeRecord(**data)


def instance_record(row: Mapping[str, Any]) -> InstanceRecord:
    data = dict(row)
    data.pop("scaling_token_hash", None)     # checked in the store, never handed out
    data["state"] = InstanceState(data["state"])
    data["resource_data"] = data["resource_data"] or {}
    return InstanceRecord(**data)


def event_record(row: Mapping[str, Any]) -> EventRecord:
    return EventRecord(**dict(row))
