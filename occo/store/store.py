"""The Store: one engine, transactions, and a repository per table group."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from occo.errors import ConfigError
from occo.store.db import READONLY, SQLITE_BUSY_TIMEOUT, make_engine, shown
from occo.store.dummy import DummyResourceRepo
from occo.store.events import EventRepo
from occo.store.executions import ExecutionRepo
from occo.store.groups import ExecutionGroupRepo, InfraGroupRepo
from occo.store.infras import InfraRepo
from occo.store.instances import InstanceRepo
from occo.store.leases import LeaseRepo
from occo.store.migrate import upgrade
from occo.store.nodedefs import NodeDefinitionRepo
from occo.store.orchestrations import HostKeyRepo, JobTaskRepo
from occo.store.scaling import ScalingRepo
from occo.store.triggers import TriggerRepo


class Store:
    """Persistent state shared by every interface and process."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        # A Store dropped without close() still closes its connections (a
        # PostgreSQL connection left to the garbage collector warns).
        self._dispose = weakref.finalize(self, self.engine.dispose)
        self._writers = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        if migrate:
            try:
                upgrade(self.engine)
            except DBAPIError as exc:
                self.close()
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                raise ConfigError(f"cannot open the store at {shown(url)}: {reason}") from None
        self.node_defs = NodeDefinitionRepo(self)
        self.infras = InfraRepo(self)
        self.instances = InstanceRepo(self)
        self.executions = ExecutionRepo(self)
        self.events = EventRepo(self)
        self.dummy = DummyResourceRepo(self)
        self.leases = LeaseRepo(self)
        self.scaling = ScalingRepo(self)
        self.infra_groups = InfraGroupRepo(self)
        self.execution_groups = ExecutionGroupRepo(self)
        self.job_tasks = JobTaskRepo(self)
        self.host_keys = HostKeyRepo(self)
        self.triggers = TriggerRepo(self)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite).

        SQLite takes one writer at a time, and a writer that finds the lock taken
        sleeps in growing steps (1, 2, 5, 10... ms) before trying again. Threads of
        this process therefore queue on a lock of their own first and go straight
        in when their turn comes; other processes still meet SQLite's lock. After
        ``busy_timeout`` seconds a thread stops waiting here and tries anyway.
        """
        if self._writers is None:
            with self.engine.begin() as conn:
                yield conn
            return
        queued = self._writers.acquire(timeout=SQLITE_BUSY_TIMEOUT)
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            if queued:
                self._writers.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that takes no write lock."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(**{READONLY: True})
            with conn.begin():
                yield conn

    def close(self) -> None:
        self._dispose()
