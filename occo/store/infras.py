"""Infrastructures and their nodes (name, type, scaling bounds and target)."""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in annotations below
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, update

from occo.errors import NotFound
from occo.model.states import INFRA_TRANSITIONS, InfraState, check_transition
from occo.store.records import EventRecord, InfraRecord, NodeRecord, infra_record, node_record
from occo.store.tables import events
from occo.store.tables import infrastructures as t
from occo.store.tables import nodes as n

if TYPE_CHECKING:
    from occo.store.store import Store

STATE_EVENT = "infra_state"


def _infra(row: Any) -> InfraRecord:
    return infra_record(row._mapping)


def _node(row: Any) -> NodeRecord:
    return node_record(row._mapping)


class InfraRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, infra_id: str, name: str, user_id: str | None,
               description: dict[str, Any], source: str | None,
               node_rows: list[NodeRecord]) -> None:
        now = time.time()
        with self._store.write() as conn:
            conn.execute(insert(t), {
                "id": infra_id, "name": name, "user_id": user_id,
                "state": InfraState.BUILDING, "description": description, "source": source,
                "created_at": now, "updated_at": now, "attached": False, "labels": {},
            })
            self._insert_nodes(conn, node_rows)

    @staticmethod
    def _insert_nodes(conn: Connection, node_rows: list[NodeRecord]) -> None:
        if node_rows:
            conn.execute(insert(n), [vars(r) for r in node_rows])

    def get(self, infra_id: str) -> InfraRecord:
        with self._store.read() as conn:
            row = conn.execute(select(t).where(t.c.id == infra_id)).first()
        if row is None:
            raise NotFound(f"unknown infrastructure id '{infra_id}'")
        return _infra(row)

    def get_many(self, infra_ids: builtins.list[str]) -> builtins.list[InfraRecord]:
        """The records of those ids that exist, in one query."""
        with self._store.read() as conn:
            return [_infra(r) for r in conn.execute(select(t).where(t.c.id.in_(infra_ids)))]

    def exists(self, infra_id: str) -> bool:
        with self._store.read() as conn:
            return conn.execute(select(t.c.id).where(t.c.id == infra_id)).first() is not None

    def list(self) -> list[InfraRecord]:
        with self._store.read() as conn:
            return [_infra(r) for r in conn.execute(select(t).order_by(t.c.created_at))]

    def set_state(self, infra_id: str, new: InfraState) -> None:
        with self._store.write() as conn:
            # FOR UPDATE: PostgreSQL must not let two writers check the same old state.
            old = conn.execute(select(t.c.state).where(t.c.id == infra_id)
                               .with_for_update()).scalar()
            if old is None:
                raise NotFound(f"unknown infrastructure id '{infra_id}'")
            check_transition("infrastructure", INFRA_TRANSITIONS, InfraState(old), new)
            conn.execute(update(t).where(t.c.id == infra_id)
                         .values(state=new, updated_at=time.time()))
            if old != new:  # logged in the same transaction: webhooks tail these
                self._state_event(conn, infra_id, str(old), str(new))

    def replace_description(self, infra_id: str, description: dict[str, Any],
                            source: str | None, node_rows: builtins.list[NodeRecord]) -> None:
        """Store an updated description and its node rows (an update build)."""
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == infra_id).values(
                description=description, source=source, updated_at=time.time(),
                name=description.get("infra_name")))
            conn.execute(delete(n).where(n.c.infra_id == infra_id))
            self._insert_nodes(conn, node_rows)

    def nodes(self, infra_id: str) -> builtins.list[NodeRecord]:
        with self._store.read() as conn:
            return [_node(r) for r in conn.execute(
                select(n).where(n.c.infra_id == infra_id).order_by(n.c.id))]

    def nodes_of(self, infra_ids: builtins.list[str]) -> dict[str, builtins.list[NodeRecord]]:
        """:meth:`nodes` of several infrastructures, in one query."""
        out: dict[str, builtins.list[NodeRecord]] = {}
        with self._store.read() as conn:
            for row in conn.execute(select(n).where(n.c.infra_id.in_(infra_ids))
                                    .order_by(n.c.id)):
                out.setdefault(row.infra_id, []).append(_node(row))
        return out

    def set_target(self, infra_id: str, node_name: str, target: int,
                   conn: Connection | None = None) -> None:
        stmt = (update(n).where(n.c.infra_id == infra_id, n.c.name == node_name)
                .values(target=target))
        if conn is not None:
            conn.execute(stmt)
            return
        with self._store.write() as own:
            own.execute(stmt)

    def delete(self, infra_id: str) -> None:
        """Remove the record and everything hanging off it."""
        from occo.store.tables import (
            cron_triggers,
            host_keys,
            instances,
            job_cache,
            leases,
            scaling_requests,
            trigger_firings,
        )

        with self._store.write() as conn:
            old = conn.execute(select(t.c.state).where(t.c.id == infra_id)).scalar()
            if old is not None:
                self._state_event(conn, infra_id, str(old), str(InfraState.DESTROYED))
            ids = select(instances.c.id).where(instances.c.infra_id == infra_id)
            for per_instance in (job_cache, host_keys):
                conn.execute(delete(per_instance).where(per_instance.c.instance_id.in_(ids)))
            names = select(cron_triggers.c.name).where(cron_triggers.c.infra_id == infra_id)
            conn.execute(delete(trigger_firings).where(trigger_firings.c.trigger_name.in_(names)))
            conn.execute(delete(cron_triggers).where(cron_triggers.c.infra_id == infra_id))
            for table in (instances, scaling_requests, n):
                conn.execute(delete(table).where(table.c.infra_id == infra_id))
            conn.execute(delete(leases).where(leases.c.infra_id == infra_id))
            conn.execute(delete(t).where(t.c.id == infra_id))

    # -- attachment to a REST service, webhooks, state changes ---------------------------
    def _update_flag(self, infra_id: str, **values: Any) -> None:
        with self._store.write() as conn:
            if not conn.execute(update(t).where(t.c.id == infra_id).values(**values)).rowcount:
                raise NotFound(f"unknown infrastructure id '{infra_id}'")

    def set_attached(self, infra_id: str, attached: bool) -> None:
        """Mark an infrastructure as maintained (or not) by a REST service."""
        self._update_flag(infra_id, attached=attached)

    def attached_ids(self) -> builtins.list[str]:
        with self._store.read() as conn:
            return list(conn.execute(select(t.c.id).where(t.c.attached.is_(True))
                                     .order_by(t.c.created_at)).scalars())

    def set_notify_url(self, infra_id: str, url: str | None,
                       secret: str | None = None) -> None:
        """Where state changes of this infrastructure are POSTed (None: nowhere), and
        the secret that signs them."""
        self._update_flag(infra_id, notify_url=url, notify_secret=secret if url else None)

    def webhooks(self) -> dict[str, tuple[str, str | None]]:
        """``{infra id: (url, secret)}`` of every infrastructure with a webhook."""
        with self._store.read() as conn:
            return {r.id: (r.notify_url, r.notify_secret) for r in conn.execute(
                select(t.c.id, t.c.notify_url, t.c.notify_secret)
                .where(t.c.notify_url.is_not(None)))}

    @staticmethod
    def _state_event(conn: Connection, infra_id: str, old: str, new: str) -> None:
        conn.execute(insert(events), {
            "infra_id": infra_id, "execution_id": None, "time": time.time(),
            "kind": STATE_EVENT, "message": f"infrastructure {old} -> {new}",
            "data": {"from": old, "to": new}})

    def state_changes(self, after_id: int = 0,
                      limit: int = 500) -> builtins.list[EventRecord]:
        """State-change events with an id above ``after_id``, oldest first."""
        with self._store.read() as conn:
            rows = conn.execute(select(events).where(events.c.id > after_id,
                                                     events.c.kind == STATE_EVENT)
                                .order_by(events.c.id).limit(limit)).all()
        return [EventRecord(**row._mapping) for row in rows]

    def last_event_id(self) -> int:
        with self._store.read() as conn:
            return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)

    # -- labels ---------------------------------------------------------------------------
    def set_labels(self, infra_id: str, labels: dict[str, str | None]) -> None:
        """Merge labels into the infrastructure's (a value of None removes a key)."""
        with self._store.write() as conn:
            current = conn.execute(select(t.c.labels).where(t.c.id == infra_id)).first()
            if current is None:
                raise NotFound(f"unknown infrastructure id '{infra_id}'")
            merged = {**(current.labels or {}), **labels}
            merged = {k: v for k, v in merged.items() if v is not None}
            conn.execute(update(t).where(t.c.id == infra_id).values(labels=merged))

    def with_label(self, key: str, value: str) -> builtins.list[str]:
        """Ids of infrastructures labelled ``key=value`` (filtered here: JSON is portable)."""
        with self._store.read() as conn:
            rows = conn.execute(select(t.c.id, t.c.labels).order_by(t.c.created_at)).all()
        return [r.id for r in rows if (r.labels or {}).get(key) == value]
