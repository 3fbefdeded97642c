"""Infrastructure groups: named sets of infrastructures that execution groups run over.

Members are added by id and/or by label (``key=value``); deleting a group or
removing a member never touches the infrastructures themselves.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from occo.errors import Conflict
from occo.rest.context import service
from occo.rest.schemas import (
    InfraGroupCreateSchema,
    InfraGroupListSchema,
    InfraGroupSchema,
    MembersAddedSchema,
    MembersAddSchema,
    MembersRemoveSchema,
)
from occo.store.records import InfraGroupRecord

blp = Blueprint("infra_groups", __name__, url_prefix="/infrastructure-groups",
                description="Named sets of infrastructures, by id or by label")


def view(record: InfraGroupRecord) -> dict[str, Any]:
    return {"id": record.id, "created_at": record.created_at,
            "created_by": record.created_by, "description": record.description,
            "infra_ids": list(record.infra_ids)}


@blp.route("")
class InfraGroups(MethodView):
    @blp.response(200, InfraGroupListSchema)
    def get(self) -> Any:
        """Every infrastructure group with its members, oldest first."""
        return {"items": [view(g) for g in service().occo.infra_groups()]}

    @blp.arguments(InfraGroupCreateSchema, location="json", error_status_code=400)
    @blp.response(201, InfraGroupSchema, headers={"Location": {
        "schema": {"type": "string"}, "description": "URL of the group"}})
    def post(self, body: dict[str, Any]) -> Any:
        """Create an empty group; 409 if the id is taken."""
        occo = service().occo
        occo.create_infra_group(body["id"], body["description"], created_by="rest")
        return (view(occo.infra_group(body["id"])), 201,
                {"Location": url_for("infra_groups.InfraGroup", group_id=body["id"])})


@blp.route("/<group_id>")
class InfraGroup(MethodView):
    @blp.response(200, InfraGroupSchema)
    def get(self, group_id: str) -> Any:
        """The group and the ids of its infrastructures."""
        return view(service().occo.infra_group(group_id))

    @blp.response(200, InfraGroupSchema, description="The group as it was; its "
                                                     "infrastructures are untouched")
    def delete(self, group_id: str) -> Any:
        """Delete the group (only the grouping: no infrastructure is changed).

        409 while an unfinished execution group has it as its success or failure
        target, since members that end would have nowhere to go.
        """
        occo = service().occo
        record = occo.infra_group(group_id)
        for group in occo.execution_groups():
            running = group["status"] == "started" or \
                (group["status"] == "pending" and group["execution_ids"])
            if running and group_id in (group["success_group_id"], group["failure_group_id"]):
                raise Conflict(f"infrastructure group '{group_id}' is a target of execution "
                               f"group {group['id']}, which has not finished")
        occo.delete_infra_group(group_id)
        return view(record)


@blp.route("/<group_id>/members")
class Members(MethodView):
    @blp.arguments(MembersAddSchema, location="json", error_status_code=400)
    @blp.response(200, MembersAddedSchema)
    def post(self, body: dict[str, Any], group_id: str) -> Any:
        """Add infrastructures by id and/or every one labelled "key=value".

        An unknown id, or nothing matched at all, is 404 and adds nothing.
        """
        occo = service().occo
        added = occo.add_to_infra_group(group_id, body["infra_ids"], body["label"])
        return {**view(occo.infra_group(group_id)), "added": added}

    @blp.arguments(MembersRemoveSchema, location="json", error_status_code=400)
    @blp.response(200, InfraGroupSchema)
    def delete(self, body: dict[str, Any], group_id: str) -> Any:
        """Remove infrastructures from the group (ids that are not members are ignored)."""
        occo = service().occo
        occo.remove_from_infra_group(group_id, body["infra_ids"])
        return view(occo.infra_group(group_id))
