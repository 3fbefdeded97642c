"""The schema, as SQLAlchemy Core tables (Core keeps 10k-row passes cheap)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Times are POSIX seconds (float): cheap to compare, timezone-free.

node_definitions = Table(
    "node_definitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_type", String(255), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("implementation", JSON, nullable=False),
    Column("source", Text, nullable=True),
    Column("imported_at", Float, nullable=False),
    UniqueConstraint("node_type", "position"),
)

infrastructures = Table(
    "infrastructures",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("user_id", String(255), nullable=True),
    Column("state", String(32), nullable=False),
    Column("description", JSON, nullable=False),
    Column("source", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("attached", Boolean, nullable=False, default=False),
    Column("notify_url", Text, nullable=True),
    Column("labels", JSON, nullable=False, default=dict),
    Column("notify_secret", Text, nullable=True),      # signs webhook deliveries
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("infra_id", String(36), ForeignKey("infrastructures.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(255), nullable=False),
    Column("node_type", String(255), nullable=False),
    Column("min", Integer, nullable=False),
    Column("max", Integer, nullable=False),
    Column("target", Integer, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("implementation", JSON, nullable=True),
    UniqueConstraint("infra_id", "name"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("infra_id", String(36), ForeignKey("infrastructures.id", ondelete="CASCADE"),
           nullable=False),
    Column("node_name", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_config", JSON, nullable=False),
    Column("resource_id", String(255), nullable=True),
    Column("resource_data", JSON, nullable=False, default=dict),
    Column("address", String(255), nullable=True),
    Column("private_address", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("state_since", Float, nullable=False),
    Column("ready_at", Float, nullable=True),
    Column("unhealthy_since", Float, nullable=True),
    Column("execution_id", String(36), nullable=True),
    Column("reason", Text, nullable=True),
    Column("scaling_token_hash", String(64), nullable=True),   # see occo.model.tokens
    Index("ix_instances_infra_node", "infra_id", "node_name"),
    Index("ix_instances_scaling_token_hash", "scaling_token_hash"),
)

scaling_requests = Table(
    "scaling_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("infra_id", String(36), ForeignKey("infrastructures.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("node_name", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("count", Integer, nullable=True),
    Column("target_instance", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("applied_at", Float, nullable=True),
    Column("outcome", Text, nullable=True),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("infra_id", String(36), nullable=True, index=True),
    Column("workflow", String(32), nullable=False),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("creator", String(255), nullable=True),
    Column("error", Text, nullable=True),
    Column("report", JSON, nullable=True),
    Column("group_id", String(36), nullable=True, index=True),
    Column("requested_action", String(16), nullable=True),
    Column("attempt", Integer, nullable=False, default=1, server_default="1"),
    Column("holder", String(255), nullable=True),   # lease holder running it (host:pid:id)
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", String(36), ForeignKey("executions.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("instance_id", String(36), nullable=False),
    Column("node_name", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("queued_at", Float, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("created_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("error", Text, nullable=True),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("infra_id", String(36), nullable=True, index=True),
    Column("execution_id", String(36), nullable=True),
    Column("time", Float, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON, nullable=True),
)

dummy_resources = Table(
    "dummy_resources",
    metadata,
    Column("id", String(255), primary_key=True),  # "dummy-<uuid>", not a bare uuid
    Column("instance_id", String(36), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("ready_at", Float, nullable=False),
    Column("failed", Boolean, nullable=False, default=False),
    Column("address", String(64), nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("infra_id", String(36), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("expires_at", Float, nullable=False),
)

infra_groups = Table(
    "infra_groups",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("description", Text, nullable=True),
)

infra_group_members = Table(
    "infra_group_members",
    metadata,
    Column("group_id", String(255), ForeignKey("infra_groups.id", ondelete="CASCADE"),
           primary_key=True),
    Column("infra_id", String(36), primary_key=True),
)

execution_groups = Table(
    "execution_groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=True),
    Column("workflow", String(32), nullable=False),
    Column("infra_group_id", String(255), nullable=False, index=True),
    Column("concurrency", Integer, nullable=False),
    Column("default_parameters", JSON, nullable=False, default=dict),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("success_group_id", String(255), nullable=True),
    Column("failure_group_id", String(255), nullable=True),
    Column("report", JSON, nullable=True),
    Column("failure_report", JSON, nullable=True),
)

# -- orchestrations (day-2 jobs against running instances) --------------------------------

job_tasks = Table(
    "job_tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("execution_id", String(36), ForeignKey("executions.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("position", Integer, nullable=False),          # order within the execution
    Column("instance_id", String(36), nullable=False),
    Column("node_name", String(255), nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("job", Text, nullable=False),                  # what it does, rendered, redacted
    Column("step", JSON, nullable=False),                 # what the transport runs
    Column("content_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("queued_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("output", Text, nullable=True),                # tail, redacted
    Column("error", Text, nullable=True),
)

job_cache = Table(
    "job_cache",
    metadata,
    Column("instance_id", String(36), primary_key=True),
    Column("content_hash", String(64), primary_key=True),
    Column("task_id", String(36), nullable=False),
    Column("succeeded_at", Float, nullable=False),
)

host_keys = Table(
    "host_keys",
    metadata,
    Column("instance_id", String(36), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("key_type", String(64), nullable=False),
    Column("key", Text, nullable=False),
    Column("pinned_at", Float, nullable=False),
)

# -- cron triggers ---------------------------------------------------------------------

cron_triggers = Table(
    "cron_triggers",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("workflow", String(32), nullable=False),
    Column("infra_id", String(36), nullable=True),
    Column("infra_group_id", String(255), nullable=True),
    Column("parameters", JSON, nullable=False, default=dict),
    Column("concurrency", Integer, nullable=True),        # of the execution group it starts
    Column("cron", String(255), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("interval", Float, nullable=True),
    Column("first_time", Float, nullable=True),
    Column("last_time", Float, nullable=True),
    Column("remaining", Integer, nullable=True),
    Column("grace", Float, nullable=False),
    Column("next_fire_time", Float, nullable=True),       # None: no firing left
    Column("paused", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(255), nullable=True),
)

trigger_firings = Table(
    "trigger_firings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger_name", String(255), nullable=False),
    Column("fire_time", Float, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("execution_id", String(36), nullable=True),
    Column("execution_group_id", String(36), nullable=True),
    UniqueConstraint("trigger_name", "fire_time"),        # a firing is claimed once
)
