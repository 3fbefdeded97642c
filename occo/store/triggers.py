"""Cron triggers and their firings, claimed exactly once across processes.

A firing is claimed by one transaction that moves the trigger's
``next_fire_time`` from the due time to the following one (a compare-and-set:
``WHERE next_fire_time = due``) and inserts the firing row, unique per
(trigger, fire time), together with the execution it starts. Two processes
can race for a firing; only one transaction commits it, the other changes
nothing.
"""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in annotations below
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from occo.errors import Conflict, NotFound
from occo.model.states import ExecutionStatus
from occo.store.records import FiringRecord, TriggerRecord
from occo.store.tables import cron_triggers as t
from occo.store.tables import execution_groups as g
from occo.store.tables import executions as e
from occo.store.tables import trigger_firings as f

if TYPE_CHECKING:
    from occo.store.store import Store


def _trigger(row: Any) -> TriggerRecord:
    data = dict(row._mapping)
    data["parameters"] = data["parameters"] or {}
    data["paused"] = bool(data["paused"])
    return TriggerRecord(**data)


def _firing(row: Any) -> FiringRecord:
    return FiringRecord(**row._mapping)


class TriggerRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, record: TriggerRecord) -> None:
        try:
            with self._store.write() as conn:
                conn.execute(insert(t), vars(record))
        except IntegrityError:
            raise Conflict(f"a trigger named '{record.name}' exists already") from None

    def get(self, name: str) -> TriggerRecord:
        with self._store.read() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).first()
        if row is None:
            raise NotFound(f"unknown trigger '{name}'")
        return _trigger(row)

    def list(self) -> builtins.list[TriggerRecord]:
        with self._store.read() as conn:
            return [_trigger(r) for r in conn.execute(select(t).order_by(t.c.name))]

    def delete(self, name: str) -> None:
        """Forget the trigger and its firings (the executions they started stay)."""
        with self._store.write() as conn:
            if not conn.execute(delete(t).where(t.c.name == name)).rowcount:
                raise NotFound(f"unknown trigger '{name}'")
            conn.execute(delete(f).where(f.c.trigger_name == name))

    def set_paused(self, name: str, paused: bool, next_fire_time: float | None) -> None:
        with self._store.write() as conn:
            if not conn.execute(update(t).where(t.c.name == name).values(
                    paused=paused, next_fire_time=next_fire_time)).rowcount:
                raise NotFound(f"unknown trigger '{name}'")

    def due(self, now: float) -> builtins.list[TriggerRecord]:
        """Active triggers whose next firing time has come."""
        with self._store.read() as conn:
            return [_trigger(r) for r in conn.execute(
                select(t).where(t.c.paused.is_(False), t.c.next_fire_time.is_not(None),
                                t.c.next_fire_time <= now).order_by(t.c.next_fire_time))]

    def skip(self, trigger: TriggerRecord, following: float | None) -> bool:
        """Move past a due time without firing it (it is older than the grace period)."""
        with self._store.write() as conn:
            return bool(conn.execute(update(t).where(
                t.c.name == trigger.name, t.c.next_fire_time == trigger.next_fire_time,
                t.c.paused.is_(False)).values(next_fire_time=following)).rowcount)

    def claim(self, trigger: TriggerRecord, following: float | None, holder: str, *,
              execution: dict[str, Any] | None = None,
              execution_group_id: str | None = None,
              now: float | None = None) -> FiringRecord | None:
        """Claim the trigger's due firing; None when another process has it.

        ``execution`` (a queued execution's id, infra_id, workflow, parameters)
        is recorded in the same transaction, so a claimed firing always has it.
        """
        fire_time = trigger.next_fire_time
        assert fire_time is not None
        remaining = None if trigger.remaining is None else trigger.remaining - 1
        now = time.time() if now is None else now
        try:
            with self._store.write() as conn:
                moved = conn.execute(update(t).where(
                    t.c.name == trigger.name, t.c.next_fire_time == fire_time,
                    t.c.paused.is_(False)).values(
                    next_fire_time=None if remaining == 0 else following,
                    remaining=remaining)).rowcount
                if not moved:
                    return None
                if execution is not None:
                    conn.execute(insert(e), {
                        **execution, "status": ExecutionStatus.QUEUED, "created_at": now,
                        "creator": f"trigger:{trigger.name}", "attempt": 1})
                row: dict[str, Any] = {"trigger_name": trigger.name, "fire_time": fire_time,
                       "claimed_at": now, "claimed_by": holder,
                       "execution_id": execution["id"] if execution else None,
                       "execution_group_id": execution_group_id}
                firing_id = conn.execute(insert(f).returning(f.c.id), row).scalar_one()
        except IntegrityError:
            return None      # the unique (trigger, fire time) row: claimed elsewhere
        return FiringRecord(id=int(firing_id), **row)

    def firings(self, name: str | None = None, limit: int = 100) -> builtins.list[FiringRecord]:
        """Newest first."""
        query = select(f).order_by(f.c.fire_time.desc(), f.c.id.desc()).limit(limit)
        if name is not None:
            query = query.where(f.c.trigger_name == name)
        with self._store.read() as conn:
            return [_firing(r) for r in conn.execute(query)]

    def orphans(self, older_than: float) -> tuple[builtins.list[str],
                                                  builtins.list[FiringRecord]]:
        """What a process that died right after claiming left behind.

        Queued executions of firings claimed before ``older_than`` (never moved to
        started), and group firings whose execution group was never recorded.
        """
        with self._store.read() as conn:
            executions = list(conn.execute(
                select(e.c.id).join(f, f.c.execution_id == e.c.id).where(
                    f.c.claimed_at < older_than, e.c.status == ExecutionStatus.QUEUED))
                .scalars())
            groups = [_firing(r) for r in conn.execute(
                select(f).outerjoin(g, g.c.id == f.c.execution_group_id).where(
                    f.c.claimed_at < older_than, f.c.execution_group_id.is_not(None),
                    g.c.id.is_(None)))]
        return executions, groups
