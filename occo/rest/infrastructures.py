"""The Occopus endpoints under /infrastructures/, with Occopus's paths and shapes.

Differences from Occopus, on purpose: errors are real HTTP codes with a
JSON body; creating answers 201 (with a Location header) instead of 200;
DELETE answers only once every resource is confirmed gone (otherwise 500
destroy_incomplete listing what is left, and the record stays for a
retry); scaledown without an instance id answers with method "scaledown"
(the Occopus document shows "scaleup" there by mistake).
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from occo.errors import UserInputError
from occo.rest.bodies import DESCRIPTION_BODY, body_text, parse_description
from occo.rest.context import service
from occo.rest.leases import when_free
from occo.rest.schemas import (
    MAX_COUNT,
    REPORT_SCHEMA,
    InfraIdSchema,
    InfraListQuerySchema,
    InfraListSchema,
    NotifyAnswerSchema,
    NotifyBodySchema,
    ScaleSchema,
)

blp = Blueprint("infrastructures", __name__, url_prefix="/infrastructures",
                description="Build, report on, scale and destroy infrastructures "
                            "(the Occopus REST API)")



def _count_parameter(minimum: int) -> dict[str, Any]:
    return {"in": "path", "name": "count", "required": True,
            "schema": {"type": "integer", "minimum": minimum, "maximum": MAX_COUNT}}


def _count(value: int, *, minimum: int) -> int:
    if not minimum <= value <= MAX_COUNT:
        raise UserInputError(f"count must be between {minimum} and {MAX_COUNT}, not {value}")
    return value


def _link(path: str, method: str) -> dict[str, Any]:
    """An OpenAPI link from the created id to another operation on it."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{escaped}/{method}",
            "parameters": {"infra_id": "$response.body#/infraid"}}


CREATED_LINKS = {
    "report": _link("/infrastructures/{infra_id}", "get"),
    "destroy": _link("/infrastructures/{infra_id}", "delete"),
    "scaleup": _link("/infrastructures/{infra_id}/scaleup/{node}", "post"),
    "scaleupBy": _link("/infrastructures/{infra_id}/scaleup/{node}/{count}", "post"),
    "scaledown": _link("/infrastructures/{infra_id}/scaledown/{node}", "post"),
    "scaleto": _link("/infrastructures/{infra_id}/scaleto/{node}/{count}", "post"),
    "attach": _link("/infrastructures/{infra_id}/attach", "post"),
    "detach": _link("/infrastructures/{infra_id}/detach", "post"),
    "notify": _link("/infrastructures/{infra_id}/notify", "post"),
}


