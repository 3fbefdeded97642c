"""marshmallow schemas of the REST bodies and answers (they also feed /openapi.json)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MAX_COUNT = 100_000
"""Largest count a scaling request may name (a bound, not a scaling limit)."""


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "Kind of error"})
    message = fields.String(required=True, metadata={"description": "What went wrong"})
    location = fields.Dict(metadata={"description": "source, line and column in the body"})
    path = fields.String(metadata={"description": "Path of the offending value"})
    left = fields.List(fields.String(), metadata={"description": "Resources not confirmed gone"})


class InfraIdSchema(Schema):
    infraid = fields.String(required=True)


class InfraListSchema(Schema):
    infrastructures = fields.List(fields.String(), required=True)


class InfraListQuerySchema(Schema):
    all = fields.Boolean(load_default=False, metadata={
        "description": "List every infrastructure in the store, not only the attached ones"})


class ScaleSchema(Schema):
    infraid = fields.String(required=True)
    method = fields.String(required=True, validate=validate.OneOf(
        ["scaleup", "scaledown", "scaleto"]))
    nodename = fields.String(required=True)
    count = fields.Integer()
    nodeid = fields.String()


class NotifyBodySchema(Schema):
    url = fields.String(required=True, allow_none=True, metadata={
        "description": "http(s) URL that receives a JSON POST on every state change; "
                       "null stops notifications"})


# Report of GET /infrastructures/<id>: {node name: NodeReport}; node names are data, so
# the top level is documented as additionalProperties, not as a schema with fields.
class InstanceReportSchema(Schema):
    resource_address = fields.String(allow_none=True, required=True)
    state = fields.String(required=True)


class ScalingReportSchema(Schema):
    actual = fields.Integer(required=True)
    target = fields.Integer(required=True)
    min = fields.Integer(required=True)
    max = fields.Integer(required=True)


class NodeReportSchema(Schema):
    instances = fields.Dict(keys=fields.String(), values=fields.Nested(InstanceReportSchema),
                            required=True)
    scaling = fields.Nested(ScalingReportSchema, required=True)


REPORT_SCHEMA = {"type": "object",
                 "additionalProperties": {"$ref": "#/components/schemas/NodeReport"}}


class PlanNodeSchema(Schema):
    type = fields.String(required=True)
    resource_type = fields.String(required=True)
    dependees = fields.List(fields.String(), required=True)
    create = fields.Integer(required=True)
    target = fields.Integer(required=True)


class ValidateSchema(Schema):
    valid = fields.Boolean(required=True)
    infra_name = fields.String(required=True)
    infraid = fields.String(allow_none=True, metadata={
        "description": "The infrastructure an update would change, if one was given"})
    order = fields.List(fields.String(), required=True,
                        metadata={"description": "Nodes in dependency order"})
    nodes = fields.Dict(keys=fields.String(), values=fields.Nested(PlanNodeSchema),
                        required=True)
    drop = fields.List(fields.String(), required=True)
    empty = fields.Boolean(required=True, metadata={"description": "Nothing would change"})


class ValidateQuerySchema(Schema):
    infraid = fields.String(metadata={
        "description": "Plan an update of this infrastructure instead of a new build"})


class NodeTypesSchema(Schema):
    node_types = fields.List(fields.String(), required=True)


class NodeDefinitionSchema(Schema):
    node_type = fields.String(required=True)
    implementations = fields.List(fields.Dict(), required=True)


class ExecutionQuerySchema(Schema):
    infra_id = fields.String(metadata={"description": "Only executions of this infrastructure"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ExecutionSummarySchema(Schema):
    id = fields.String(required=True)
    infra_id = fields.String(allow_none=True)
    workflow = fields.String(required=True)
    status = fields.String(required=True)
    created_at = fields.Float(required=True)
    started_at = fields.Float(allow_none=True)
    ended_at = fields.Float(allow_none=True)
    duration = fields.Float(allow_none=True)
    creator = fields.String(allow_none=True)
    error = fields.String(allow_none=True)


class ExecutionListSchema(Schema):
    executions = fields.List(fields.Nested(ExecutionSummarySchema), required=True)


class TaskSchema(Schema):
    instance_id = fields.String(required=True)
    node_name = fields.String(required=True)
    action = fields.String(required=True)
    status = fields.String(required=True)
    queued_at = fields.Float(allow_none=True)
    started_at = fields.Float(allow_none=True)
    created_at = fields.Float(allow_none=True)
    ended_at = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    timings = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class ExecutionSchema(ExecutionSummarySchema):
    parameters = fields.Dict(required=True)
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    timings = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True),
                          required=True)
    report = fields.Dict(allow_none=True, required=True)
