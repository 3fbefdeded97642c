"""Executions: every build, destroy, scaling and maintenance run, with its tasks.

``POST /executions/<id>`` applies an action. After a resume the service runs
the execution itself (a member of an execution group: through its group's
dispatcher, so the group's concurrency still holds).
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from occo.api import Occo
from occo.model.states import ExecutionStatus
from occo.rest.context import service
from occo.rest.schemas import (
    ActionSchema,
    ExecutionListSchema,
    ExecutionQuerySchema,
    ExecutionSchema,
)
from occo.store.records import ExecutionRecord, JobTaskRecord, TaskRecord

blp = Blueprint("executions", __name__, url_prefix="/executions",
                description="What occo did, when, and how it ended")


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 4) if start is not None and end is not None else None


def summary(record: ExecutionRecord) -> dict[str, Any]:
    return {"id": record.id, "infra_id": record.infra_id, "workflow": record.workflow,
            "status": str(record.status), "created_at": record.created_at,
            "started_at": record.started_at, "ended_at": record.ended_at,
            "duration": _span(record.started_at, record.ended_at),
            "creator": record.creator, "error": record.error, "group_id": record.group_id,
            "attempt": record.attempt, "requested_action": record.requested_action}


def task(record: TaskRecord) -> dict[str, Any]:
    return {"instance_id": record.instance_id, "node_name": record.node_name,
            "action": record.action, "status": str(record.status),
            "queued_at": record.queued_at, "started_at": record.started_at,
            "created_at": record.created_at, "ended_at": record.ended_at,
            "error": record.error,
            "timings": {"queued": _span(record.queued_at, record.started_at),
                        "create_call": _span(record.started_at, record.created_at),
                        "boot": _span(record.created_at, record.ended_at),
                        "total": _span(record.queued_at or record.started_at,
                                       record.ended_at)}}


def job_task(task: JobTaskRecord) -> dict[str, Any]:
    """A task as REST shows it (what the transport runs is not shown)."""
    return {"id": task.id, "job_id": task.job_id, "job": task.job,
            "instance_id": task.instance_id, "node_name": task.node_name,
            "status": str(task.status), "exit_code": task.exit_code,
            "queued_at": task.queued_at, "started_at": task.started_at,
            "ended_at": task.ended_at, "output": task.output, "error": task.error}


@blp.route("", methods=["GET"])
@blp.arguments(ExecutionQuerySchema, location="query", error_status_code=400)
@blp.response(200, ExecutionListSchema)
def list_executions(query: dict[str, Any]) -> Any:
    """Newest first; filter by infrastructure, status, workflow and execution group
    (every filter given must match), bound by "limit"."""
    records = service().occo.executions(
        infra_id=query.get("infra_id"), status=query.get("status"),
        workflow=query.get("workflow"), group_id=query.get("group_id"), limit=query["limit"])
    return {"executions": [summary(r) for r in records]}


@blp.route("/<execution_id>", methods=["GET"])
@blp.response(200, ExecutionSchema)
def show_execution(execution_id: str) -> Any:
    """Status, per-instance tasks with timings, and the stored report."""
    return detail(service().occo, execution_id)


@blp.route("/<execution_id>", methods=["POST"])
@blp.arguments(ActionSchema, location="json", error_status_code=400)
@blp.response(200, ExecutionSchema)
def execution_action(body: dict[str, Any], execution_id: str) -> Any:
    """cancel (queued: at once; started: stop and roll back), force-cancel, kill
    (no rollback), resume or force-resume (continue from the stored tasks; the
    service runs it in the background). Answers the execution as it is now."""
    ctx = service()
    ctx.occo.execution_action(execution_id, body["action"])
    if body["action"].endswith("resume") and \
            ctx.occo.execution(execution_id).status == ExecutionStatus.QUEUED:
        ctx.runs.run_execution(execution_id)
    return detail(ctx.occo, execution_id)


def detail(occo: Occo, execution_id: str) -> dict[str, Any]:
    record = occo.execution(execution_id)
    tasks = occo.execution_tasks(execution_id)
    created = [t.ended_at for t in tasks if t.action == "create" and t.ended_at]
    job_tasks = occo.job_tasks(execution_id)
    return {**summary(record), "parameters": record.parameters,
            "tasks": [task(t) for t in tasks],
            **({"job_tasks": [job_task(t) for t in job_tasks]} if job_tasks else {}),
            "timings": {"waiting": _span(record.created_at, record.started_at),
                        "running": _span(record.started_at, record.ended_at),
                        "last_create": _span(record.started_at, max(created))
                        if created else None},
            "report": record.report}
