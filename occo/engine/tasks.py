"""Per-instance tasks of an execution, with the timings a report shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from occo.model.states import TASK_TRANSITIONS, TaskStatus, check_transition
from occo.model.vocabulary import TaskAction
from occo.store.records import TaskRecord

__all__ = ["Task", "TaskAction", "TaskStatus"]


@dataclass
class Task:
    """Mutable while the executor runs; saved as a TaskRecord at the end.

    Its status moves only along ``TASK_TRANSITIONS``: an executor that tried
    to revive a failed task would raise instead of reporting it ready.
    """

    instance_id: str
    node_name: str
    action: TaskAction = TaskAction.CREATE
    status: TaskStatus = TaskStatus.PENDING
    queued_at: float | None = None
    started_at: float | None = None
    created_at: float | None = None
    ready_at: float | None = None
    ended_at: float | None = None
    error: str | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status" and "status" in self.__dict__:
            check_transition("task", TASK_TRANSITIONS, self.status, value)
        super().__setattr__(name, value)

    def record(self, execution_id: str) -> TaskRecord:
        return TaskRecord(execution_id=execution_id, instance_id=self.instance_id,
                          node_name=self.node_name, action=self.action, status=self.status,
                          queued_at=self.queued_at, started_at=self.started_at,
                          created_at=self.created_at,
                          ended_at=self.ready_at or self.ended_at, error=self.error)
