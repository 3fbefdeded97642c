"""Per-instance tasks of an execution, with the timings a report shows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from occo.store.records import TaskRecord


class TaskStatus(StrEnum):
    PENDING = "pending"
    CREATING = "creating"
    BOOTING = "booting"
    READY = "ready"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"
    FAILED = "failed"


@dataclass
class Task:
    """Mutable while the executor runs; saved as a TaskRecord at the end."""

    instance_id: str
    node_name: str
    action: str = "create"
    status: TaskStatus = TaskStatus.PENDING
    queued_at: float | None = None
    started_at: float | None = None
    created_at: float | None = None
    ready_at: float | None = None
    ended_at: float | None = None
    error: str | None = None

    def record(self, execution_id: str) -> TaskRecord:
        return TaskRecord(execution_id=execution_id, instance_id=self.instance_id,
                          node_name=self.node_name, action=self.action, status=self.status,
                          queued_at=self.queued_at, started_at=self.started_at,
                          created_at=self.created_at,
                          ended_at=self.ready_at or self.ended_at, error=self.error)
