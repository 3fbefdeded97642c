"""Node instances, written ahead of every handler call.

A transition is a single guarded UPDATE (``WHERE state IN predecessors``),
so two processes can never move one instance along two paths.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Update, bindparam, insert, or_, select, update

from occo.errors import IllegalTransition, NotFound
from occo.model.states import INSTANCE_TRANSITIONS, InstanceState
from occo.store.records import InstanceRecord
from occo.store.tables import instances as t

if TYPE_CHECKING:
    from occo.store.store import Store


@cache
def predecessors(new: InstanceState) -> tuple[str, ...]:
    """States from which ``new`` may be entered (including itself)."""
    return tuple(str(s) for s, nexts in INSTANCE_TRANSITIONS.items() if new in nexts or s == new)


@cache
def _guarded_update(new: InstanceState) -> Update:
    """``UPDATE instances SET <the parameters' columns> WHERE id = :b_id AND state IN
    (states that may move to new)``: built once per state, so SQLAlchemy's compiled
    cache serves every later call, single or executemany."""
    # OR of plain equalities: an expanding IN cannot be used with executemany.
    allowed = or_(*(t.c.state == state for state in predecessors(new)))
    return update(t).where(t.c.id == bindparam("b_id"), allowed)


Change = tuple[str, InstanceState, dict[str, Any]]   # (instance id, new state, other fields)


class InstanceBrief(NamedTuple):
    id: str
    node_name: str
    state: InstanceState
    address: str | None


def _record(row: Any) -> InstanceRecord:
    data = dict(row._mapping)
    data["state"] = InstanceState(data["state"])
    data["resource_data"] = data["resource_data"] or {}
    return InstanceRecord(**data)


class InstanceRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add_intents(self, rows: list[dict[str, Any]]) -> None:
        """Record instances as PENDING before any handler is called."""
        now = time.time()
        for row in rows:
            row.setdefault("state", InstanceState.PENDING)
            row.setdefault("created_at", now)
            row.setdefault("state_since", now)
            row.setdefault("resource_data", {})
        with self._store.write() as conn:
            conn.execute(insert(t), rows)

    def transition(self, instance_id: str, new: InstanceState, **fields: Any) -> None:
        """Move to ``new`` (and set ``fields``) if the state machine allows it."""
        with self._store.write() as conn:
            self.transition_in(conn, instance_id, new, **fields)

    def transition_many(self, changes: Sequence[Change]) -> None:
        """Several transitions in one transaction (all or none)."""
        if not changes:
            return
        with self._store.write() as conn:
            self.transition_batch(conn, changes)

    @classmethod
    def transition_batch(cls, conn: Connection, changes: Sequence[Change], *,
                         strict: bool = True) -> list[tuple[str, str]]:
        """Guarded transitions inside the caller's transaction, one executemany per
        target state and set of fields, each instance's in the order given.

        ``strict``: a refused transition raises (the caller's transaction rolls
        back); otherwise the refused ones are returned as (instance id, reason)
        and the others stay made.
        """
        now = time.time()
        # Rounds of {(state, fields): rows}; a second change of one instance opens a
        # new round, so each instance's changes are made in the order given.
        rounds: list[dict[tuple[InstanceState, tuple[str, ...]], list[dict[str, Any]]]] = [{}]
        seen: set[str] = set()
        for instance_id, new, fields in changes:
            if instance_id in seen:
                rounds.append({})
                seen.clear()
            seen.add(instance_id)
            rounds[-1].setdefault((new, tuple(fields)), []).append(
                {"b_id": instance_id, "state": new, "state_since": now, **fields})
        refused: list[tuple[str, str]] = []
        for (new, _), rows in ((k, v) for shapes in rounds for k, v in shapes.items()):
            moved = conn.execute(_guarded_update(new), rows).rowcount
            if moved == len(rows) and conn.dialect.supports_sane_multi_rowcount:
                continue
            for row in rows:  # rare: find which were refused (a repeated move is allowed)
                fields = {k: v for k, v in row.items() if k not in ("b_id", "state")}
                try:
                    cls.transition_in(conn, row["b_id"], new, **fields)
                except (IllegalTransition, NotFound) as exc:
                    if strict:
                        raise
                    refused.append((row["b_id"], exc.message))
        return refused

    @staticmethod
    def transition_in(conn: Connection, instance_id: str, new: InstanceState,
                      **fields: Any) -> None:
        """The guarded UPDATE, inside the caller's transaction."""
        values = {"b_id": instance_id, "state": new, "state_since": time.time(), **fields}
        if conn.execute(_guarded_update(new), values).rowcount:
            return
        old = conn.execute(select(t.c.state).where(t.c.id == instance_id)).scalar()
        if old is None:
            raise NotFound(f"unknown instance id '{instance_id}'")
        raise IllegalTransition(f"instance {instance_id} cannot go from {old} to {new}")

    def update_fields(self, instance_id: str, **fields: Any) -> None:
        """Set non-state fields (e.g. unhealthy_since)."""
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == instance_id).values(**fields))

    def get(self, instance_id: str) -> InstanceRecord:
        with self._store.read() as conn:
            row = conn.execute(select(t).where(t.c.id == instance_id)).first()
        if row is None:
            raise NotFound(f"unknown instance id '{instance_id}'")
        return _record(row)

    def for_infra(self, infra_id: str, *, include_destroyed: bool = False,
                  node_name: str | None = None) -> list[InstanceRecord]:
        query = select(t).where(t.c.infra_id == infra_id)
        if not include_destroyed:
            query = query.where(t.c.state != InstanceState.DESTROYED)
        if node_name is not None:
            query = query.where(t.c.node_name == node_name)
        with self._store.read() as conn:
            return [_record(r) for r in conn.execute(query.order_by(t.c.created_at, t.c.id))]

    def briefs(self, infra_id: str) -> list[InstanceBrief]:
        """Live instances without their JSON columns: what a report needs, fast."""
        with self._store.read() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.node_name, t.c.state, t.c.address)
                .where(t.c.infra_id == infra_id, t.c.state != InstanceState.DESTROYED)
                .order_by(t.c.created_at, t.c.id)).all()
        return [InstanceBrief(r.id, r.node_name, InstanceState(r.state), r.address)
                for r in rows]

    def for_infras(self, infra_ids: list[str]) -> list[InstanceRecord]:
        """Live instances of several infrastructures in one query."""
        with self._store.read() as conn:
            return [_record(r) for r in conn.execute(
                select(t).where(t.c.infra_id.in_(infra_ids),
                                t.c.state != InstanceState.DESTROYED))]

    def find(self, infra_id: str, node_name: str, key: str) -> InstanceRecord:
        """A live instance of the node by instance id or by address."""
        with self._store.read() as conn:
            row = conn.execute(select(t).where(
                t.c.infra_id == infra_id, t.c.node_name == node_name,
                t.c.state != InstanceState.DESTROYED,
                or_(t.c.id == key, t.c.address == key, t.c.private_address == key))).first()
        if row is None:
            raise NotFound(f"node '{node_name}' has no instance with id or address '{key}'")
        return _record(row)
