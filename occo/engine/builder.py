"""The create executor: runs a DAG of instance creations.

An instance starts as soon as every instance of the nodes it depends on is
ready — no level barriers. One coordinating thread owns the store writes and
the schedule; handler calls and probes run on worker threads and report back
through a queue. On the first failure (or a cancel) no new work starts, the
calls in flight finish, and the outcome says what was created so the caller
can report and roll back.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from occo.configure.jobs import JobPlan, plan_jobs
from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.context.userdata import render_user_data
from occo.engine.readiness import ProbeResult, Verdict, probe
from occo.engine.runtime import InfraRuntime, NodeRuntime
from occo.engine.tasks import Task, TaskStatus
from occo.errors import OccoError
from occo.model.states import InstanceState
from occo.model.validation import validate_section
from occo.registry import PluginRegistry
from occo.resources.base import Address, Configurable, CreateRequest, CreateResult, ResourceRef
from occo.store.store import Store

FIRST_POLL = 0.1
POLL_FACTOR = 1.5
MAX_POLL = 5.0
IDLE_WAKE = 0.25

ProgressCallback = Callable[[Task], None]


class Work(StrEnum):
    """What a worker thread reports back to the coordinating loop."""

    CREATE = "create"    # a handler create() call
    PROBE = "probe"      # one readiness probe


@dataclass
class _Live:
    """Executor-side state of one instance being created."""

    task: Task
    node: NodeRuntime
    ref: ResourceRef | None = None
    address: Address | None = None
    started_mono: float = 0.0
    poll_interval: float = FIRST_POLL
    last_reason: str = ""
    jobs: JobPlan | None = None      # run by a Configurable handler once RUNNING


@dataclass
class BuildOutcome:
    tasks: list[Task]
    error: OccoError | None = None
    cancelled: bool = False
    created: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.cancelled


class CreateExecutor:
    """Creates the planned instances of one infrastructure in dependency order."""

    def __init__(self, store: Store, registry: PluginRegistry, infra: InfraRuntime, *,
                 execution_id: str, concurrency: int, create_timeout: float,
                 cancel: threading.Event | None = None,
                 progress: ProgressCallback | None = None) -> None:
        self.store = store
        self.registry = registry
        self.infra = infra
        self.execution_id = execution_id
        self.concurrency = max(1, concurrency)
        self.create_timeout = create_timeout
        self.cancel = cancel or threading.Event()
        self.progress = progress or (lambda _task: None)
        self.renderer = TemplateRenderer()
        self._done: queue.SimpleQueue[tuple[Work, str, Any]] = queue.SimpleQueue()

    # -- public -----------------------------------------------------------------
    def run(self, tasks: list[Task], ready_addresses: dict[str, list[Address]]) -> BuildOutcome:
        """Create ``tasks`` (already recorded as PENDING); ``ready_addresses``
        holds the instances that exist and are ready before this run."""
        self._addresses = {k: list(v) for k, v in ready_addresses.items()}
        self._remaining = dict.fromkeys(self.infra.nodes, 0)
        for task in tasks:
            self._remaining[task.node_name] += 1
        self._waiting = [_Live(t, self.infra.nodes[t.node_name]) for t in tasks]
        self._live: dict[str, _Live] = {}
        self._polls: list[tuple[float, str]] = []
        self._in_flight_creates: dict[str, int] = {}
        self._in_flight = 0
        self._error: OccoError | None = None
        self._created: list[str] = []
        now = time.time()
        for live in self._waiting:
            if self._deps_ready(live.node):
                live.task.queued_at = now
        self._stop_deadline: float | None = None
        workers = self.concurrency + min(32, max(4, len(tasks)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="occo-build")
        self._pool = pool
        try:
            self._loop()
        finally:  # never wait for a call that hangs past its timeout
            pool.shutdown(wait=self._in_flight == 0, cancel_futures=True)
        cancelled = self.cancel.is_set() and self._error is None
        return BuildOutcome(tasks=[live.task for live in self._all_tasks()], error=self._error,
                            cancelled=cancelled, created=list(self._created))

    # -- loop -------------------------------------------------------------------
    def _stopping(self) -> bool:
        return self._error is not None or self.cancel.is_set()

    def _all_tasks(self) -> list[_Live]:
        return list(self._live.values()) + self._waiting

    def _loop(self) -> None:
        while True:
            if not self._stopping():
                self._start_ready()
                self._submit_due_polls()
            if self._stopping():
                if self._stop_deadline is None:
                    self._stop_deadline = time.monotonic() + self.create_timeout
                # In-flight calls finish first, unless they hang past the create timeout:
                # then their records stay CREATING for destroy (or recover) to finish.
                if self._in_flight == 0 or time.monotonic() > self._stop_deadline:
                    return
            if not self._stopping() and not self._waiting and not self._live_unready() \
                    and self._in_flight == 0:
                return
            timeout = IDLE_WAKE
            if self._polls:
                timeout = max(0.0, min(timeout, self._polls[0][0] - time.monotonic()))
            try:
                item = self._done.get(timeout=timeout)
            except queue.Empty:
                self._check_timeouts()
                continue
            batch = [item]
            while True:
                try:
                    batch.append(self._done.get_nowait())
                except queue.Empty:
                    break
            self._handle(batch)
            self._check_timeouts()

    def _live_unready(self) -> bool:
        return any(live.task.status not in (TaskStatus.READY, TaskStatus.FAILED)
                   for live in self._live.values())

    def _deps_ready(self, node: NodeRuntime) -> bool:
        return all(self._remaining.get(dep, 0) == 0 for dep in node.dependees)

    # -- starting creates ---------------------------------------------------------
    def _start_ready(self) -> None:
        startable: list[_Live] = []
        still: list[_Live] = []
        for live in self._waiting:
            rtype = live.node.resource_type
            if self._deps_ready(live.node) and \
                    self._in_flight_creates.get(rtype, 0) < self.concurrency:
                self._in_flight_creates[rtype] = self._in_flight_creates.get(rtype, 0) + 1
                startable.append(live)
            else:
                still.append(live)
        if not startable:
            return
        self._waiting = still
        prepared: list[tuple[_Live, CreateRequest]] = []
        for live in startable:
            try:
                prepared.append((live, self._prepare(live)))
            except Exception as exc:  # noqa: BLE001 - a template or plugin error fails this one
                for other in startable:
                    self._in_flight_creates[other.node.resource_type] -= 1
                unstarted = [o for o in startable if o is not live]
                self._waiting = still + unstarted   # the run reports them, still pending
                self._live[live.task.instance_id] = live
                self._fail(live, exc)
                return
        now = time.time()
        with self.store.write() as conn:
            for live, request in prepared:
                self.store.instances.transition_in(
                    conn, live.task.instance_id, InstanceState.CREATING,
                    resource_config=request.config.model_dump(mode="json"))
        for live, request in prepared:
            live.task.started_at = now
            live.task.queued_at = live.task.queued_at or now
            live.task.status = TaskStatus.CREATING
            live.started_mono = time.monotonic()
            self._live[live.task.instance_id] = live
            self.progress(live.task)
            self._submit(Work.CREATE, live.task.instance_id, self._call_create, live, request)

    def _prepare(self, live: _Live) -> CreateRequest:
        node = live.node
        ctx = TemplateContext(
            infra_id=self.infra.infra_id, infra_name=self.infra.infra_name,
            node_name=node.name, instance_id=live.task.instance_id,
            variables={**self.infra.variables, **node.variables},
            addresses={dep: self._node_addresses(dep) for dep in node.dependees})
        rendered = self.renderer.render_tree(node.resource, ctx, what="resource section")
        model = self.registry.config_model(node.resource_type)
        config = validate_section(model, rendered, f"node '{node.name}' resource")
        runs_jobs = isinstance(self.registry.handler(node.resource_type), Configurable)
        user_data = render_user_data(self.renderer, node.contextualisation, ctx,
                                     node.config_management, include_jobs=not runs_jobs)
        live.jobs = plan_jobs(node.config_management, self.renderer, ctx) if runs_jobs else None
        return CreateRequest(infra_id=self.infra.infra_id, instance_id=live.task.instance_id,
                             node_name=node.name, config=config, user_data=user_data)

    def _node_addresses(self, node_name: str) -> NodeAddresses:
        known = self._addresses.get(node_name, [])
        return NodeAddresses(tuple((a.public, a.private) for a in known),
                             dict(known[0].ports) if known else {})

    def _call_create(self, live: _Live, request: CreateRequest) -> tuple[CreateResult, ResourceRef]:
        handler = self.registry.handler(live.node.resource_type)
        result = handler.create(request)
        ref = ResourceRef(request.instance_id, result.resource_id, request.config, result.data)
        return result, ref

    # -- workers ------------------------------------------------------------------
    def _submit(self, kind: Work, instance_id: str, fn: Callable[..., Any], *args: Any) -> None:
        self._in_flight += 1

        def run() -> None:
            try:
                self._done.put((kind, instance_id, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - reported to the loop
                self._done.put((kind, instance_id, exc))

        self._pool.submit(run)

    def _submit_due_polls(self) -> None:
        now = time.monotonic()
        while self._polls and self._polls[0][0] <= now:
            _, instance_id = heapq.heappop(self._polls)
            live = self._live[instance_id]
            assert live.ref is not None
            self._submit(Work.PROBE, instance_id, probe, self.registry, live.node.resource_type,
                         live.ref, live.node.health_check, live.address, live.jobs)

    def _schedule_poll(self, live: _Live, delay: float) -> None:
        heapq.heappush(self._polls, (time.monotonic() + delay, live.task.instance_id))

    # -- results ------------------------------------------------------------------
    def _handle(self, batch: list[tuple[Work, str, Any]]) -> None:
        transitions: list[tuple[str, InstanceState, dict[str, Any]]] = []
        late: list[tuple[str, CreateResult]] = []
        now = time.time()
        for kind, instance_id, result in batch:
            self._in_flight -= 1
            live = self._live[instance_id]
            if kind == Work.CREATE:
                self._in_flight_creates[live.node.resource_type] -= 1
                if isinstance(result, BaseException):
                    if live.task.status != TaskStatus.FAILED:
                        self._fail(live, result)
                    continue
                create_result, ref = result
                if live.task.status == TaskStatus.FAILED:
                    # Timed out while the call ran: keep the id so rollback finds it.
                    self._created.append(instance_id)
                    late.append((instance_id, create_result))
                    continue
                live.ref = ref
                live.task.created_at = now
                live.task.status = TaskStatus.BOOTING
                self._created.append(instance_id)
                transitions.append((instance_id, InstanceState.BOOTING, {
                    "resource_id": create_result.resource_id,
                    "resource_data": create_result.data}))
                self.progress(live.task)
                if not self._stopping():
                    self._schedule_poll(live, 0.0)
            else:
                self._on_probe(live, result, transitions, now)
        if transitions:
            self.store.instances.transition_many(transitions)
        for instance_id, created in late:
            self.store.instances.update_fields(instance_id, resource_id=created.resource_id,
                                               resource_data=created.data)

    def _on_probe(self, live: _Live, result: ProbeResult | BaseException,
                  transitions: list[tuple[str, InstanceState, dict[str, Any]]],
                  now: float) -> None:
        if live.task.status == TaskStatus.FAILED:  # timed out while this probe ran
            return
        if isinstance(result, BaseException):
            live.last_reason = str(result)
            self._reschedule(live, None)
            return
        if result.address is not None:
            live.address = result.address
        if result.verdict == Verdict.READY:
            address = result.address or live.address
            assert address is not None
            live.task.status = TaskStatus.READY
            live.task.ready_at = now
            assert live.ref is not None
            transitions.append((live.task.instance_id, InstanceState.READY, {
                "ready_at": now, "address": address.public,
                "private_address": address.private,
                "resource_data": {**live.ref.data, "ports": {
                    str(k): v for k, v in address.ports.items()}}}))
            self._addresses.setdefault(live.node.name, []).append(address)
            self.progress(live.task)
            self._remaining[live.node.name] -= 1
            if self._remaining[live.node.name] == 0:
                for other in self._waiting:
                    if other.task.queued_at is None and self._deps_ready(other.node):
                        other.task.queued_at = now
        elif result.verdict in (Verdict.FAILED, Verdict.GONE):
            self._fail(live, OccoError(f"instance of '{live.node.name}' failed: {result.reason}"))
        else:
            live.last_reason = result.reason
            self._reschedule(live, result.retry_after)

    def _reschedule(self, live: _Live, retry_after: float | None) -> None:
        if self._stopping():
            return
        if retry_after is not None:
            delay = max(0.0, retry_after) + 0.002
        else:
            delay = live.poll_interval
            live.poll_interval = min(MAX_POLL, live.poll_interval * POLL_FACTOR)
        self._schedule_poll(live, delay)

    def _timeout_for(self, live: _Live) -> float:
        value = live.node.health_check.get("timeout")
        return float(value) if value else self.create_timeout

    def _check_timeouts(self) -> None:
        if self._stopping():
            return
        now = time.monotonic()
        for live in self._live.values():
            if live.task.status in (TaskStatus.CREATING, TaskStatus.BOOTING) and \
                    now - live.started_mono > self._timeout_for(live):
                reason = f" (last: {live.last_reason})" if live.last_reason else ""
                self._fail(live, OccoError(
                    f"instance of '{live.node.name}' not ready within "
                    f"{self._timeout_for(live):g} s{reason}"))
                return

    def _fail(self, live: _Live, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, OccoError) else f"{type(exc).__name__}: {exc}"
        live.task.status = TaskStatus.FAILED
        live.task.error = message
        live.task.ended_at = time.time()
        self.progress(live.task)
        self.store.instances.transition(live.task.instance_id, InstanceState.FAILED,
                                        reason=message)
        if self._error is None:
            self._error = exc if isinstance(exc, OccoError) else OccoError(message)
