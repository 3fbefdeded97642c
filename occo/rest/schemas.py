"""marshmallow schemas of the REST bodies and answers (they also feed /openapi.json)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from occo.engine.executions import ACTIONS
from occo.engine.groups import WORKFLOWS
from occo.model.states import ExecutionStatus

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
    secret = fields.String(load_default=None, validate=validate.Length(min=16, max=256),
                           metadata={"description": "Key of the HMAC-SHA256 signature each "
                                                    "delivery carries (default: a new one)"})


class NotifyAnswerSchema(Schema):
    infraid = fields.String(required=True)
    secret = fields.String(allow_none=True, required=True, metadata={
        "description": "The key that signs deliveries (X-Occo-Signature-256: "
                       "sha256=<hex HMAC of the body>); null when notifications stopped"})


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
    status = fields.String(validate=validate.OneOf([str(s) for s in ExecutionStatus]),
                           metadata={"description": "Only executions with this status"})
    workflow = fields.String(metadata={"description": "Only this workflow (build, destroy...)"})
    group_id = fields.String(metadata={"description": "Only members of this execution group"})
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
    group_id = fields.String(allow_none=True, metadata={
        "description": "The execution group it belongs to, if any"})
    attempt = fields.Integer(metadata={"description": "1, plus one per resume"})
    requested_action = fields.String(allow_none=True, metadata={
        "description": "A cancel or kill asked of the run and not yet seen through"})


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


class JobTaskSchema(Schema):
    id = fields.String(required=True, metadata={"description": "The task's own id"})
    job_id = fields.String(required=True, metadata={
        "description": "Fingerprint of the job as written (what --restrict names)"})
    job = fields.String(required=True, metadata={"description": "The job, rendered"})
    instance_id = fields.String(required=True)
    node_name = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "queued, running, succeeded, failed, skipped (cached) or cancelled"})
    exit_code = fields.Integer(allow_none=True, required=True)
    queued_at = fields.Float(required=True)
    started_at = fields.Float(allow_none=True, required=True)
    ended_at = fields.Float(allow_none=True, required=True)
    output = fields.String(allow_none=True, required=True, metadata={
        "description": "The tail of its output (secrets of auth_data removed)"})
    error = fields.String(allow_none=True, required=True)


class ExecutionSchema(ExecutionSummarySchema):
    parameters = fields.Dict(required=True)
    tasks = fields.List(fields.Nested(TaskSchema), required=True)
    job_tasks = fields.List(fields.Nested(JobTaskSchema), metadata={
        "description": "An orchestration's tasks, one per job x instance"})
    timings = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True),
                          required=True)
    report = fields.Dict(allow_none=True, required=True)


MAX_RESTRICT = 1_000


class OrchestrationQuerySchema(Schema):
    restrict = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                           load_default=list, validate=validate.Length(max=MAX_RESTRICT),
                           metadata={"description": "Job ids or task ids to run alone"})
    ignore_cache = fields.Boolean(load_default=False)
    parallelize = fields.Boolean(load_default=False)


class OrchestrationStartedSchema(Schema):
    execution_id = fields.String(required=True)
    infra_id = fields.String(required=True)
    status = fields.String(required=True)
    tasks = fields.List(fields.Nested(JobTaskSchema), required=True)


class ActionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))


# -- infrastructure groups and labels -----------------------------------------------------
GROUP_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,254}$"
LABEL_KEY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]{0,126}$"
MAX_MEMBERS = 10_000
MAX_CONCURRENCY = 1_000


class InfraGroupCreateSchema(Schema):
    id = fields.String(required=True, validate=[validate.Regexp(GROUP_ID_PATTERN),
                                                validate.ContainsNoneOf("\n")], metadata={
        "description": "Letters, digits and _ . : @ - (up to 255; not starting with . : @ -)"})
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=10_000))


class InfraGroupSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.Float(required=True)
    created_by = fields.String(allow_none=True, required=True)
    description = fields.String(allow_none=True, required=True)
    infra_ids = fields.List(fields.String(), required=True)


class InfraGroupListSchema(Schema):
    items = fields.List(fields.Nested(InfraGroupSchema), required=True)


class MembersAddSchema(Schema):
    infra_ids = fields.List(fields.String(), load_default=list,
                            validate=validate.Length(max=MAX_MEMBERS))
    label = fields.String(load_default=None, allow_none=True, metadata={
        "description": "key=value: add every infrastructure carrying this label"})

    @validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data.get("infra_ids") and data.get("label") is None:
            raise ValidationError("give infra_ids, a label (key=value), or both")


class MembersRemoveSchema(Schema):
    infra_ids = fields.List(fields.String(), required=True,
                            validate=validate.Length(min=1, max=MAX_MEMBERS))


class MembersAddedSchema(InfraGroupSchema):
    added = fields.List(fields.String(), required=True, metadata={
        "description": "The infrastructures that were not members before"})


class LabelsBodySchema(Schema):
    labels = fields.Dict(
        keys=fields.String(validate=[validate.Regexp(LABEL_KEY_PATTERN),
                                     validate.ContainsNoneOf("\n")]),
        values=fields.String(allow_none=True, validate=validate.Length(max=1024)),
        required=True, metadata={"description": "key: value to set, key: null to remove"})


class LabelsSchema(Schema):
    infraid = fields.String(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


# -- execution groups ---------------------------------------------------------------------
class ExecutionGroupSchema(Schema):
    id = fields.String(required=True)
    created_at = fields.Float(required=True)
    created_by = fields.String(allow_none=True, required=True)
    workflow_id = fields.String(required=True)
    concurrency = fields.Integer(required=True)
    infra_group_id = fields.String(required=True)
    execution_ids = fields.List(fields.String(), required=True)
    status = fields.String(required=True, metadata={
        "description": "pending, started, terminated or failed (aggregate of the members)"})
    default_parameters = fields.Dict(keys=fields.String(), required=True)
    parameters = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String()),
                             required=True)
    success_group_id = fields.String(allow_none=True, required=True)
    failure_group_id = fields.String(allow_none=True, required=True)


class ExecutionGroupListSchema(Schema):
    items = fields.List(fields.Nested(ExecutionGroupSchema), required=True)


class ExecutionGroupQuerySchema(Schema):
    infra_group_id = fields.String(metadata={
        "description": "Only groups started from this infrastructure group"})


def _concurrency(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_CONCURRENCY),
                          metadata={"description": "Executions started at once; 0 pauses"},
                          **kwargs)


class ExecutionGroupStartSchema(Schema):
    infra_group_id = fields.String(required=True)
    workflow_id = fields.String(required=True, validate=validate.OneOf(WORKFLOWS))
    default_parameters = fields.Dict(keys=fields.String(), load_default=dict)
    parameters = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String()),
                             load_default=dict, metadata={
                                 "description": "Overrides of default_parameters, "
                                                "keyed by infrastructure id"})
    concurrency = _concurrency(load_default=5)
    success_group_id = fields.String(load_default=None, allow_none=True)
    failure_group_id = fields.String(load_default=None, allow_none=True)


class ExecutionGroupPatchSchema(Schema):
    concurrency = _concurrency()
    success_group_id = fields.String()
    failure_group_id = fields.String()

    @validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("give concurrency, success_group_id or failure_group_id")


class ReportQuerySchema(Schema):
    kind = fields.String(validate=validate.OneOf(["final", "first_failure"]), metadata={
        "description": "Which report; by default the final one, else the first-failure one"})


class ReportMemberSchema(Schema):
    execution_id = fields.String(required=True)
    infra_id = fields.String(allow_none=True, required=True)
    status = fields.String(required=True)
    attempt = fields.Integer(required=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    started_at = fields.String(allow_none=True, required=True,
                               metadata={"description": "ISO 8601, UTC"})
    ended_at = fields.String(allow_none=True, required=True,
                             metadata={"description": "ISO 8601, UTC"})
    duration = fields.Float(allow_none=True, required=True)
    error = fields.String(allow_none=True, required=True)
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "URLs of the execution and of the infrastructure"})
    report = fields.Dict(allow_none=True, required=True, metadata={
        "description": "The execution's own report (builds: nodes, instances, timings)"})


class GroupReportSchema(Schema):
    execution_group_id = fields.String(required=True)
    workflow = fields.String(required=True)
    infra_group_id = fields.String(required=True)
    concurrency = fields.Integer(required=True)
    status = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["final", "first_failure"]))
    written_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    executions = fields.List(fields.Nested(ReportMemberSchema), required=True)


# -- cron triggers ---------------------------------------------------------------------
TRIGGER_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$"


def _time_field() -> fields.Raw:
    return fields.Raw(load_default=None, allow_none=True, metadata={
        "description": "POSIX seconds, or ISO 8601 (without an offset: in the timezone)",
        "oneOf": [{"type": "number"}, {"type": "string"}]})


class TriggerCreateSchema(Schema):
    name = fields.String(required=True, validate=[validate.Regexp(TRIGGER_NAME_PATTERN),
                                                  validate.ContainsNoneOf("\n")])
    workflow = fields.String(required=True, metadata={
        "description": "scale, maintain, update, destroy or orchestrate"},
        validate=validate.Length(max=32))
    infra_id = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(max=255))
    infra_group_id = fields.String(load_default=None, allow_none=True,
                                   validate=validate.Length(max=255))
    parameters = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "scale: node and set_to or change; orchestrate: ignore_cache"})
    orchestration = fields.List(fields.Dict(), load_default=None, allow_none=True,
                                validate=validate.Length(max=1000), metadata={
                                    "description": "orchestrate: the orchestration file"})
    concurrency = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1, max=MAX_CONCURRENCY))
    cron = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(min=1, max=255),
                         metadata={"description": "Five fields: minute hour day month weekday"})
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64))
    interval = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                            validate=validate.Range(min=1, max=366 * 86400),
                            metadata={"description": "Seconds between firings"})
    first_time = _time_field()
    last_time = _time_field()
    count = fields.Integer(load_default=None, allow_none=True, strict=True,
                           validate=validate.Range(min=1, max=1_000_000_000))
    grace = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                         validate=validate.Range(min=0, max=7 * 86400), metadata={
                             "description": "Seconds a missed firing may be late (300)"})

    @validates_schema
    def _times(self, data: dict[str, Any], **_kwargs: Any) -> None:
        for key in ("first_time", "last_time"):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, (int, float, str))):
                raise ValidationError("a number or an ISO 8601 string", key)
            if isinstance(value, float) and value != value:
                raise ValidationError("not a number", key)
            if isinstance(value, str) and len(value) > 64:
                raise ValidationError("at most 64 characters", key)


class TriggerSchema(Schema):
    name = fields.String(required=True)
    workflow = fields.String(required=True)
    infra_id = fields.String(allow_none=True, required=True)
    infra_group_id = fields.String(allow_none=True, required=True)
    parameters = fields.Dict(required=True)
    concurrency = fields.Integer(allow_none=True, required=True)
    cron = fields.String(allow_none=True, required=True)
    timezone = fields.String(required=True)
    interval = fields.Float(allow_none=True, required=True)
    schedule = fields.String(required=True)
    first_time = fields.Float(allow_none=True, required=True)
    last_time = fields.Float(allow_none=True, required=True)
    remaining = fields.Integer(allow_none=True, required=True, metadata={
        "description": "Firings left (null: no count)"})
    grace = fields.Float(required=True)
    next_fire_time = fields.Float(allow_none=True, required=True)
    next_fire_at = fields.String(allow_none=True, required=True)
    paused = fields.Boolean(required=True)
    state = fields.String(required=True, metadata={"description": "active, paused or finished"})
    created_at = fields.Float(required=True)
    created_by = fields.String(allow_none=True, required=True)


class TriggerListSchema(Schema):
    items = fields.List(fields.Nested(TriggerSchema), required=True)


class FiringSchema(Schema):
    id = fields.Integer(required=True)
    trigger_name = fields.String(required=True)
    fire_time = fields.Float(required=True)
    fire_at = fields.String(required=True)
    claimed_at = fields.Float(required=True)
    claimed_by = fields.String(required=True)
    execution_id = fields.String(allow_none=True, required=True)
    execution_group_id = fields.String(allow_none=True, required=True)


class TriggerDetailSchema(TriggerSchema):
    firings = fields.List(fields.Nested(FiringSchema), required=True)
