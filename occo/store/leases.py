"""Leases: at most one maintainer acts on an infrastructure at a time.

A lease is a row (holder, expiry). Taking it is one guarded statement, so
two processes — or two machines sharing PostgreSQL — cannot both win; a
crashed holder's lease simply expires.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from occo.store.tables import leases as t

if TYPE_CHECKING:
    from occo.store.store import Store


class LeaseRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def acquire(self, infra_id: str, holder: str, ttl: float) -> bool:
        """Take (or renew) the lease unless someone else holds a live one."""
        now = time.time()
        try:
            with self._store.write() as conn:
                taken = conn.execute(
                    update(t).where(t.c.infra_id == infra_id,
                                    (t.c.holder == holder) | (t.c.expires_at < now))
                    .values(holder=holder, expires_at=now + ttl)).rowcount
                if taken:
                    return True
                exists = conn.execute(select(t.c.infra_id).where(t.c.infra_id == infra_id)).first()
                if exists is not None:
                    return False
                conn.execute(insert(t), {"infra_id": infra_id, "holder": holder,
                                         "expires_at": now + ttl})
                return True
        except IntegrityError:
            return False  # another process inserted it first

    def renew(self, infra_id: str, holder: str, ttl: float) -> bool:
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.infra_id == infra_id, t.c.holder == holder)
                .values(expires_at=time.time() + ttl)).rowcount)

    def take_over(self, infra_id: str, old_holder: str, holder: str, ttl: float) -> bool:
        """Take the lease from ``old_holder`` (known dead) if it still holds it."""
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.infra_id == infra_id, t.c.holder == old_holder)
                .values(holder=holder, expires_at=time.time() + ttl)).rowcount)

    def release(self, infra_id: str, holder: str) -> None:
        with self._store.write() as conn:
            conn.execute(delete(t).where(t.c.infra_id == infra_id, t.c.holder == holder))

    def holder(self, infra_id: str) -> tuple[str, float] | None:
        with self._store.read() as conn:
            row = conn.execute(select(t.c.holder, t.c.expires_at)
                               .where(t.c.infra_id == infra_id)).first()
        return (row.holder, row.expires_at) if row else None
