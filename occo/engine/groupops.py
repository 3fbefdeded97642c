"""Starting and steering execution groups (validation lives here, not in interfaces)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from occo.engine.executions import ACTIONS, apply_action
from occo.engine.groups import WORKFLOWS, aggregate_status, merge_parameters
from occo.errors import NotFound, UserInputError
from occo.model.states import ExecutionStatus
from occo.store.records import ExecutionGroupRecord
from occo.store.store import Store

DEFAULT_CONCURRENCY = 5


def _check_concurrency(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UserInputError(f"concurrency must be a whole number >= 0, not {value!r}")
    return value


def _check_target(store: Store, group_id: str | None) -> str | None:
    if group_id is not None:
        store.infra_groups.get(group_id)  # the target group must exist
    return group_id


def start_group(store: Store, infra_group_id: str, workflow: str, *,
                default_parameters: dict[str, Any] | None = None,
                parameters: dict[str, dict[str, Any]] | None = None,
                concurrency: int = DEFAULT_CONCURRENCY, success_group_id: str | None = None,
                failure_group_id: str | None = None,
                created_by: str | None = None,
                group_id: str | None = None) -> ExecutionGroupRecord:
    """Record the group and one queued execution per member; the dispatcher runs them.

    ``group_id`` (default: a new one) lets a cron trigger name the group it claimed.
    """
    if workflow not in WORKFLOWS:
        raise UserInputError(f"unknown workflow '{workflow}' (one of: {', '.join(WORKFLOWS)})")
    if workflow == "orchestrate":   # the file is checked before anything is recorded
        from occo.configure.orchestration import Orchestration

        Orchestration.from_parameters(default_parameters or {})
    members = store.infra_groups.get(infra_group_id).infra_ids
    parameters = parameters or {}
    strangers = sorted(set(parameters) - set(members))
    if strangers:
        raise UserInputError(f"parameters name infrastructure '{strangers[0]}', "
                             f"which is not in group '{infra_group_id}'")
    record = ExecutionGroupRecord(
        id=group_id or str(uuid.uuid4()), created_at=time.time(), created_by=created_by,
        workflow=workflow,
        infra_group_id=infra_group_id, concurrency=_check_concurrency(concurrency),
        default_parameters=dict(default_parameters or {}), parameters=dict(parameters),
        success_group_id=_check_target(store, success_group_id),
        failure_group_id=_check_target(store, failure_group_id), report=None,
        failure_report=None)
    store.execution_groups.create(record)
    for infra_id in members:
        store.executions.create(str(uuid.uuid4()), infra_id, workflow,
                                merge_parameters(record.default_parameters, parameters, infra_id),
                                created_by, status=ExecutionStatus.QUEUED, group_id=record.id)
    return record


def update_group(store: Store, group_id: str, *, concurrency: int | None = None,
                 success_group_id: str | None = None,
                 failure_group_id: str | None = None) -> None:
    values: dict[str, Any] = {}
    if concurrency is not None:
        values["concurrency"] = _check_concurrency(concurrency)
    if success_group_id is not None:
        values["success_group_id"] = _check_target(store, success_group_id)
    if failure_group_id is not None:
        values["failure_group_id"] = _check_target(store, failure_group_id)
    if not values:
        raise UserInputError("nothing to change: give concurrency, success_group_id "
                             "or failure_group_id")
    store.execution_groups.update(group_id, **values)


def group_action(store: Store, group_id: str, action: str) -> int:
    """Apply an action to every member; how many changed at once."""
    if action not in ACTIONS:
        raise UserInputError(f"unknown action '{action}' (one of: {', '.join(ACTIONS)})")
    store.execution_groups.get(group_id)
    changed = 0
    for execution in store.executions.for_group(group_id):
        if action.endswith("resume") and execution.status == ExecutionStatus.TERMINATED:
            continue
        if action in ("cancel", "force-cancel", "kill") and execution.status.is_terminal:
            continue
        if action == "resume" and execution.status == ExecutionStatus.STARTED:
            continue
        changed += apply_action(store, execution.id, action)
    if action.endswith("resume"):
        store.execution_groups.update(group_id, report=None)
    return changed


def group_view(store: Store, group_id: str) -> dict[str, Any]:
    """The attributes seed 000 lists, with occo's nouns (infra_group_id)."""
    group = store.execution_groups.get(group_id)
    executions = store.executions.for_group(group_id)
    return {
        "id": group.id, "created_at": group.created_at, "created_by": group.created_by,
        "workflow_id": group.workflow, "concurrency": group.concurrency,
        "infra_group_id": group.infra_group_id,
        "execution_ids": [e.id for e in executions],
        "status": aggregate_status([e.status for e in executions]),
        "default_parameters": group.default_parameters, "parameters": group.parameters,
        "success_group_id": group.success_group_id,
        "failure_group_id": group.failure_group_id,
    }


def add_members(store: Store, group_id: str, infra_ids: list[str] | None = None,
                label: str | None = None) -> list[str]:
    """Add infrastructures by id and/or by ``key=value`` label."""
    ids = list(infra_ids or [])
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise UserInputError(f"a label is written key=value, not {label!r}")
        ids += store.infras.with_label(key, value)
    if not ids:
        raise NotFound("no infrastructure matched" + (f" label {label}" if label else ""))
    return store.infra_groups.add(group_id, ids)
