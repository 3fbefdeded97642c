"""POST /infrastructures/<id>/orchestrations: run an orchestration file (day-2 jobs).

The body is the file itself, YAML or JSON. It is planned at once (bad input:
400, unknown infrastructure: 404, the infrastructure's lease held by a build,
a pass or another orchestration for more than a moment: 409; nothing
recorded) and answered 202 with the execution and the id of every job x
instance task; the service runs it in the background. Poll
``GET /executions/<id>`` for each task's status, exit code and output tail.
A body may not ADD files: the service's files are not the sender's.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_smorest import Blueprint

from occo.rest.bodies import SOURCE, body_text
from occo.rest.context import service
from occo.rest.executions import job_task
from occo.rest.leases import when_free
from occo.rest.schemas import OrchestrationQuerySchema, OrchestrationStartedSchema

blp = Blueprint("orchestrations", __name__, url_prefix="/infrastructures",
                description="Day-2 operations: orchestration jobs on running instances")

ORCHESTRATION_BODY = {
    "required": True,
    "description": "An orchestration file: a list of {targets, jobs} items, as YAML or JSON",
    "content": {
        "application/x-yaml": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


@blp.route("/<infra_id>/orchestrations", methods=["POST"])
@blp.arguments(OrchestrationQuerySchema, location="query", error_status_code=400)
@blp.doc(requestBody=ORCHESTRATION_BODY)
@blp.response(202, OrchestrationStartedSchema, headers={
    "Location": {"schema": {"type": "string"}, "description": "URL of the execution"}})
def start_orchestration(query: dict[str, Any], infra_id: str) -> Any:
    """Run an orchestration file on the infrastructure's ready instances.

    "restrict" names job ids (or task ids of an earlier run) to run alone,
    even when cached; "ignore_cache" runs jobs that already succeeded with the
    same content; "parallelize" works on several instances at once.
    """
    ctx = service()
    text = body_text()
    execution_id, tasks = when_free(lambda: ctx.occo.submit_orchestration(
        infra_id, text=text, source=SOURCE, restrict=tuple(query["restrict"]),
        ignore_cache=query["ignore_cache"], parallelize=query["parallelize"],
        creator="rest"))
    ctx.runs.run_execution(execution_id)
    return ({"execution_id": execution_id, "infra_id": infra_id, "status": "queued",
             "tasks": [job_task(t) for t in tasks]}, 202,
            {"Location": url_for("executions.show_execution", execution_id=execution_id)})
