"""Node definitions: list, show, replace and delete, one node type at a time."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from occo.errors import Forbidden
from occo.model.nodedef import Implementation
from occo.rest.bodies import IMPLEMENTATIONS_BODY, SOURCE, body_text, parse_implementations
from occo.rest.context import service
from occo.rest.schemas import NodeDefinitionSchema, NodeTypesSchema
from occo.rest.security import may_run_host_commands

blp = Blueprint("node_definitions", __name__, url_prefix="/node-definitions",
                description="The node types infrastructures can use")


@blp.route("")
class NodeDefinitions(MethodView):
    @blp.response(200, NodeTypesSchema)
    def get(self) -> Any:
        """The imported node types."""
        return {"node_types": sorted(service().occo.node_definitions())}


@blp.route("/<node_type>")
class NodeDefinition(MethodView):
    @blp.response(200, NodeDefinitionSchema)
    def get(self, node_type: str) -> Any:
        """A node type's implementations, as imported."""
        return {"node_type": node_type,
                "implementations": service().occo.node_definition(node_type)}

    @blp.doc(requestBody=IMPLEMENTATIONS_BODY)
    @blp.response(200, NodeDefinitionSchema, description="Replaced (or created)")
    def put(self, node_type: str) -> Any:
        """Replace a node type's implementations with a validated YAML or JSON list.

        Infrastructures already built keep the implementation they were built with.
        """
        ctx = service()
        occo = ctx.occo
        impls = parse_implementations(body_text(), node_type, occo.config.home,
                                      occo.resource_types())
        if not may_run_host_commands(ctx.settings):
            _refuse_host_commands(impls)
        occo.replace_node_definitions({node_type: impls}, source=SOURCE)
        return {"node_type": node_type, "implementations": occo.node_definition(node_type)}

    @blp.response(204)
    def delete(self, node_type: str) -> Any:
        """Forget a node type; new descriptions can no longer use it."""
        service().occo.delete_node_definition(node_type)
        return None


def _refuse_host_commands(impls: list[Implementation]) -> None:
    """Node definitions that would run commands on this host, sent from elsewhere."""
    for position, impl in enumerate(impls, start=1):
        what = ("a local resource" if impl.resource.type == "local" else
                "a command health check" if impl.health_check and impl.health_check.command
                else None)
        if what:
            raise Forbidden(f"implementation #{position} has {what}, which runs commands on "
                            f"the service's host; such node definitions are accepted only "
                            f"as rest.host_commands allows (import them with occopus-import)")
