"""Resources of the dummy handler: kept in the store so they outlive processes
and a test can count what is left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select

from occo.store.tables import dummy_resources as t

if TYPE_CHECKING:
    from occo.store.store import Store


class DummyResourceRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, resource_id: str, instance_id: str, created_at: float, ready_at: float,
            failed: bool, address: str) -> None:
        with self._store.write() as conn:
            conn.execute(insert(t), {"id": resource_id, "instance_id": instance_id,
                                     "created_at": created_at, "ready_at": ready_at,
                                     "failed": failed, "address": address})

    def get_many(self, resource_ids: list[str]) -> dict[str, tuple[float, bool, str]]:
        """``{id: (ready_at, failed, address)}`` for the ids that still exist."""
        out: dict[str, tuple[float, bool, str]] = {}
        with self._store.read() as conn:
            for start in range(0, len(resource_ids), 500):
                chunk = resource_ids[start:start + 500]
                for row in conn.execute(select(t.c.id, t.c.ready_at, t.c.failed, t.c.address)
                                        .where(t.c.id.in_(chunk))):
                    out[row.id] = (row.ready_at, row.failed, row.address)
        return out

    def find_by_instance(self, instance_id: str) -> tuple[str, str] | None:
        """``(resource id, address)`` of the resource made for an instance, if any."""
        with self._store.read() as conn:
            row = conn.execute(select(t.c.id, t.c.address)
                               .where(t.c.instance_id == instance_id)).first()
        return (row.id, row.address) if row else None

    def remove(self, resource_id: str) -> bool:
        with self._store.write() as conn:
            return bool(conn.execute(delete(t).where(t.c.id == resource_id)).rowcount)

    def count(self) -> int:
        with self._store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())
