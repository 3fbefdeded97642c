"""Node definitions: imported per type; a re-import replaces that type's list."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, text

from occo.errors import NotFound
from occo.store.tables import node_definitions as t

if TYPE_CHECKING:
    from occo.store.store import Store


class NodeDefinitionRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def replace(self, definitions: dict[str, list[dict[str, Any]]], source: str | None) -> None:
        """Store each type's implementations, replacing what the type had."""
        now = time.time()
        with self._store.write() as conn:
            if conn.dialect.name == "postgresql":
                # Two imports must not interleave their delete and insert; readers go on.
                conn.execute(text("LOCK TABLE node_definitions IN SHARE ROW EXCLUSIVE MODE"))
            for node_type, impls in definitions.items():
                conn.execute(delete(t).where(t.c.node_type == node_type))
                if impls:
                    conn.execute(insert(t), [
                        {"node_type": node_type, "position": i, "implementation": impl,
                         "source": source, "imported_at": now}
                        for i, impl in enumerate(impls)
                    ])

    def get(self, node_type: str) -> list[dict[str, Any]]:
        with self._store.read() as conn:
            rows = conn.execute(
                select(t.c.implementation).where(t.c.node_type == node_type).order_by(t.c.position)
            ).all()
        if not rows:
            raise NotFound(f"unknown node type '{node_type}'")
        return [r.implementation for r in rows]

    def all(self) -> dict[str, list[dict[str, Any]]]:
        with self._store.read() as conn:
            rows = conn.execute(select(t.c.node_type, t.c.implementation)
                                .order_by(t.c.node_type, t.c.position)).all()
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row.node_type, []).append(row.implementation)
        return out

    def types(self) -> set[str]:
        with self._store.read() as conn:
            return set(conn.execute(select(t.c.node_type).distinct()).scalars())

    def delete(self, node_type: str) -> None:
        with self._store.write() as conn:
            if not conn.execute(delete(t).where(t.c.node_type == node_type)).rowcount:
                raise NotFound(f"unknown node type '{node_type}'")
