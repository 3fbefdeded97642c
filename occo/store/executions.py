"""Executions (build, destroy, ... runs) and their per-instance tasks."""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in annotations below
import time
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, update

from occo.errors import NotFound
from occo.model.states import EXECUTION_TRANSITIONS, ExecutionStatus, check_transition
from occo.store.records import ExecutionRecord, TaskRecord
from occo.store.tables import executions as t
from occo.store.tables import tasks as k

if TYPE_CHECKING:
    from occo.store.store import Store


def _execution(row: Any) -> ExecutionRecord:
    data = dict(row._mapping)
    data["status"] = ExecutionStatus(data["status"])
    return ExecutionRecord(**data)


class ExecutionRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, execution_id: str, infra_id: str | None, workflow: str,
               parameters: dict[str, Any], creator: str | None = None,
               status: ExecutionStatus = ExecutionStatus.STARTED,
               group_id: str | None = None, holder: str | None = None) -> None:
        now = time.time()
        with self._store.write() as conn:
            conn.execute(insert(t), {
                "id": execution_id, "infra_id": infra_id, "workflow": workflow,
                "parameters": parameters, "status": status, "created_at": now,
                "started_at": now if status == ExecutionStatus.STARTED else None,
                "creator": creator, "group_id": group_id, "attempt": 1, "holder": holder})

    def claim(self, execution_id: str, holder: str) -> None:
        """Record which lease holder runs this execution (a queued one started here)."""
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == execution_id).values(holder=holder))

    def unfinished(self, infra_id: str) -> builtins.list[ExecutionRecord]:
        """Executions of the infrastructure that have not ended, oldest first."""
        ended = [str(s) for s in ExecutionStatus if s.is_terminal]
        with self._store.read() as conn:
            return [_execution(r) for r in conn.execute(
                select(t).where(t.c.infra_id == infra_id, t.c.status.not_in(ended))
                .order_by(t.c.created_at, t.c.id))]

    def started_holders(self, infra_ids: builtins.list[str]) -> builtins.list[tuple[str, str]]:
        """(infra id, holder) of the started executions of these infrastructures."""
        with self._store.read() as conn:
            return [(r.infra_id, r.holder) for r in conn.execute(
                select(t.c.infra_id, t.c.holder).where(
                    t.c.infra_id.in_(infra_ids), t.c.status == ExecutionStatus.STARTED,
                    t.c.holder.is_not(None)))]

    def statuses(self, execution_ids: builtins.list[str]) -> dict[str, tuple[ExecutionStatus,
                                                                             str | None]]:
        """Status and holder of each known execution, in one query."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.c.id, t.c.status, t.c.holder)
                                .where(t.c.id.in_(execution_ids))).all()
        return {r.id: (ExecutionStatus(r.status), r.holder) for r in rows}

    def move(self, execution_id: str, old: tuple[ExecutionStatus, ...], new: ExecutionStatus,
             **values: Any) -> bool:
        """Guarded status change: True only for the one caller that made it."""
        for status in old:
            check_transition("execution", EXECUTION_TRANSITIONS, status, new)
        if new == ExecutionStatus.STARTED:
            values.setdefault("started_at", time.time())
        if new.is_terminal:
            values.setdefault("ended_at", time.time())
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.id == execution_id, t.c.status.in_([str(s) for s in old]))
                .values(status=new, **values)).rowcount)

    def record_pass(self, infra_id: str, creator: str, summary: dict[str, Any], *,
                    idle: bool) -> str:
        """A finished maintenance pass that created and dropped nothing.

        An idle pass right after another idle pass extends that record instead
        of adding one.
        """
        return self.record_passes([(infra_id, summary, idle)], creator)[infra_id]

    def record_passes(self, passes: builtins.list[tuple[str, dict[str, Any], bool]],
                      creator: str) -> dict[str, str]:
        """:meth:`record_pass` for several infrastructures (``(infra_id, summary,
        idle)`` each, distinct ids) in one transaction; each one's execution id."""
        now = time.time()
        out: dict[str, str] = {}
        with self._store.write() as conn:
            last = self._last_passes(conn, [infra_id for infra_id, _, idle in passes if idle])
            extended, added = [], []
            for infra_id, summary, idle in passes:
                previous = last.get(infra_id)
                if idle and previous is not None and previous[1].get("idle"):
                    count = int(previous[1].get("passes", 1)) + 1
                    extended.append({"b_id": previous[0], "ended_at": now,
                                     "parameters": {**previous[1], "passes": count}})
                    out[infra_id] = previous[0]
                    continue
                out[infra_id] = str(uuid.uuid4())
                added.append({
                    "id": out[infra_id], "infra_id": infra_id, "workflow": "maintain",
                    "parameters": {**summary, "idle": idle, "passes": 1},
                    "status": ExecutionStatus.TERMINATED, "created_at": now,
                    "started_at": now, "ended_at": now, "creator": creator, "attempt": 1,
                    "holder": creator})
            if extended:
                conn.execute(update(t).where(t.c.id == bindparam("b_id")), extended)
            if added:
                conn.execute(insert(t), added)
        return out

    @staticmethod
    def _last_passes(conn: Connection, infra_ids: builtins.list[str]
                     ) -> dict[str, tuple[str, dict[str, Any]]]:
        """The latest maintenance execution of each infrastructure: (id, parameters)."""
        if not infra_ids:
            return {}
        later = t.alias("later")
        newer = select(later.c.id).where(later.c.infra_id == t.c.infra_id,
                                         later.c.workflow == "maintain",
                                         later.c.created_at > t.c.created_at)
        rows = conn.execute(select(t.c.infra_id, t.c.id, t.c.parameters, t.c.created_at)
                            .where(t.c.infra_id.in_(infra_ids), t.c.workflow == "maintain",
                                   ~newer.exists())
                            .order_by(t.c.created_at))
        return {r.infra_id: (str(r.id), r.parameters or {}) for r in rows}

    def request_action(self, execution_id: str, action: str | None) -> None:
        with self._store.write() as conn:
            if not conn.execute(update(t).where(t.c.id == execution_id)
                                .values(requested_action=action)).rowcount:
                raise NotFound(f"unknown execution id '{execution_id}'")

    def for_group(self, group_id: str) -> list[ExecutionRecord]:
        with self._store.read() as conn:
            return [_execution(r) for r in conn.execute(
                select(t).where(t.c.group_id == group_id).order_by(t.c.created_at, t.c.id))]

    def finish(self, execution_id: str, status: ExecutionStatus, *, error: str | None = None,
               report: dict[str, Any] | None = None, keep_terminal: bool = False) -> None:
        """End an execution. ``keep_terminal``: one already ended (force-cancelled
        while it ran) keeps its status; only the report is added."""
        with self._store.write() as conn:
            old = conn.execute(select(t.c.status).where(t.c.id == execution_id)
                               .with_for_update()).scalar()
            if old is None:
                raise NotFound(f"unknown execution id '{execution_id}'")
            if keep_terminal and ExecutionStatus(old).is_terminal:
                if report is not None:
                    conn.execute(update(t).where(t.c.id == execution_id).values(report=report))
                return
            check_transition("execution", EXECUTION_TRANSITIONS, ExecutionStatus(old), status)
            values: dict[str, Any] = {"status": status, "error": error}
            if status.is_terminal:
                values["ended_at"] = time.time()
            if report is not None:
                values["report"] = report
            conn.execute(update(t).where(t.c.id == execution_id).values(**values))

    def set_parameters(self, execution_id: str, parameters: dict[str, Any]) -> None:
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == execution_id).values(parameters=parameters))

    def set_report(self, execution_id: str, report: dict[str, Any]) -> None:
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == execution_id).values(report=report))

    def get(self, execution_id: str) -> ExecutionRecord:
        with self._store.read() as conn:
            row = conn.execute(select(t).where(t.c.id == execution_id)).first()
        if row is None:
            raise NotFound(f"unknown execution id '{execution_id}'")
        return _execution(row)

    def list(self, *, infra_id: str | None = None, status: str | None = None,
             workflow: str | None = None, group_id: str | None = None,
             limit: int = 100) -> list[ExecutionRecord]:
        query = select(t).order_by(t.c.created_at.desc()).limit(limit)
        for column, value in ((t.c.infra_id, infra_id), (t.c.status, status),
                              (t.c.workflow, workflow), (t.c.group_id, group_id)):
            if value is not None:
                query = query.where(column == value)
        with self._store.read() as conn:
            return [_execution(r) for r in conn.execute(query)]

    def save_tasks(self, tasks: builtins.list[TaskRecord]) -> None:
        if not tasks:
            return
        with self._store.write() as conn:
            conn.execute(insert(k), [vars(task) for task in tasks])

    def tasks(self, execution_id: str) -> builtins.list[TaskRecord]:
        with self._store.read() as conn:
            rows = conn.execute(select(k).where(k.c.execution_id == execution_id).order_by(k.c.id))
            out = []
            for row in rows:
                data = dict(row._mapping)
                data.pop("id")
                out.append(TaskRecord(**data))
            return out
