"""Scaling requests: recorded by occopus-scale, applied once by a pass."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select, update

from occo.store.db import READONLY
from occo.store.tables import scaling_requests as t

if TYPE_CHECKING:
    from occo.store.store import Store


@dataclass(frozen=True)
class ScalingRequest:
    id: int
    infra_id: str
    node_name: str
    kind: str                      # "change" | "set" | "drop"
    count: int | None
    target_instance: str | None
    created_at: float
    applied_at: float | None = None
    outcome: str | None = None


class ScalingRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, infra_id: str, node_name: str, kind: str, count: int | None,
            target_instance: str | None = None) -> int:
        with self._store.write() as conn:
            result = conn.execute(insert(t).values(
                infra_id=infra_id, node_name=node_name, kind=kind, count=count,
                target_instance=target_instance, created_at=time.time()))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def infras_with_pending(self, infra_ids: list[str]) -> set[str]:
        """Which of these infrastructures have unapplied requests (a quick look)."""
        with self._store.read() as conn:
            return set(conn.execute(select(t.c.infra_id).distinct().where(
                t.c.infra_id.in_(infra_ids), t.c.applied_at.is_(None))).scalars())

    def pending(self, infra_id: str, conn: Connection) -> list[ScalingRequest]:
        """Unapplied requests in arrival order, read inside the caller's transaction.

        In a write transaction they are locked: on PostgreSQL a second pass waits
        here and then skips what the first applied, so a request is applied once
        even without the lease. A read transaction just looks.
        """
        query = (select(t).where(t.c.infra_id == infra_id, t.c.applied_at.is_(None))
                 .order_by(t.c.id))
        if not conn.get_execution_options().get(READONLY, False):
            query = query.with_for_update()
        rows = conn.execute(query)
        return [ScalingRequest(**row._mapping) for row in rows]

    def mark_applied(self, conn: Connection, request_id: int, outcome: str) -> None:
        conn.execute(update(t).where(t.c.id == request_id)
                     .values(applied_at=time.time(), outcome=outcome))

    def all(self, infra_id: str) -> list[ScalingRequest]:
        with self._store.read() as conn:
            return [ScalingRequest(**r._mapping) for r in
                    conn.execute(select(t).where(t.c.infra_id == infra_id).order_by(t.c.id))]
