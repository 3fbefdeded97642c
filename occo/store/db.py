"""Engine creation: SQLite tuned for several processes, or any SQLAlchemy URL.

SQLite's driver does not begin a transaction before a SELECT, so two
processes can read-modify-write and lose an update; every write transaction
therefore starts with ``BEGIN IMMEDIATE`` (readers use a plain ``BEGIN``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from occo.errors import ConfigError, make_directory

READONLY = "occo_readonly"
SQLITE_BUSY_TIMEOUT = 30.0   # seconds a writer waits for another's transaction to end


def _use_wal(cursor: Any, patience: float = SQLITE_BUSY_TIMEOUT) -> None:
    """Put the file in WAL mode (it stays so once switched).

    SQLite answers "database is locked" at once, without its busy wait, when
    several connections switch a new file at the same moment (commands started
    together on a fresh home): retry within the busy timeout.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked: cannot switch it to WAL mode")
        time.sleep(0.01)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def shown(url: str | URL) -> str:
    """The URL as it may appear in a message: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable)"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their directory created.

    A URL that names no database occo can use is a :class:`ConfigError`.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("the store URL (OCCOPUS_STORE_URL or store_url) is not a database "
                          "URL; e.g. sqlite:////var/lib/occo/occopus.db or "
                          "postgresql://occo@db.example.org/occo") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"store URL {shown(parsed)}: unknown kind of database "
                          f"{parsed.get_backend_name()!r} (occo keeps its store in sqlite "
                          "or postgresql)")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                make_directory(Path(parsed.database).parent, "the store's directory")
            engine = create_engine(parsed, pool_size=8, max_overflow=32, connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False})
            _tune_sqlite(engine)
            return engine
        if parsed.get_backend_name() == "postgresql" and \
                parsed.get_driver_name() in ("", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=8, max_overflow=32, pool_pre_ping=True)
    except (ImportError, NoSuchModuleError) as exc:
        raise ConfigError(f"store URL {shown(parsed)}: its database driver "
                          f"({getattr(exc, 'name', None) or parsed.drivername}) is not "
                          "installed; for PostgreSQL: pip install 'occo[postgres]'") from None
    except ArgumentError as exc:
        raise ConfigError(f"store URL {shown(parsed)}: {exc}") from None