@blp.route("/")
class Infrastructures(MethodView):
    @blp.doc(requestBody=DESCRIPTION_BODY, responses={"201": {"links": CREATED_LINKS}})
    @blp.response(201, InfraIdSchema, description="Recorded; the build runs in the background",
                  headers={"Location": {"schema": {"type": "string"},
                                        "description": "URL of the report"}})
    def post(self) -> Any:
        """Create an infrastructure from a description and build it in the background.

        The description is validated against the imported node definitions
        first; nothing is recorded if it is invalid (400 with line and column).
        """
        ctx = service()
        desc = parse_description(body_text(), ctx.occo.config.home)
        infra_id = ctx.builds.start(desc)
        return ({"infraid": infra_id}, 201,
                {"Location": url_for("infrastructures.Infrastructure", infra_id=infra_id)})

    @blp.arguments(InfraListQuerySchema, location="query", error_status_code=400)
    @blp.response(200, InfraListSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Ids of the infrastructures this service maintains ("?all=true": every one)."""
        occo = service().occo
        ids = ([i.id for i in occo.list_infrastructures()] if query["all"]
               else occo.attached_infrastructures())
        return {"infrastructures": ids}


@blp.route("/<infra_id>")
class Infrastructure(MethodView):
    @blp.response(200, description="Nodes, their instances and scaling")
    @blp.doc(responses={"200": {
        "description": "Nodes, their instances and scaling",
        "content": {"application/json": {"schema": REPORT_SCHEMA}},
        "headers": {"X-Occo-State": {"schema": {"type": "string"},
                                     "description": "building, ready, failed..."}}}})
    def get(self, infra_id: str) -> Any:
        """Report every node with its instances (address, state) and scaling."""
        occo = service().occo
        state = occo.infrastructure(infra_id).state
        return occo.report(infra_id), 200, {"X-Occo-State": str(state)}

    @blp.response(200, InfraIdSchema, description="Every resource is gone")
    def delete(self, infra_id: str) -> Any:
        """Destroy the infrastructure; answers when every resource is confirmed gone."""
        occo = service().occo
        when_free(lambda: occo.destroy(infra_id, parallelize=True))
        return {"infraid": infra_id}


@blp.route("/<infra_id>/instances/<instance_id>")
class Instance(MethodView):
    @blp.response(200, description="One instance: its state, addresses and times")
    def get(self, infra_id: str, instance_id: str) -> Any:
        """One instance (the link reports give for each instance)."""
        return service().occo.instance(infra_id, instance_id)


def _scale(infra_id: str, node: str, method: str, **request: Any) -> dict[str, Any]:
    service().occo.scale(infra_id, node, **request)
    return {"infraid": infra_id, "method": method, "nodename": node}


@blp.route("/<infra_id>/scaleup/<node>", methods=["POST"])
@blp.response(200, ScaleSchema)
def scaleup_one(infra_id: str, node: str) -> Any:
    """Ask for one more instance of "node" (applied by the next maintenance pass)."""
    return {**_scale(infra_id, node, "scaleup", change=1), "count": 1}


@blp.route("/<infra_id>/scaleup/<node>/<int(signed=True):count>", methods=["POST"],
           parameters=[_count_parameter(1)])
@blp.response(200, ScaleSchema)
def scaleup(infra_id: str, node: str, count: int) -> Any:
    """Ask for "count" more instances of "node"."""
    count = _count(count, minimum=1)
    return {**_scale(infra_id, node, "scaleup", change=count), "count": count}


@blp.route("/<infra_id>/scaledown/<node>", methods=["POST"])
@blp.response(200, ScaleSchema)
def scaledown_one(infra_id: str, node: str) -> Any:
    """Ask for one instance of "node" fewer (occo picks which)."""
    return {**_scale(infra_id, node, "scaledown", change=-1), "count": 1}


@blp.route("/<infra_id>/scaledown/<node>/<nodeid>", methods=["POST"])
@blp.response(200, ScaleSchema)
def scaledown(infra_id: str, node: str, nodeid: str) -> Any:
    """Ask to drop the given instance of "node" (by instance id or address)."""
    return {**_scale(infra_id, node, "scaledown", drop=nodeid), "nodeid": nodeid}


@blp.route("/<infra_id>/scaleto/<node>/<int(signed=True):count>", methods=["POST"],
           parameters=[_count_parameter(0)])
@blp.response(200, ScaleSchema)
def scaleto(infra_id: str, node: str, count: int) -> Any:
    """Ask for exactly "count" instances of "node" (clamped to its min and max)."""
    count = _count(count, minimum=0)
    return {**_scale(infra_id, node, "scaleto", set_to=count), "count": count}


@blp.route("/<infra_id>/attach", methods=["POST"])
@blp.response(200, InfraIdSchema)
def attach(infra_id: str) -> Any:
    """Have this service maintain the infrastructure (kept across restarts)."""
    service().occo.attach(infra_id, True)
    return {"infraid": infra_id}


@blp.route("/<infra_id>/detach", methods=["POST"])
@blp.response(200, InfraIdSchema)
def detach(infra_id: str) -> Any:
    """Stop maintaining the infrastructure; it keeps running."""
    service().occo.attach(infra_id, False)
    return {"infraid": infra_id}


@blp.route("/<infra_id>/notify", methods=["POST"])
@blp.arguments(NotifyBodySchema, location="json", error_status_code=400)
@blp.response(200, NotifyAnswerSchema)
def notify(body: dict[str, Any], infra_id: str) -> Any:
    """Send each state change of the infrastructure to "url" as a JSON POST, signed with
    "secret" (made up when not given, and answered once)."""
    ctx = service()
    url = body["url"]
    ctx.occo.infrastructure(infra_id)             # an unknown id is 404 before anything
    if url is not None:
        ctx.notifier.policy.addresses(url)        # an allowed target, or 400
    secret = ctx.occo.set_notify_url(infra_id, url, body.get("secret"))
    ctx.notifier.remember(infra_id, url, secret)
    return {"infraid": infra_id, "secret": secret}
