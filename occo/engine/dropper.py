"""The drop executor: destroys instances in reverse dependency order.

An instance of node X is dropped only once no instance of a node that
depends on X is still waiting to be dropped. Each drop is confirmed by the
handler reporting the resource GONE; what cannot be confirmed is left as
FAILED with its reason, so a later destroy can retry.

One coordinating thread owns the order and the store writes: it marks a
batch DESTROYING in one transaction before any of its handler calls, and
records each batch of results in one more. Worker threads only call the
handler. Per node it counts the dependents still to drop, so finishing an
instance touches only the nodes it held back.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from occo.configure.base import ManagedNode
from occo.engine.tasks import Task, TaskAction, TaskStatus
from occo.model.states import InstanceState, ResourceState
from occo.registry import PluginRegistry
from occo.resources.base import Recoverable, ResourceRef
from occo.store.records import InstanceRecord
from occo.store.store import Store

log = logging.getLogger(__name__)

CONFIRM_FIRST_POLL = 0.05
CONFIRM_MAX_POLL = 2.0


@dataclass
class DropOutcome:
    tasks: list[Task]
    left: list[tuple[str, str]] = field(default_factory=list)  # (instance id, reason)

    @property
    def ok(self) -> bool:
        return not self.left


class DropExecutor:
    def __init__(self, store: Store, registry: PluginRegistry,
                 dependents: Callable[[str], list[str]], *, execution_id: str,
                 concurrency: int, destroy_timeout: float,
                 progress: Callable[[Task], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.store = store
        self.registry = registry
        self.dependents = dependents
        self.execution_id = execution_id
        self.concurrency = max(1, concurrency)
        self.destroy_timeout = destroy_timeout
        self.progress = progress or (lambda _task: None)
        self.cancel = cancel or threading.Event()   # set: start no new drop
        self._lock = threading.Lock()
        self._sections: dict[str, dict[str, dict[str, Any]]] = {}   # infra -> node -> section

    def run(self, instances: list[InstanceRecord]) -> DropOutcome:
        todo = [i for i in instances if i.state != InstanceState.DESTROYED]
        self._tasks = {i.id: Task(i.id, i.node_name, action=TaskAction.DESTROY,
                                queued_at=time.time())
                       for i in todo}
        self._left: list[tuple[str, str]] = []
        self._never_created: set[str] = set()     # dropped without a resource to destroy
        self._remaining = Counter(i.node_name for i in todo)
        self._index_dependents()
        self._ready: dict[str, deque[InstanceRecord]] = {}   # resource type -> droppable
        self._held: dict[str, list[InstanceRecord]] = {}     # node -> waiting on dependents
        for inst in todo:
            self._queue(inst)
        self._per_type: dict[str, int] = {}
        self._in_flight = 0
        self._done: queue.SimpleQueue[tuple[InstanceRecord, str | None]] = queue.SimpleQueue()
        workers = min(64, self.concurrency * 2 + 2)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="occo-drop") as pool:
            while True:
                if not self.cancel.is_set():
                    self._start(pool)
                if not self._in_flight:
                    break  # all done, or cancelled (nothing is held back for good in a DAG)
                batch = [self._done.get()]
                while True:
                    try:
                        batch.append(self._done.get_nowait())
                    except queue.Empty:
                        break
                self._settle(batch)
        unstarted = [i for ready in self._ready.values() for i in ready] + \
            [i for held in self._held.values() for i in held]
        self._left += [(inst.id, "not dropped: stopped") for inst in unstarted]
        return DropOutcome(tasks=list(self._tasks.values()), left=self._left)

    def _index_dependents(self) -> None:
        """Once per run: per node, how many nodes that depend on it still have
        instances to drop, and which nodes each one holds back."""
        self._holding: dict[str, int] = {}
        self._holds_back: dict[str, list[str]] = {}
        for name in self._remaining:
            blockers = [d for d in dict.fromkeys(self.dependents(name))
                        if d != name and self._remaining.get(d, 0)]
            self._holding[name] = len(blockers)
            for dependent in blockers:
                self._holds_back.setdefault(dependent, []).append(name)

    def _queue(self, inst: InstanceRecord) -> None:
        if self._holding[inst.node_name]:
            self._held.setdefault(inst.node_name, []).append(inst)
        else:
            self._ready.setdefault(inst.resource_type, deque()).append(inst)

    def _start(self, pool: ThreadPoolExecutor) -> None:
        """Start what may go now: never-created intents are simply marked gone;
        the rest are marked DESTROYING (one transaction) before their handler calls."""
        while True:
            starting: list[InstanceRecord] = []
            for rtype, ready in self._ready.items():
                free = self.concurrency - self._per_type.get(rtype, 0)
                while ready and free > 0:
                    inst = ready.popleft()
                    starting.append(inst)
                    if inst.state != InstanceState.PENDING:
                        free -= 1
            if not starting:
                return
            intents = [i for i in starting if i.state == InstanceState.PENDING]
            calls = [i for i in starting if i.state != InstanceState.PENDING]
            with self.store.write() as conn:
                refused = dict(self.store.instances.transition_batch(
                    conn, [(i.id, InstanceState.DESTROYED, {}) for i in intents]
                    + [(i.id, InstanceState.DESTROYING, {}) for i in calls], strict=False))
            now = time.time()
            finished: list[tuple[InstanceRecord, str | None]] = []
            for inst in starting:
                task = self._tasks[inst.id]
                task.started_at = now
                task.status = TaskStatus.DESTROYING
                self.progress(task)
                if inst.state == InstanceState.PENDING or inst.id in refused:
                    if inst.state == InstanceState.PENDING:
                        self._never_created.add(inst.id)
                    finished.append((inst, refused.get(inst.id)))
                    continue
                self._per_type[inst.resource_type] = self._per_type.get(inst.resource_type, 0) + 1
                self._in_flight += 1
                pool.submit(self._call_destroy, inst)
            if finished:
                self._record(finished, own_slots=False)

    def _call_destroy(self, inst: InstanceRecord) -> None:
        try:
            error = self._destroy(inst)
        except BaseException as exc:  # noqa: BLE001 - reported to the loop
            error = str(exc) or type(exc).__name__
        self._done.put((inst, error))

    def _settle(self, batch: list[tuple[InstanceRecord, str | None]]) -> None:
        self._in_flight -= len(batch)
        self._record(batch, own_slots=True)

    def _record(self, results: list[tuple[InstanceRecord, str | None]], *,
                own_slots: bool) -> None:
        """Store a batch of results in one transaction, then release what they held back."""
        errors = {inst.id: error for inst, error in results if error is not None}
        with self.store.write() as conn:
            refused = dict(self.store.instances.transition_batch(
                conn, [(i.id, InstanceState.DESTROYED, {}) for i, _ in results
                       if i.id not in errors], strict=False))
            errors.update(refused)
            # The reason is kept on the record, so a later destroy can say what failed.
            self.store.instances.transition_batch(
                conn, [(i, InstanceState.FAILED, {"reason": f"destroy failed: {reason}"})
                       for i, reason in errors.items()], strict=False)
        now = time.time()
        for inst, _ in results:
            if own_slots:
                self._per_type[inst.resource_type] -= 1
            task = self._tasks[inst.id]
            task.ended_at = now
            error = errors.get(inst.id)
            if error is None:
                task.status = (TaskStatus.DISCARDED if inst.id in self._never_created
                               else TaskStatus.DESTROYED)
            else:
                task.status = TaskStatus.FAILED
                task.error = error
                self._left.append((inst.id, error))
            self.progress(task)
            self._remaining[inst.node_name] -= 1
            if self._remaining[inst.node_name] == 0:
                for dependee in self._holds_back.get(inst.node_name, []):
                    self._holding[dependee] -= 1
                    if self._holding[dependee] == 0:
                        for held in self._held.pop(dependee, []):
                            self._queue(held)

    def _ref(self, inst: InstanceRecord) -> ResourceRef | None:
        handler = self.registry.handler(inst.resource_type)
        config = handler.config_model.model_validate(inst.resource_config)
        if inst.resource_id:
            return ResourceRef(inst.id, inst.resource_id, config, inst.resource_data)
        if isinstance(handler, Recoverable):
            found = handler.recover(inst.id, config)
            if found is not None:
                return ResourceRef(inst.id, found.resource_id, config, found.data)
        return None

    def _destroy(self, inst: InstanceRecord) -> str | None:
        """Destroy and confirm (on a worker thread); the error text, or None when gone."""
        try:
            ref = self._ref(inst)
            if ref is not None:
                handler = self.registry.handler(inst.resource_type)
                handler.destroy(ref)
                self._confirm_gone(ref, inst.resource_type)
            else:
                with self._lock:
                    self._never_created.add(inst.id)
            self._forget_configured(inst)
            return None
        except Exception as exc:  # noqa: BLE001 - any failure leaves the record
            return str(exc) or type(exc).__name__

    def _forget_configured(self, inst: InstanceRecord) -> None:
        """Tell the node's server-side config manager (chef) the instance is gone. Its
        failure is logged, never stops a destroy: as in Occopus, the server's record
        of a node is not a resource."""
        with self._lock:
            if inst.infra_id not in self._sections:
                self._sections[inst.infra_id] = config_sections(self.store, inst.infra_id)
            section = self._sections[inst.infra_id].get(inst.node_name) or {}
        try:
            manager = self.registry.config_manager(section.get("type"))
            if manager is not None:
                manager.drop(ManagedNode(inst.infra_id, inst.node_name, inst.id, section))
        except Exception as exc:  # noqa: BLE001 - logged; the resource itself is gone
            log.warning("could not remove %s %s from its config manager: %s", inst.node_name,
                        inst.id, exc)

    def _confirm_gone(self, ref: ResourceRef, resource_type: str) -> None:
        handler = self.registry.handler(resource_type)
        deadline = time.monotonic() + self.destroy_timeout
        interval = CONFIRM_FIRST_POLL
        while True:
            report = handler.state(ref)
            if report.state == ResourceState.GONE:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"resource {ref.resource_id} still {report.state} "
                                   f"after {self.destroy_timeout:g} s")
            time.sleep(interval)
            interval = min(CONFIRM_MAX_POLL, interval * 1.5)


def config_sections(store: Store, infra_id: str) -> dict[str, dict[str, Any]]:
    """Node name -> the ``config_management`` section it was built with."""
    return {n.name: dict((n.implementation or {}).get("config_management") or {})
            for n in store.infras.nodes(infra_id)}


def forget_infrastructure(store: Store, registry: PluginRegistry, infra_id: str) -> None:
    """Remove what a destroyed infrastructure left on config-management servers."""
    seen: set[str] = set()
    for section in config_sections(store, infra_id).values():
        key = json.dumps(section, sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            manager = registry.config_manager(section.get("type"))
            if manager is not None:
                manager.drop_infrastructure(infra_id, section)
        except Exception as exc:  # noqa: BLE001 - logged, as above
            log.warning("could not remove infrastructure %s from its config manager: %s",
                        infra_id, exc)
