"""Infrastructure groups (with members) and execution groups."""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in annotations below
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from occo.errors import Conflict, NotFound
from occo.store.records import ExecutionGroupRecord, InfraGroupRecord
from occo.store.tables import execution_groups as eg
from occo.store.tables import infra_group_members as m
from occo.store.tables import infra_groups as g
from occo.store.tables import infrastructures as infras

if TYPE_CHECKING:
    from occo.store.store import Store


class InfraGroupRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, group_id: str, created_by: str | None = None,
               description: str | None = None) -> None:
        try:
            with self._store.write() as conn:
                conn.execute(insert(g), {"id": group_id, "created_at": time.time(),
                                         "created_by": created_by, "description": description})
        except IntegrityError:
            raise Conflict(f"infrastructure group '{group_id}' already exists") from None

    def get(self, group_id: str) -> InfraGroupRecord:
        with self._store.read() as conn:
            row = conn.execute(select(g).where(g.c.id == group_id)).first()
            if row is None:
                raise NotFound(f"unknown infrastructure group '{group_id}'")
            members = conn.execute(select(m.c.infra_id).where(m.c.group_id == group_id)
                                   .order_by(m.c.infra_id)).scalars().all()
        return InfraGroupRecord(**row._mapping, infra_ids=tuple(members))

    def list(self) -> builtins.list[InfraGroupRecord]:
        with self._store.read() as conn:
            ids = conn.execute(select(g.c.id).order_by(g.c.created_at)).scalars().all()
        return [self.get(i) for i in ids]

    def delete(self, group_id: str) -> None:
        with self._store.write() as conn:
            conn.execute(delete(m).where(m.c.group_id == group_id))
            if not conn.execute(delete(g).where(g.c.id == group_id)).rowcount:
                raise NotFound(f"unknown infrastructure group '{group_id}'")

    def add(self, group_id: str, infra_ids: builtins.list[str]) -> builtins.list[str]:
        """Add members (unknown infrastructure ids are an error; repeats are fine)."""
        self.get(group_id)
        with self._store.write() as conn:
            known = set(conn.execute(select(infras.c.id).where(infras.c.id.in_(infra_ids)))
                        .scalars())
            missing = [i for i in infra_ids if i not in known]
            if missing:
                raise NotFound(f"unknown infrastructure id '{missing[0]}'")
            present = set(conn.execute(select(m.c.infra_id).where(m.c.group_id == group_id))
                          .scalars())
            new = [i for i in dict.fromkeys(infra_ids) if i not in present]
            if new:
                conn.execute(insert(m), [{"group_id": group_id, "infra_id": i} for i in new])
        return new

    def remove(self, group_id: str, infra_ids: builtins.list[str]) -> None:
        self.get(group_id)
        with self._store.write() as conn:
            conn.execute(delete(m).where(m.c.group_id == group_id, m.c.infra_id.in_(infra_ids)))


def _exec_group(row: Any) -> ExecutionGroupRecord:
    data = dict(row._mapping)
    data["default_parameters"] = data["default_parameters"] or {}
    data["parameters"] = data["parameters"] or {}
    return ExecutionGroupRecord(**data)


class ExecutionGroupRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, record: ExecutionGroupRecord) -> None:
        with self._store.write() as conn:
            conn.execute(insert(eg), vars(record))

    def get(self, group_id: str) -> ExecutionGroupRecord:
        with self._store.read() as conn:
            row = conn.execute(select(eg).where(eg.c.id == group_id)).first()
        if row is None:
            raise NotFound(f"unknown execution group '{group_id}'")
        return _exec_group(row)

    def list(self, infra_group_id: str | None = None) -> builtins.list[ExecutionGroupRecord]:
        query = select(eg).order_by(eg.c.created_at)
        if infra_group_id is not None:
            query = query.where(eg.c.infra_group_id == infra_group_id)
        with self._store.read() as conn:
            return [_exec_group(r) for r in conn.execute(query)]

    def update(self, group_id: str, **values: Any) -> None:
        with self._store.write() as conn:
            if not conn.execute(update(eg).where(eg.c.id == group_id).values(**values)).rowcount:
                raise NotFound(f"unknown execution group '{group_id}'")
