"""Resources of the dummy handler: kept in the store so they outlive processes
and a test can count what is left."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select

from occo.store.grouped import GroupCommit
from occo.store.tables import dummy_resources as t

if TYPE_CHECKING:
    from occo.store.store import Store


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[None]:
    conn.execute(insert(t), rows)
    return [None] * len(rows)


def _delete(conn: Connection, ids: list[str]) -> list[bool]:
    found = set(conn.execute(select(t.c.id).where(t.c.id.in_(ids))).scalars())
    if found:
        conn.execute(delete(t).where(t.c.id.in_(found)))
    return [resource_id in found for resource_id in ids]


# Built once: an in_() of literal ids would coerce every id on every call.
_BY_IDS = select(t.c.id, t.c.ready_at, t.c.failed, t.c.address).where(
    t.c.id.in_(bindparam("ids", expanding=True)))


class DummyResourceRepo:
    """Many simulated calls finish at once (a benchmark's hundred creates): their
    writes are group-committed, so the simulated cloud costs little of the run."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._adds = GroupCommit(store, _insert)
        self._removes = GroupCommit(store, _delete)

    def add(self, resource_id: str, instance_id: str, created_at: float, ready_at: float,
            failed: bool, address: str) -> None:
        self._adds.submit({"id": resource_id, "instance_id": instance_id,
                           "created_at": created_at, "ready_at": ready_at,
                           "failed": failed, "address": address})

    def get_many(self, resource_ids: list[str]) -> dict[str, tuple[float, bool, str]]:
        """``{id: (ready_at, failed, address)}`` for the ids that still exist."""
        out: dict[str, tuple[float, bool, str]] = {}
        with self._store.read() as conn:
            for start in range(0, len(resource_ids), 500):
                for id_, ready_at, failed, address in conn.execute(
                        _BY_IDS, {"ids": resource_ids[start:start + 500]}):
                    out[id_] = (ready_at, failed, address)
        return out

    def find_by_instance(self, instance_id: str) -> tuple[str, str] | None:
        """``(resource id, address)`` of the resource made for an instance, if any."""
        with self._store.read() as conn:
            row = conn.execute(select(t.c.id, t.c.address)
                               .where(t.c.instance_id == instance_id)).first()
        return (row.id, row.address) if row else None

    def remove(self, resource_id: str) -> bool:
        """Whether it existed."""
        return self._removes.submit(resource_id)

    def count(self) -> int:
        with self._store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t)).scalar_one())
