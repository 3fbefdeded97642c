"""Leases: at most one maintainer acts on an infrastructure at a time.

A lease is a row (holder, expiry). Taking it is one guarded statement, so
two processes — or two machines sharing PostgreSQL — cannot both win; a
crashed holder's lease simply expires. Expiry is computed and compared in
the database's time, never a client's: two machines whose clocks disagree
still agree on who holds a lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from occo.store.tables import leases as t

if TYPE_CHECKING:
    from occo.store.store import Store


class DbNow(FunctionElement[float]):
    """The database's current time, in POSIX seconds."""

    type = Float()
    inherit_cache = True


@compiles(DbNow)
def _db_now_postgresql(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(DbNow, "sqlite")
def _db_now_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    # SQLite has no server: its time is the machine's (to the millisecond).
    return "((julianday('now') - 2440587.5) * 86400.0)"


class LeaseRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def acquire(self, infra_id: str, holder: str, ttl: float) -> bool:
        """Take (or renew) the lease unless someone else holds a live one."""
        try:
            with self._store.write() as conn:
                taken = conn.execute(
                    update(t).where(t.c.infra_id == infra_id,
                                    (t.c.holder == holder) | (t.c.expires_at < DbNow()))
                    .values(holder=holder, expires_at=DbNow() + ttl)).rowcount
                if taken:
                    return True
                exists = conn.execute(select(t.c.infra_id).where(t.c.infra_id == infra_id)).first()
                if exists is not None:
                    return False
                conn.execute(insert(t).values(infra_id=infra_id, holder=holder,
                                              expires_at=DbNow() + ttl))
                return True
        except IntegrityError:
            return False  # another process inserted it first

    def renew(self, infra_id: str, holder: str, ttl: float) -> bool:
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.infra_id == infra_id, t.c.holder == holder)
                .values(expires_at=DbNow() + ttl)).rowcount)

    def take_over(self, infra_id: str, old_holder: str, holder: str, ttl: float) -> bool:
        """Take the lease from ``old_holder`` (known dead) if it still holds it."""
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.infra_id == infra_id, t.c.holder == old_holder)
                .values(holder=holder, expires_at=DbNow() + ttl)).rowcount)

    def release(self, infra_id: str, holder: str) -> None:
        with self._store.write() as conn:
            conn.execute(delete(t).where(t.c.infra_id == infra_id, t.c.holder == holder))

    def holder(self, infra_id: str) -> tuple[str, float] | None:
        with self._store.read() as conn:
            row = conn.execute(select(t.c.holder, t.c.expires_at)
                               .where(t.c.infra_id == infra_id)).first()
        return (row.holder, row.expires_at) if row else None
