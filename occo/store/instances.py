"""Node instances, written ahead of every handler call.

A transition is a single guarded UPDATE (``WHERE state IN predecessors``),
so two processes can never move one instance along two paths.
"""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, insert, or_, select, update

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

    def transition_many(self, changes: list[tuple[str, InstanceState, dict[str, Any]]]) -> None:
        """Several transitions in one transaction (all or none)."""
        with self._store.write() as conn:
            for instance_id, new, fields in changes:
                self.transition_in(conn, instance_id, new, **fields)

    @staticmethod
    def transition_in(conn: Connection, instance_id: str, new: InstanceState,
                      **fields: Any) -> None:
        """The guarded UPDATE, inside the caller's transaction."""
        values = {"state": new, "state_since": time.time(), **fields}
        result = conn.execute(
            update(t).where(t.c.id == instance_id, t.c.state.in_(predecessors(new)))
            .values(**values))
        if result.rowcount:
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
