"""Group commit: writes from many threads merged into one transaction.

Each caller queues its item and returns once that item is committed (or
raises what the transaction raised). Whichever caller finds the writer free
commits everything queued so far, its own item and others', so a hundred
threads finishing at the same moment cost a few transactions, not a hundred.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Connection

if TYPE_CHECKING:
    from occo.store.store import Store

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Entry(Generic[Item]):
    item: Item
    done: bool = False
    result: Any = None
    error: BaseException | None = field(default=None)


class GroupCommit(Generic[Item, Result]):
    def __init__(self, store: Store,
                 write: Callable[[Connection, list[Item]], list[Result]]) -> None:
        """``write`` stores a batch inside the transaction it is given and returns
        one result per item, in order."""
        self._store = store
        self._write = write
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._queued: list[_Entry[Item]] = []

    def submit(self, item: Item) -> Result:
        entry = _Entry(item)
        with self._queue_lock:
            self._queued.append(entry)
        with self._writer:
            if not entry.done:
                with self._queue_lock:
                    batch, self._queued = self._queued, []
                self._commit(batch)
        if entry.error is not None:
            raise entry.error
        result: Result = entry.result
        return result

    def _commit(self, batch: list[_Entry[Item]]) -> None:
        try:
            with self._store.write() as conn:
                results = self._write(conn, [e.item for e in batch])
            for entry, result in zip(batch, results, strict=True):
                entry.result = result
        except BaseException as exc:  # noqa: BLE001 - every caller of the batch sees it
            for entry in batch:
                entry.error = exc
        finally:
            for entry in batch:
                entry.done = True
