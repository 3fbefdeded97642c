"""Leases: at most one maintainer acts on an infrastructure at a time.

A lease is a row (holder, expiry). Taking it is one guarded statement, so
two processes — or two machines sharing PostgreSQL — cannot both win; a
crashed holder's lease simply expires. Expiry is computed and compared in
the database's time, never a client's: two machines whose clocks disagree
still agree on who holds a lease.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Float, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
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

    def acquire_many(self, infra_ids: Collection[str], holder: str, ttl: float) -> set[str]:
        """Take (or renew) several leases in one transaction; the ids taken.

        Like :meth:`acquire` for each id: a live lease of another is left alone.
        """
        if not infra_ids:
            return set()
        ids = list(infra_ids)
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.infra_id.in_(ids),
                                         (t.c.holder == holder) | (t.c.expires_at < DbNow()))
                         .values(holder=holder, expires_at=DbNow() + ttl))
            present = set(conn.execute(select(t.c.infra_id).where(t.c.infra_id.in_(ids)))
                          .scalars())
            missing = [{"infra_id": i, "holder": holder} for i in ids if i not in present]
            if missing:   # another process may insert one at the same moment: it keeps it
                conn.execute(_insert_unless_present(conn).values(expires_at=DbNow() + ttl),
                             missing)
            return self._ours(conn, ids, holder)

    def renew_many(self, infra_ids: Collection[str], holder: str, ttl: float) -> set[str]:
        """Renew several leases; the ids still held (the others were lost)."""
        if not infra_ids:
            return set()
        ids = list(infra_ids)
        with self._store.write() as conn:
            renewed = conn.execute(update(t).where(t.c.infra_id.in_(ids), t.c.holder == holder)
                                   .values(expires_at=DbNow() + ttl)).rowcount
            return set(ids) if renewed == len(ids) else self._ours(conn, ids, holder)

    def release_many(self, infra_ids: Collection[str], holder: str) -> None:
        if infra_ids:
            with self._store.write() as conn:
                conn.execute(delete(t).where(t.c.infra_id.in_(list(infra_ids)),
                                             t.c.holder == holder))

    @staticmethod
    def _ours(conn: Connection, ids: list[str], holder: str) -> set[str]:
        return set(conn.execute(select(t.c.infra_id).where(t.c.infra_id.in_(ids),
                                                           t.c.holder == holder)).scalars())

    def holder(self, infra_id: str) -> tuple[str, float] | None:
        with self._store.read() as conn:
            row = conn.execute(select(t.c.holder, t.c.expires_at)
                               .where(t.c.infra_id == infra_id)).first()
        return (row.holder, row.expires_at) if row else None


def _insert_unless_present(conn: Connection) -> Any:
    """An INSERT that skips rows whose lease exists (SQLite and PostgreSQL; elsewhere
    a plain INSERT, whose conflict fails the transaction: no lease is taken)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(t).on_conflict_do_nothing(index_elements=[t.c.infra_id])
    if conn.dialect.name == "sqlite":
        return sqlite.insert(t).on_conflict_do_nothing(index_elements=[t.c.infra_id])
    return insert(t)
