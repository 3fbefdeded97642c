"""Execution groups: one workflow over every infrastructure of an infrastructure group.

Starting one records the group and a queued execution per member, answers
at once, and dispatches it in a thread of the service (at most
``concurrency`` executions started at a time; changeable live, 0 pauses).
The attributes are those of seed 000 with occo's nouns: ``infra_group_id``
for the deployment group.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from occo.errors import NotFound
from occo.rest.context import ServiceContext, service
from occo.rest.schemas import (
    ActionSchema,
    ExecutionGroupListSchema,
    ExecutionGroupPatchSchema,
    ExecutionGroupQuerySchema,
    ExecutionGroupSchema,
    ExecutionGroupStartSchema,
    ReportQuerySchema,
)

blp = Blueprint("execution_groups", __name__, url_prefix="/execution-groups",
                description="Run one workflow over many infrastructures at a bounded rate")

REPORT_RESPONSE = {"200": {"description": "The report",
                           "content": {"application/json": {"schema": {
                               "$ref": "#/components/schemas/ExecutionGroupReport"}}}}}


def _dispatch(ctx: ServiceContext, group_id: str) -> None:
    """Dispatch in the background; report links point at this service."""
    ctx.runs.dispatch_group(group_id, base_url=ctx.runs.base_url or request.url_root.rstrip("/"))


@blp.route("")
class ExecutionGroups(MethodView):
    @blp.arguments(ExecutionGroupQuerySchema, location="query", error_status_code=400)
    @blp.response(200, ExecutionGroupListSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Every execution group, oldest first; "infra_group_id" narrows to one source."""
        return {"items": service().occo.execution_groups(query.get("infra_group_id"))}

    @blp.arguments(ExecutionGroupStartSchema, location="json", error_status_code=400)
    @blp.response(201, ExecutionGroupSchema, headers={"Location": {
        "schema": {"type": "string"}, "description": "URL of the execution group"}})
    def post(self, body: dict[str, Any]) -> Any:
        """Start "workflow_id" over every infrastructure of "infra_group_id".

        Each execution gets "default_parameters" merged with its infrastructure's
        entry in "parameters". Unknown infrastructure group or target group: 404.
        """
        ctx = service()
        group = ctx.occo.start_execution_group(
            body["infra_group_id"], body["workflow_id"],
            default_parameters=body["default_parameters"], parameters=body["parameters"],
            concurrency=body["concurrency"], success_group_id=body["success_group_id"],
            failure_group_id=body["failure_group_id"], created_by="rest")
        _dispatch(ctx, group["id"])
        return (group, 201,
                {"Location": url_for("execution_groups.ExecutionGroup", group_id=group["id"])})


@blp.route("/<group_id>")
class ExecutionGroup(MethodView):
    @blp.response(200, ExecutionGroupSchema)
    def get(self, group_id: str) -> Any:
        """The group, its executions' ids and its aggregate status: pending (all
        waiting), started (some not ended), terminated (all ended, none failed),
        failed (all ended, one or more failed)."""
        return service().occo.execution_group(group_id)

    @blp.arguments(ActionSchema, location="json", error_status_code=400)
    @blp.response(200, ExecutionGroupSchema)
    def post(self, body: dict[str, Any], group_id: str) -> Any:
        """Apply an action to every member: cancel (queued ones at once), force-cancel,
        kill, resume or force-resume (the group is then dispatched again)."""
        ctx = service()
        ctx.occo.execution_group_action(group_id, body["action"])
        if body["action"].endswith("resume"):
            _dispatch(ctx, group_id)
        return ctx.occo.execution_group(group_id)

    @blp.arguments(ExecutionGroupPatchSchema, location="json", error_status_code=400)
    @blp.response(200, ExecutionGroupSchema)
    def patch(self, body: dict[str, Any], group_id: str) -> Any:
        """Change the concurrency (live; 0 pauses, raising it resumes) and/or the
        success and failure target groups (which must exist: 404 otherwise)."""
        return service().occo.update_execution_group(group_id, **body)


@blp.route("/<group_id>/report", methods=["GET"])
@blp.arguments(ReportQuerySchema, location="query", error_status_code=400)
@blp.doc(responses=REPORT_RESPONSE)
def report(query: dict[str, Any], group_id: str) -> Any:
    """The final report, else the one written at the first failure ("kind" picks one).

    Every member with its status, timings, error and links. 404 until one exists.
    """
    record = service().occo.execution_group_record(group_id)
    wanted: str | None = query.get("kind")
    found = {"final": record.report, "first_failure": record.failure_report}
    chosen = found[wanted] if wanted else (record.report or record.failure_report)
    if chosen is None:
        what = {"final": "final report", "first_failure": "first-failure report"}
        raise NotFound(f"execution group {group_id} has no {what.get(wanted or '', 'report')} "
                       f"yet")
    return chosen
