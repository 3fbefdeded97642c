"""The drop executor: destroys instances in reverse dependency order.

An instance of node X is dropped only once no instance of a node that
depends on X is still waiting to be dropped. Each drop is confirmed by the
handler reporting the resource GONE; what cannot be confirmed is left as
FAILED with its reason, so a later destroy can retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from occo.engine.tasks import Task, TaskAction, TaskStatus
from occo.model.states import InstanceState, ResourceState
from occo.registry import PluginRegistry
from occo.resources.base import Recoverable, ResourceRef
from occo.store.records import InstanceRecord
from occo.store.store import Store

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

    def run(self, instances: list[InstanceRecord]) -> DropOutcome:
        todo = [i for i in instances if i.state != InstanceState.DESTROYED]
        tasks = {i.id: Task(i.id, i.node_name, action=TaskAction.DESTROY, queued_at=time.time())
                 for i in todo}
        remaining_per_node: dict[str, int] = {}
        for inst in todo:
            remaining_per_node[inst.node_name] = remaining_per_node.get(inst.node_name, 0) + 1
        waiting = list(todo)
        in_flight: dict[Future[str | None], InstanceRecord] = {}
        per_type: dict[str, int] = {}
        left: list[tuple[str, str]] = []

        def eligible(inst: InstanceRecord) -> bool:
            return all(remaining_per_node.get(d, 0) == 0 for d in self.dependents(inst.node_name)
                       if d != inst.node_name) and \
                per_type.get(inst.resource_type, 0) < self.concurrency

        workers = min(64, self.concurrency * 2 + 2)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="occo-drop") as pool:
            while waiting or in_flight:
                still = []
                for inst in waiting:
                    if not self.cancel.is_set() and eligible(inst):
                        per_type[inst.resource_type] = per_type.get(inst.resource_type, 0) + 1
                        task = tasks[inst.id]
                        task.started_at = time.time()
                        task.status = TaskStatus.DESTROYING
                        self.progress(task)
                        in_flight[pool.submit(self._drop_one, inst)] = inst
                    else:
                        still.append(inst)
                waiting = still
                if not in_flight:
                    left += [(inst.id, "not dropped: stopped") for inst in waiting]
                    break  # cancelled (or nothing can progress, which a DAG rules out)
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    inst = in_flight.pop(future)
                    per_type[inst.resource_type] -= 1
                    remaining_per_node[inst.node_name] -= 1
                    task = tasks[inst.id]
                    task.ended_at = time.time()
                    error = future.result()
                    if error is None:
                        task.status = TaskStatus.DESTROYED
                    else:
                        task.status = TaskStatus.FAILED
                        task.error = error
                        left.append((inst.id, error))
                    self.progress(task)
        return DropOutcome(tasks=list(tasks.values()), left=left)

    def _ref(self, inst: InstanceRecord) -> tuple[ResourceRef | None, str]:
        handler = self.registry.handler(inst.resource_type)
        config = handler.config_model.model_validate(inst.resource_config)
        if inst.resource_id:
            return ResourceRef(inst.id, inst.resource_id, config, inst.resource_data), ""
        if isinstance(handler, Recoverable):
            found = handler.recover(inst.id, config)
            if found is not None:
                return ResourceRef(inst.id, found.resource_id, config, found.data), ""
        return None, ""

    def _drop_one(self, inst: InstanceRecord) -> str | None:
        """Destroy and confirm; the error text, or None when confirmed gone."""
        try:
            if inst.state == InstanceState.PENDING:
                self.store.instances.transition(inst.id, InstanceState.DESTROYED)
                return None
            self.store.instances.transition(inst.id, InstanceState.DESTROYING)
            ref, _ = self._ref(inst)
            if ref is not None:
                handler = self.registry.handler(inst.resource_type)
                handler.destroy(ref)
                self._confirm_gone(ref, inst.resource_type)
            self.store.instances.transition(inst.id, InstanceState.DESTROYED)
            return None
        except Exception as exc:  # noqa: BLE001 - any failure leaves the record
            reason = str(exc) or type(exc).__name__
            try:
                self.store.instances.transition(inst.id, InstanceState.FAILED,
                                                reason=f"destroy failed: {reason}")
            except Exception:  # noqa: BLE001 - keep the first error
                pass
            return reason

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
