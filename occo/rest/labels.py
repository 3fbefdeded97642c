"""Labels on infrastructures (``key: value``), the handle for adding group members.

They live beside the Occopus resource (``/infrastructures/<id>/labels``)
rather than in it, so the Occopus report keeps its exact shape.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from occo.rest.context import service
from occo.rest.schemas import LabelsBodySchema, LabelsSchema

blp = Blueprint("labels", __name__, url_prefix="/infrastructures",
                description="Labels on infrastructures, for selecting group members")


def _answer(infra_id: str) -> dict[str, Any]:
    return {"infraid": infra_id, "labels": service().occo.infrastructure(infra_id).labels}


@blp.route("/<infra_id>/labels")
class Labels(MethodView):
    @blp.response(200, LabelsSchema)
    def get(self, infra_id: str) -> Any:
        """The infrastructure's labels."""
        return _answer(infra_id)

    @blp.arguments(LabelsBodySchema, location="json", error_status_code=400)
    @blp.response(200, LabelsSchema)
    def patch(self, body: dict[str, Any], infra_id: str) -> Any:
        """Merge labels: a value sets the key, null removes it; others are kept."""
        service().occo.label_infrastructure(infra_id, body["labels"])
        return _answer(infra_id)

    @blp.arguments(LabelsBodySchema, location="json", error_status_code=400)
    @blp.response(200, LabelsSchema)
    def put(self, body: dict[str, Any], infra_id: str) -> Any:
        """Replace every label with the given ones (null values are left out)."""
        occo = service().occo
        current = occo.infrastructure(infra_id).labels
        occo.label_infrastructure(infra_id, {**dict.fromkeys(current), **body["labels"]})
        return _answer(infra_id)
