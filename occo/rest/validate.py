"""POST /validate: check a description against the node definitions, plan, create nothing."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from occo.rest.bodies import DESCRIPTION_BODY, body_text, parse_description
from occo.rest.context import service
from occo.rest.schemas import ValidateQuerySchema, ValidateSchema

blp = Blueprint("validate", __name__, url_prefix="/validate",
                description="Dry runs: is a description valid, and what would a build do")


@blp.route("", methods=["POST"])
@blp.arguments(ValidateQuerySchema, location="query", error_status_code=400)
@blp.doc(requestBody=DESCRIPTION_BODY)
@blp.response(200, ValidateSchema)
def validate(query: dict[str, Any]) -> Any:
    """Validate a description and answer the plan of a build (or, with "infraid", of
    an update of that infrastructure). Invalid: 400 naming line and column."""
    occo = service().occo
    desc = parse_description(body_text(), occo.config.home)
    infra_id = query.get("infraid")
    result = occo.build(desc, infra_id=infra_id, dry_run=True)
    plan = result.plan
    return {
        "valid": True, "infra_name": desc.infra_name, "infraid": infra_id,
        "order": (result.description or desc).topological_order(),  # with implied edges
        "nodes": {name: {"type": node.node_type, "resource_type": node.resource_type,
                         "dependees": list(node.dependees),
                         "create": plan.create.get(name, 0),
                         "target": plan.targets.get(name, 0)}
                  for name, node in result.nodes.items()},
        "drop": list(plan.drop), "empty": plan.empty,
    }
