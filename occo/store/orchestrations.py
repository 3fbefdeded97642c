"""Orchestration tasks (job x instance), the per-instance job cache and pinned host keys.

A task moves by guarded UPDATEs (``WHERE status IN allowed predecessors``),
like instances, so two processes never run one task twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from occo.errors import NotFound
from occo.model.states import JOB_TASK_TRANSITIONS, JobTaskStatus, check_transition
from occo.store.records import JobTaskRecord
from occo.store.tables import host_keys as h
from occo.store.tables import job_cache as c
from occo.store.tables import job_tasks as t

if TYPE_CHECKING:
    from occo.store.store import Store


def _task(row: Any) -> JobTaskRecord:
    data = dict(row._mapping)
    data["status"] = JobTaskStatus(data["status"])
    return JobTaskRecord(**data)


class JobTaskRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, tasks: list[JobTaskRecord]) -> None:
        if not tasks:
            return
        with self._store.write() as conn:
            conn.execute(insert(t), [vars(task) for task in tasks])

    def get(self, task_id: str) -> JobTaskRecord:
        with self._store.read() as conn:
            row = conn.execute(select(t).where(t.c.id == task_id)).first()
        if row is None:
            raise NotFound(f"unknown task id '{task_id}'")
        return _task(row)

    def for_execution(self, execution_id: str) -> list[JobTaskRecord]:
        with self._store.read() as conn:
            return [_task(r) for r in conn.execute(
                select(t).where(t.c.execution_id == execution_id).order_by(t.c.position))]

    def move(self, task_id: str, old: Iterable[JobTaskStatus], new: JobTaskStatus,
             **values: Any) -> bool:
        """Guarded status change: True only for the one caller that made it."""
        olds = list(old)
        for status in olds:
            check_transition("job task", JOB_TASK_TRANSITIONS, status, new)
        with self._store.write() as conn:
            return bool(conn.execute(
                update(t).where(t.c.id == task_id, t.c.status.in_([str(s) for s in olds]))
                .values(status=new, **values)).rowcount)

    def succeed(self, task: JobTaskRecord, **values: Any) -> None:
        """RUNNING -> SUCCEEDED and the content remembered for the instance, in one step."""
        now = time.time()
        with self._store.write() as conn:
            conn.execute(update(t).where(t.c.id == task.id,
                                         t.c.status == JobTaskStatus.RUNNING)
                         .values(status=JobTaskStatus.SUCCEEDED, ended_at=now, **values))
            conn.execute(delete(c).where(c.c.instance_id == task.instance_id,
                                         c.c.content_hash == task.content_hash))
            conn.execute(insert(c), {"instance_id": task.instance_id,
                                     "content_hash": task.content_hash,
                                     "task_id": task.id, "succeeded_at": now})

    def cached(self, instance_ids: list[str]) -> set[tuple[str, str]]:
        """(instance id, content hash) of every job that succeeded on these instances."""
        if not instance_ids:
            return set()
        with self._store.read() as conn:
            return {(r.instance_id, r.content_hash) for r in conn.execute(
                select(c.c.instance_id, c.c.content_hash).where(c.c.instance_id.in_(instance_ids)))}


class HostKeyRepo:
    """SSH host keys pinned per instance on first use."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, instance_id: str) -> tuple[str, str] | None:
        """(key type, base64 key) pinned for the instance, if any."""
        with self._store.read() as conn:
            row = conn.execute(select(h.c.key_type, h.c.key)
                               .where(h.c.instance_id == instance_id)).first()
        return (row.key_type, row.key) if row else None

    def pin(self, instance_id: str, host: str, port: int, key_type: str, key: str) -> bool:
        """Pin a key unless one is pinned already; False when another was there first."""
        try:
            with self._store.write() as conn:
                conn.execute(insert(h), {"instance_id": instance_id, "host": host, "port": port,
                                         "key_type": key_type, "key": key,
                                         "pinned_at": time.time()})
        except IntegrityError:
            return self.get(instance_id) == (key_type, key)
        return True

    def forget(self, instance_id: str) -> None:
        with self._store.write() as conn:
            conn.execute(delete(h).where(h.c.instance_id == instance_id))
