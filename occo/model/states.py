"""Every lifecycle state of occo, with its allowed transitions in one place.

The store refuses any transition not listed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from occo.errors import IllegalTransition


class InstanceState(StrEnum):
    """Life of one node instance, from intent to gone."""

    PENDING = "pending"          # intent recorded, handler not yet called
    CREATING = "creating"        # handler create() in flight
    BOOTING = "booting"          # resource exists, not yet ready
    READY = "ready"              # running, contextualised, healthy
    UNHEALTHY = "unhealthy"      # was ready, health check now failing
    FAILED = "failed"            # will not become ready; to be dropped
    DESTROYING = "destroying"    # handler destroy() in flight
    DESTROYED = "destroyed"      # confirmed gone
    UNKNOWN = "unknown"          # could not be determined


class InfraState(StrEnum):
    """Life of a whole infrastructure."""

    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"


class ExecutionStatus(StrEnum):
    """Status of an execution (a build, destroy, scale, maintenance pass...)."""

    PENDING = "pending"
    QUEUED = "queued"
    STARTED = "started"
    TERMINATED = "terminated"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_EXECUTION_STATUSES


class TaskStatus(StrEnum):
    """One instance's step within an execution (a create or a destroy)."""

    PENDING = "pending"
    CREATING = "creating"
    BOOTING = "booting"
    READY = "ready"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    DISCARDED = "discarded"          # dropped, but no resource had ever been created
    FAILED = "failed"


class ResourceState(StrEnum):
    """What a resource handler reports, translated at the handler's edge."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    GONE = "gone"
    UNKNOWN = "unknown"


TERMINAL_EXECUTION_STATUSES = frozenset(
    {ExecutionStatus.TERMINATED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)

_I = InstanceState
INSTANCE_TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    _I.PENDING: frozenset({_I.CREATING, _I.DESTROYED, _I.FAILED}),
    _I.CREATING: frozenset({_I.BOOTING, _I.READY, _I.FAILED, _I.DESTROYING, _I.UNKNOWN}),
    _I.BOOTING: frozenset({_I.READY, _I.FAILED, _I.DESTROYING, _I.UNKNOWN}),
    _I.READY: frozenset({_I.UNHEALTHY, _I.FAILED, _I.DESTROYING, _I.UNKNOWN}),
    _I.UNHEALTHY: frozenset({_I.READY, _I.FAILED, _I.DESTROYING, _I.UNKNOWN}),
    _I.FAILED: frozenset({_I.DESTROYING, _I.DESTROYED}),
    _I.DESTROYING: frozenset({_I.DESTROYED, _I.FAILED, _I.UNKNOWN}),
    _I.DESTROYED: frozenset(),
    _I.UNKNOWN: frozenset({_I.READY, _I.UNHEALTHY, _I.FAILED, _I.DESTROYING, _I.DESTROYED}),
}

_F = InfraState
INFRA_TRANSITIONS: dict[InfraState, frozenset[InfraState]] = {
    _F.BUILDING: frozenset({_F.READY, _F.FAILED, _F.DESTROYING}),
    _F.READY: frozenset({_F.BUILDING, _F.FAILED, _F.DESTROYING}),
    _F.FAILED: frozenset({_F.BUILDING, _F.READY, _F.DESTROYING}),
    _F.DESTROYING: frozenset({_F.DESTROYED, _F.FAILED, _F.DESTROYING}),
    _F.DESTROYED: frozenset(),
}

_E = ExecutionStatus
EXECUTION_TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    _E.PENDING: frozenset({_E.QUEUED, _E.STARTED, _E.CANCELLED}),
    _E.QUEUED: frozenset({_E.STARTED, _E.CANCELLED}),
    _E.STARTED: frozenset({_E.TERMINATED, _E.FAILED, _E.CANCELLED, _E.QUEUED}),  # force-resume
    _E.TERMINATED: frozenset(),
    _E.FAILED: frozenset({_E.QUEUED, _E.STARTED}),       # resume
    _E.CANCELLED: frozenset({_E.QUEUED, _E.STARTED}),    # resume
}

_T = TaskStatus
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _T.PENDING: frozenset({_T.CREATING, _T.DESTROYING, _T.FAILED}),
    _T.CREATING: frozenset({_T.BOOTING, _T.READY, _T.FAILED}),
    _T.BOOTING: frozenset({_T.READY, _T.FAILED}),
    _T.READY: frozenset(),
    _T.DESTROYING: frozenset({_T.DESTROYED, _T.DISCARDED, _T.FAILED}),
    _T.DESTROYED: frozenset(),
    _T.DISCARDED: frozenset(),
    _T.FAILED: frozenset(),
}

# Instances that hold (or may hold) a resource that must be cleaned up.
LIVE_INSTANCE_STATES = frozenset(set(InstanceState) - {_I.DESTROYED})


def check_transition(kind: str, table: Mapping[Any, Any], old: StrEnum, new: StrEnum) -> None:
    """Raise IllegalTransition unless ``old -> new`` is allowed (same state is a no-op)."""
    if old == new:
        return
    if new not in table[old]:
        raise IllegalTransition(f"{kind} cannot go from {old} to {new}")


class JobTaskStatus(StrEnum):
    """One orchestration job on one instance (a task of an ``orchestrate`` execution)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"          # succeeded before with the same content (the cache)
    CANCELLED = "cancelled"      # not run: an earlier job failed there, or a cancel

    @property
    def is_terminal(self) -> bool:
        return self in (JobTaskStatus.SUCCEEDED, JobTaskStatus.FAILED, JobTaskStatus.SKIPPED,
                        JobTaskStatus.CANCELLED)


_J = JobTaskStatus
JOB_TASK_TRANSITIONS: dict[JobTaskStatus, frozenset[JobTaskStatus]] = {
    _J.QUEUED: frozenset({_J.RUNNING, _J.CANCELLED}),
    _J.RUNNING: frozenset({_J.SUCCEEDED, _J.FAILED, _J.QUEUED}),   # queued: resumed after a crash
    _J.SUCCEEDED: frozenset(),
    _J.FAILED: frozenset({_J.QUEUED}),                              # resume
    _J.SKIPPED: frozenset(),
    _J.CANCELLED: frozenset({_J.QUEUED}),                           # resume
}
