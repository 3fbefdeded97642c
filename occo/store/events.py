"""The event log: every decision with its time and reason; never rotated."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from occo.store.records import EventRecord, event_record
from occo.store.tables import events as t

if TYPE_CHECKING:
    from occo.store.store import Store


class EventRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, kind: str, message: str, *, infra_id: str | None = None,
            execution_id: str | None = None, data: dict[str, Any] | None = None,
            conn: Connection | None = None) -> None:
        row = {"infra_id": infra_id, "execution_id": execution_id, "time": time.time(),
               "kind": kind, "message": message, "data": data}
        if conn is not None:
            conn.execute(insert(t), row)
            return
        with self._store.write() as own:
            own.execute(insert(t), row)

    @staticmethod
    def add_many(conn: Connection, lines: list[tuple[str, str]], *, infra_id: str | None = None,
                 execution_id: str | None = None) -> None:
        """Several (kind, message) events in the caller's transaction, one executemany."""
        if not lines:
            return
        now = time.time()
        conn.execute(insert(t), [{"infra_id": infra_id, "execution_id": execution_id,
                                  "time": now, "kind": kind, "message": message, "data": None}
                                 for kind, message in lines])

    def recent(self, *, infra_id: str | None = None, execution_id: str | None = None,
               limit: int = 50) -> list[EventRecord]:
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if infra_id is not None:
            query = query.where(t.c.infra_id == infra_id)
        if execution_id is not None:
            query = query.where(t.c.execution_id == execution_id)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        return [event_record(dict(row._mapping)) for row in reversed(rows)]
