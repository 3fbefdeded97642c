"""Bring a database to the current schema, cheaply when it already is.

Alembic is imported only when a migration must actually run, so a console
script on an up-to-date store starts fast. A new, empty database gets the
current schema in one step (the tables as declared, stamped with the head
revision): the migrations are for stores made by an earlier occo, and a test
holds them to the declared schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)

from occo.store.db import READONLY
from occo.store.revision import HEAD_REVISION

__all__ = ["HEAD_REVISION", "MIGRATIONS", "upgrade"]

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(engine: Engine) -> str | None:
    # Read-only: on SQLite a plain open must not take the write lock.
    with engine.connect().execution_options(**{READONLY: True}) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(engine_connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = engine_connection
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (no-op and no Alembic import when at head)."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with engine.begin() as conn:       # one at a time (BEGIN IMMEDIATE on SQLite)
        if conn.dialect.name == "postgresql":  # serialise first-start migrations
            conn.execute(text("SELECT pg_advisory_xact_lock(7210301)"))
        if not inspect(conn).get_table_names():
            _create_current(conn)
            return
        from alembic import command

        command.upgrade(alembic_config(conn), "head")


def _create_current(conn: Connection) -> None:
    """The declared tables, stamped as the head revision (what every migration makes)."""
    from occo.store.tables import metadata

    metadata.create_all(conn)
    version = Table("alembic_version", MetaData(),
                    Column("version_num", String(32), nullable=False),
                    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    version.create(conn)
    conn.execute(version.insert().values(version_num=HEAD_REVISION))
