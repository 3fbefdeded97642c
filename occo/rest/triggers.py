"""Cron triggers: workflows started on a schedule (see ``occopus-triggers``).

A trigger fires in every running REST service and ``occopus-maintain
--cyclic`` (claimed in the store: once per scheduled time, whichever
process fires it); each firing is an execution created by ``trigger:<name>``.
Times are answered as POSIX seconds and as ISO 8601 in the trigger's zone.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from occo.engine.triggers import at, describe
from occo.rest.context import service
from occo.rest.schemas import (
    TriggerCreateSchema,
    TriggerDetailSchema,
    TriggerListSchema,
    TriggerSchema,
)

blp = Blueprint("cron_triggers", __name__, url_prefix="/cron-triggers",
                description="Workflows started on a schedule")

FIRINGS_SHOWN = 20


@blp.route("")
class Triggers(MethodView):
    @blp.response(200, TriggerListSchema)
    def get(self) -> Any:
        """Every trigger, by name."""
        return {"items": [describe(t) for t in service().occo.triggers()]}

    @blp.arguments(TriggerCreateSchema, location="json", error_status_code=400)
    @blp.response(201, TriggerSchema, headers={"Location": {
        "schema": {"type": "string"}, "description": "URL of the trigger"}})
    def post(self, body: dict[str, Any]) -> Any:
        """Create a trigger: a workflow, a target (infra_id or infra_group_id) and a
        schedule (cron with timezone, or interval seconds; first_time, last_time,
        count). An orchestrate trigger carries its file as "orchestration" (a list;
        ADD is refused). 409 if the name is taken."""
        parameters = dict(body["parameters"])
        if body.get("orchestration") is not None:
            parameters["orchestration"] = body["orchestration"]
            parameters["source"] = "<request>"
        trigger = service().occo.create_trigger(
            body["name"], body["workflow"], infra_id=body["infra_id"],
            infra_group_id=body["infra_group_id"], parameters=parameters,
            concurrency=body["concurrency"], cron=body["cron"], timezone=body["timezone"],
            interval=body["interval"], first_time=body["first_time"],
            last_time=body["last_time"], count=body["count"], grace=body["grace"],
            created_by="rest")
        return (describe(trigger), 201,
                {"Location": url_for("cron_triggers.Trigger", name=trigger.name)})


@blp.route("/<name>")
class Trigger(MethodView):
    @blp.response(200, TriggerDetailSchema)
    def get(self, name: str) -> Any:
        """The trigger and its latest firings, each with the execution it started."""
        occo = service().occo
        trigger = occo.trigger(name)
        firings = [{**vars(f), "fire_at": at(f.fire_time, trigger.timezone)}
                   for f in occo.trigger_firings(name, FIRINGS_SHOWN)]
        return {**describe(trigger), "firings": firings}

    @blp.response(204)
    def delete(self, name: str) -> Any:
        """Forget the trigger (the executions it started stay)."""
        service().occo.delete_trigger(name)
        return ""


@blp.route("/<name>/pause", methods=["POST"])
@blp.response(200, TriggerSchema)
def pause(name: str) -> Any:
    """Stop firing; times passing while paused are not fired later."""
    return describe(service().occo.pause_trigger(name))


@blp.route("/<name>/resume", methods=["POST"])
@blp.response(200, TriggerSchema)
def resume(name: str) -> Any:
    """Fire again, from the next scheduled time."""
    return describe(service().occo.pause_trigger(name, paused=False))
