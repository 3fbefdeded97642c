"""Node instances, written ahead of every handler call.

A transition is a single guarded UPDATE (``WHERE state IN predecessors``),
so two processes can never move one instance along two paths.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Select,
    Text,
    Update,
    bindparam,
    cast,
    insert,
    or_,
    select,
    update,
)

from occo.errors import IllegalTransition, NotFound
from occo.model.states import INSTANCE_TRANSITIONS, InstanceState
from occo.store.records import InstanceBrief, InstanceRecord
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


_STATES = {str(state): state for state in InstanceState}
_JSON_COLUMNS = ("resource_config", "resource_data")
_NOT_HANDED_OUT = ("scaling_token_hash",)   # checked in the store (scaling_token_valid)
# The JSON columns come as text and are decoded here: instances of a node share
# one resource_config, decoded once per read instead of once per row.
_RECORD_COLUMNS = [cast(c, Text).label(c.name) if c.name in _JSON_COLUMNS else c
                   for c in t.c if c.name not in _NOT_HANDED_OUT]
assert [c.name for c in _RECORD_COLUMNS] == list(InstanceRecord.__dataclass_fields__)


def _records(rows: Iterable[Any]) -> list[InstanceRecord]:
    """Records from rows of ``_RECORD_COLUMNS``. Records of one read share equal
    ``resource_config`` dicts: like the records, treat them as read-only."""
    configs: dict[str, dict[str, Any]] = {}
    out = []
    for (id_, infra_id, node_name, state, rtype, config_text, resource_id, data_text,
         *rest) in rows:
        config = configs.get(config_text)
        if config is None:
            config = configs[config_text] = json.loads(config_text) if config_text else {}
        data = json.loads(data_text) if data_text else None
        out.append(InstanceRecord(id_, infra_id, node_name, _STATES[state], rtype, config,
                                  resource_id, data or {}, *rest))
    return out


@cache
def _live_query(include_destroyed: bool, by_node: bool) -> Select[Any]:
    """Instances of ``:infra_id`` (of node ``:node_name``), oldest first; built once."""
    query = select(*_RECORD_COLUMNS).where(t.c.infra_id == bindparam("infra_id"))
    if not include_destroyed:
        query = query.where(t.c.state != InstanceState.DESTROYED)
    if by_node:
        query = query.where(t.c.node_name == bindparam("node_name"))
    return query.order_by(t.c.created_at, t.c.id)


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

    def scaling_token_valid(self, infra_id: str, digest: str) -> bool:
        """True when a live instance of ``infra_id`` was given the token of ``digest``."""
        with self._store.read() as conn:
            return conn.execute(
                select(t.c.id).where(t.c.scaling_token_hash == digest,
                                     t.c.infra_id == infra_id,
                                     t.c.state != InstanceState.DESTROYED).limit(1)
            ).first() is not None

    def get(self, instance_id: str) -> InstanceRecord:
        with self._store.read() as conn:
            found = _records(conn.execute(select(*_RECORD_COLUMNS).where(t.c.id == instance_id)))
        if not found:
            raise NotFound(f"unknown instance id '{instance_id}'")
        return found[0]

    def for_infra(self, infra_id: str, *, include_destroyed: bool = False,
                  node_name: str | None = None) -> list[InstanceRecord]:
        params = {"infra_id": infra_id}
        if node_name is not None:
            params["node_name"] = node_name
        with self._store.read() as conn:
            return _records(conn.execute(_live_query(include_destroyed, node_name is not None),
                                         params))

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
        """Live instances of several infrastructures in one query, each one's oldest first."""
        with self._store.read() as conn:
            return _records(conn.execute(
                select(*_RECORD_COLUMNS).where(t.c.infra_id.in_(infra_ids),
                                               t.c.state != InstanceState.DESTROYED)
                .order_by(t.c.infra_id, t.c.created_at, t.c.id)))

    def find(self, infra_id: str, node_name: str, key: str) -> InstanceRecord:
        """A live instance of the node by instance id or by address."""
        with self._store.read() as conn:
            found = _records(conn.execute(select(*_RECORD_COLUMNS).where(
                t.c.infra_id == infra_id, t.c.node_name == node_name,
                t.c.state != InstanceState.DESTROYED,
                or_(t.c.id == key, t.c.address == key, t.c.private_address == key)).limit(1)))
        if not found:
            raise NotFound(f"node '{node_name}' has no instance with id or address '{key}'")
        return found[0]
