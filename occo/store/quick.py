"""The few queries a quick command needs, through the standard library's sqlite3.

Importing SQLAlchemy takes about ten times as long as starting the interpreter,
and a listing, a report or a scaling request is otherwise over in a few
milliseconds. So these read (and, for a scaling request, insert one row) with
sqlite3 directly, returning the same records as the :class:`~occo.store.store.Store`
repositories whose methods they mirror. They are used only on a SQLite store
that exists and is at the current schema; anything else opens the full Store,
which creates or migrates it. ``tests/store/test_quick.py`` holds both to the
same answers.
"""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in annotations below
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from occo.errors import NotFound
from occo.model.states import InstanceState
from occo.store.records import (
    EventRecord,
    InfraRecord,
    InstanceBrief,
    InstanceRecord,
    NodeRecord,
    event_record,
    infra_record,
    instance_record,
    node_record,
)
from occo.store.revision import HEAD_REVISION

__all__ = ["QuickStore"]

BUSY_TIMEOUT = 30.0
_LIVE = f"state != '{InstanceState.DESTROYED}'"


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL; None for anything else."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == prefix or any(c in url for c in "?%#"):
        return None            # options or escapes: left to SQLAlchemy's parser
    return Path(url[len(prefix):])


def _decoded(row: sqlite3.Row, json_columns: tuple[str, ...]) -> dict[str, Any]:
    data = dict(zip(row.keys(), row, strict=True))
    for column in json_columns:
        if isinstance(data.get(column), str):
            data[column] = json.loads(data[column])
    return data


class QuickStore:
    """Read access, plus recording scaling requests, to a current SQLite store."""

    def __init__(self, path: Path) -> None:
        # autocommit: every statement is its own transaction unless one is begun
        self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.Lock()      # one connection: one statement group at a time
        self.infras = _Infras(self)
        self.instances = _Instances(self)
        self.events = _Events(self)
        self.scaling = _Scaling(self)

    @classmethod
    def open(cls, url: str) -> QuickStore | None:
        """A QuickStore on ``url``, or None when the full Store must be used."""
        path = sqlite_path(url)
        if path is None or not path.is_file():
            return None
        try:
            store = cls(path)
        except sqlite3.Error:
            return None
        try:
            with store.read() as conn:
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:        # not an occo store (yet): the full Store explains
            store.close()
            return None
        if revision is None or revision[0] != HEAD_REVISION:
            store.close()
            return None
        return store

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent view over several statements."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def write(self, sql: str, row: Mapping[str, Any]) -> int:
        """One statement in its own transaction; the new row's id."""
        with self._lock:
            cursor = self._conn.execute(sql, row)
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def close(self) -> None:
        self._conn.close()


class _Infras:
    """Mirrors InfraRepo.get, list and nodes."""

    def __init__(self, store: QuickStore) -> None:
        self._store = store

    def get(self, infra_id: str) -> InfraRecord:
        with self._store.read() as conn:
            row = conn.execute("SELECT * FROM infrastructures WHERE id = ?",
                               (infra_id,)).fetchone()
        if row is None:
            raise NotFound(f"unknown infrastructure id '{infra_id}'")
        return infra_record(_decoded(row, ("description", "labels")))

    def list(self) -> list[InfraRecord]:
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM infrastructures ORDER BY created_at").fetchall()
        return [infra_record(_decoded(r, ("description", "labels"))) for r in rows]

    def nodes(self, infra_id: str) -> builtins.list[NodeRecord]:
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM nodes WHERE infra_id = ? ORDER BY id",
                                (infra_id,)).fetchall()
        return [node_record(_decoded(r, ("spec", "implementation"))) for r in rows]


class _Instances:
    """Mirrors InstanceRepo.briefs and find."""

    def __init__(self, store: QuickStore) -> None:
        self._store = store

    def briefs(self, infra_id: str) -> list[InstanceBrief]:
        with self._store.read() as conn:
            rows = conn.execute(
                f"SELECT id, node_name, state, address FROM instances "
                f"WHERE infra_id = ? AND {_LIVE} ORDER BY created_at, id",
                (infra_id,)).fetchall()
        return [InstanceBrief(r["id"], r["node_name"], InstanceState(r["state"]), r["address"])
                for r in rows]

    def find(self, infra_id: str, node_name: str, key: str) -> InstanceRecord:
        with self._store.read() as conn:
            row = conn.execute(
                f"SELECT * FROM instances WHERE infra_id = ? AND node_name = ? AND {_LIVE} "
                "AND (id = ? OR address = ? OR private_address = ?)",
                (infra_id, node_name, key, key, key)).fetchone()
        if row is None:
            raise NotFound(f"node '{node_name}' has no instance with id or address '{key}'")
        return instance_record(_decoded(row, ("resource_config", "resource_data")))


class _Events:
    """Mirrors EventRepo.recent."""

    def __init__(self, store: QuickStore) -> None:
        self._store = store

    def recent(self, *, infra_id: str | None = None, limit: int = 50) -> list[EventRecord]:
        where, args = ("WHERE infra_id = ? ", (infra_id,)) if infra_id is not None else ("", ())
        with self._store.read() as conn:
            rows = conn.execute(f"SELECT * FROM events {where}ORDER BY id DESC LIMIT ?",
                                (*args, limit)).fetchall()
        return [event_record(_decoded(r, ("data",))) for r in reversed(rows)]


class _Scaling:
    """Mirrors ScalingRepo.add."""

    def __init__(self, store: QuickStore) -> None:
        self._store = store

    def add(self, infra_id: str, node_name: str, kind: str, count: int | None,
            target_instance: str | None = None) -> int:
        row: Mapping[str, Any] = {"infra_id": infra_id, "node_name": node_name,
                                  "kind": str(kind), "count": count,
                                  "target_instance": target_instance,
                                  "created_at": time.time()}
        return self._store.write(
            "INSERT INTO scaling_requests (infra_id, node_name, kind, count, target_instance, "
            "created_at) VALUES (:infra_id, :node_name, :kind, :count, :target_instance, "
            ":created_at)", row)
