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
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from occo.configure.base import ConfigManager, ManagedNode
from occo.configure.jobs import JobPlan, plan_jobs
from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.context.userdata import managed_parts, render_user_data
from occo.engine.readiness import (
    ProbeResult,
    Verdict,
    health_spec_for,
    probe,
    probe_running,
    state_verdict,
)
from occo.engine.runtime import InfraRuntime, NodeRuntime
from occo.engine.tasks import Task, TaskStatus
from occo.errors import OccoError
from occo.model.states import InstanceState
from occo.model.tokens import new_scaling_token
from occo.model.validation import validate_section
from occo.registry import PluginRegistry
from occo.resources.base import (
    Address,
    BatchStates,
    Configurable,
    CreateRequest,
    CreateResult,
    ResourceRef,
    StateReport,
)
from occo.store.instances import Change
from occo.store.store import Store

FIRST_POLL = 0.1
POLL_FACTOR = 1.5
MAX_POLL = 5.0
IDLE_WAKE = 0.25

ProgressCallback = Callable[[Task], None]


class Work(StrEnum):
    """What a worker thread reports back to the coordinating loop."""

    CREATE = "create"    # a handler create() call
    PROBE = "probe"      # one readiness probe (or its part after the state)
    STATES = "states"    # one states() call for many instances


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
    health: dict[str, Any] = field(default_factory=dict)   # rendered for this instance
    token_digest: str | None = None  # of the scaling token its templates were given
    managed: tuple[ConfigManager, ManagedNode] | None = None   # registered before create


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
        # (kind, instance id or list of ids, result or exception) from the workers
        self._done: queue.SimpleQueue[tuple[Work, Any, Any]] = queue.SimpleQueue()

    # -- public -----------------------------------------------------------------
    def run(self, tasks: list[Task], ready_addresses: dict[str, list[Address]]) -> BuildOutcome:
        """Create ``tasks`` (already recorded as PENDING); ``ready_addresses``
        holds the instances that exist and are ready before this run."""
        self._tasks = list(tasks)
        self._addresses = {k: list(v) for k, v in ready_addresses.items()}
        self._address_views: dict[str, NodeAddresses] = {}
        self._remaining = dict.fromkeys(self.infra.nodes, 0)
        for task in tasks:
            self._remaining[task.node_name] += 1
        self._index_dependencies()
        self._live: dict[str, _Live] = {}
        self._polls: list[tuple[float, str]] = []
        self._deadlines: list[tuple[float, str]] = []
        self._in_flight_creates: dict[str, int] = {}
        self._in_flight = 0
        self._unsettled = len(tasks)     # neither READY nor FAILED yet
        self._error: OccoError | None = None
        self._created: list[str] = []
        self._writes: list[Change] = []   # state changes not yet written (see _flush)
        now = time.time()
        for task in tasks:
            self._queue(_Live(task, self.infra.nodes[task.node_name]), now)
        self._stop_deadline: float | None = None
        workers = self.concurrency + min(32, max(4, len(tasks)))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="occo-build")
        self._pool = pool
        try:
            self._loop()
            self._flush()
        finally:  # never wait for a call that hangs past its timeout
            pool.shutdown(wait=self._in_flight == 0, cancel_futures=True)
        cancelled = self.cancel.is_set() and self._error is None
        return BuildOutcome(tasks=self._tasks, error=self._error,
                            cancelled=cancelled, created=list(self._created))

    def _index_dependencies(self) -> None:
        """Once per run: per node, how many of the nodes it depends on still have
        instances to make ready in this run, and which nodes wait on it; and each
        node's create timeout."""
        self._unmet: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {name: [] for name in self.infra.nodes}
        self._timeouts: dict[str, float] = {}
        self._health: dict[str, dict[str, Any]] = {}
        self._batch_states: dict[str, bool] = {}
        self._configurable: dict[str, bool] = {}
        self._visible: dict[str, list[str]] = {}
        for node in self.infra.nodes.values():
            self._health[node.name] = node.health_check
            waits_on = [d for d in dict.fromkeys(node.dependees) if self._remaining.get(d, 0)]
            self._unmet[node.name] = len(waits_on)
            for dependee in waits_on:
                self._dependents[dependee].append(node.name)
            value = self._health[node.name].get("timeout")
            self._timeouts[node.name] = float(value) if value else self.create_timeout
        self._blocked: dict[str, list[_Live]] = {}        # node -> instances held back
        self._ready: dict[str, deque[_Live]] = {}         # resource type -> startable, FIFO

    def _queue(self, live: _Live, now: float) -> None:
        """Startable once every node it depends on is ready; held back until then."""
        if self._unmet[live.node.name]:
            self._blocked.setdefault(live.node.name, []).append(live)
            return
        live.task.queued_at = live.task.queued_at or now
        self._ready.setdefault(live.node.resource_type, deque()).append(live)

    def _node_ready(self, name: str, now: float) -> None:
        """Every instance of ``name`` is ready: release the nodes that waited only on it."""
        for dependent in self._dependents[name]:
            self._unmet[dependent] -= 1
            if self._unmet[dependent] == 0:
                for live in self._blocked.pop(dependent, []):
                    self._queue(live, now)

    # -- loop -------------------------------------------------------------------
    def _stopping(self) -> bool:
        return self._error is not None or self.cancel.is_set()

    def _loop(self) -> None:
        while True:
            starting = [] if self._stopping() else self._take_startable()
            # One transaction per turn: the results of the last batch (resource ids
            # included) and the CREATING intents of the next, before any call is made.
            self._flush()
            for live, request in starting:
                self._submit(Work.CREATE, live.task.instance_id, self._call_create, live, request)
            if not self._stopping():
                self._submit_due_polls()
            if self._stopping():
                if self._stop_deadline is None:
                    self._stop_deadline = time.monotonic() + self.create_timeout
                # In-flight calls finish first, unless they hang past the create timeout:
                # then their records stay CREATING for destroy (or recover) to finish.
                if self._in_flight == 0 or time.monotonic() > self._stop_deadline:
                    return
            elif self._unsettled == 0 and self._in_flight == 0:
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

    def _flush(self) -> None:
        """Write the state changes gathered since the last flush, in order."""
        if self._writes:
            writes, self._writes = self._writes, []
            self.store.instances.transition_many(writes)

    # -- starting creates ---------------------------------------------------------
    def _take_startable(self) -> list[tuple[_Live, CreateRequest]]:
        """Instances to start now (up to the concurrency per resource type), prepared
        and recorded CREATING in the pending writes."""
        startable: list[_Live] = []
        for rtype, ready in self._ready.items():
            free = self.concurrency - self._in_flight_creates.get(rtype, 0)
            while ready and free > 0:
                startable.append(ready.popleft())
                free -= 1
        if not startable:
            return []
        prepared: list[tuple[_Live, CreateRequest]] = []
        for live in startable:
            try:
                prepared.append((live, self._prepare(live)))
            except Exception as exc:  # noqa: BLE001 - a template or plugin error fails this one
                for other in reversed(startable):  # the run reports them, still pending
                    if other is not live:
                        self._ready[other.node.resource_type].appendleft(other)
                self._live[live.task.instance_id] = live
                self._fail(live, exc)
                return []
        now, mono = time.time(), time.monotonic()
        for live, request in prepared:
            self._writes.append((live.task.instance_id, InstanceState.CREATING,
                                 {"resource_config": request.config.model_dump(mode="json"),
                                  "scaling_token_hash": live.token_digest}))
            rtype = live.node.resource_type
            self._in_flight_creates[rtype] = self._in_flight_creates.get(rtype, 0) + 1
            live.task.started_at = now
            live.task.queued_at = live.task.queued_at or now
            live.task.status = TaskStatus.CREATING
            live.started_mono = mono
            self._live[live.task.instance_id] = live
            heapq.heappush(self._deadlines,
                           (mono + self._timeouts[live.node.name], live.task.instance_id))
            self.progress(live.task)
        return prepared

    def _prepare(self, live: _Live) -> CreateRequest:
        node = live.node
        token, live.token_digest = new_scaling_token()
        if node.name not in self._visible:      # whose addresses its templates may use
            self._visible[node.name] = [*self.infra.ancestors(node.name), node.name]
        ctx = TemplateContext(
            infra_id=self.infra.infra_id, infra_name=self.infra.infra_name,
            node_name=node.name, instance_id=live.task.instance_id,
            variables=dict(node.variables),
            addresses={dep: self._node_addresses(dep) for dep in self._visible[node.name]},
            origins=node.origins, extras={"occo": {"scaling_token": token}})
        rendered = self.renderer.render_tree(node.resource, ctx, what="resource section",
                                             path=("resource",))
        model = self.registry.config_model(node.resource_type)
        config = validate_section(model, rendered, f"node '{node.name}' resource")
        rtype = node.resource_type
        if rtype not in self._configurable:
            self._configurable[rtype] = isinstance(self.registry.handler(rtype), Configurable)
        runs_jobs = self._configurable[rtype]
        user_data = render_user_data(self.renderer, node.contextualisation, ctx,
                                     node.config_management, include_jobs=not runs_jobs)
        live.jobs = plan_jobs(node.config_management, self.renderer, ctx) if runs_jobs else None
        live.health = health_spec_for(self.renderer, self.infra, node, live.task.instance_id,
                                      ctx.addresses)
        live.managed = self._managed(node, ctx)
        return CreateRequest(infra_id=self.infra.infra_id, instance_id=live.task.instance_id,
                             node_name=node.name, config=config, user_data=user_data)

    def _node_addresses(self, node_name: str) -> NodeAddresses:
        """The addresses of a node's ready instances, built once per change: a node's
        dependents start only after all of its instances are ready."""
        view = self._address_views.get(node_name)
        if view is None:
            known = self._addresses.get(node_name, [])
            view = NodeAddresses(tuple((a.public, a.private) for a in known),
                                 dict(known[0].ports) if known else {})
            self._address_views[node_name] = view
        return view

    def _managed(self, node: NodeRuntime, ctx: TemplateContext
                 ) -> tuple[ConfigManager, ManagedNode] | None:
        """The node as its server-side config manager (chef) will register it."""
        manager = self.registry.config_manager((node.config_management or {}).get("type"))
        if manager is None:
            return None
        section, attributes = managed_parts(self.renderer, node.contextualisation,
                                            node.config_management, ctx)
        if node.connections:
            attributes = {**attributes, "connections": [dict(c) for c in node.connections]}
        return manager, ManagedNode(self.infra.infra_id, node.name, ctx.instance_id, section,
                                    attributes, node.synch_attributes)

    def _call_create(self, live: _Live, request: CreateRequest) -> tuple[CreateResult, ResourceRef]:
        if live.managed is not None:
            manager, managed = live.managed
            manager.register(managed)
        handler = self.registry.handler(live.node.resource_type)
        result = handler.create(request)
        ref = ResourceRef(request.instance_id, result.resource_id, request.config, result.data)
        return result, ref

    # -- workers ------------------------------------------------------------------
    def _submit(self, kind: Work, key: str | list[str], fn: Callable[..., Any],
                 *args: Any) -> None:
        self._in_flight += 1

        def run() -> None:
            try:
                self._done.put((kind, key, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - reported to the loop
                self._done.put((kind, key, exc))

        self._pool.submit(run)

    def _submit_due_polls(self) -> None:
        """Probe what is due: one states call per resource type where the handler
        answers many at once (the rest of a probe follows per running instance)."""
        now = time.monotonic()
        due: dict[str, list[_Live]] = {}
        while self._polls and self._polls[0][0] <= now:
            _, instance_id = heapq.heappop(self._polls)
            live = self._live[instance_id]
            due.setdefault(live.node.resource_type, []).append(live)
        for rtype, lives in due.items():
            handler = self.registry.handler(rtype)
            if len(lives) > 1 and self._answers_many(rtype, handler):
                assert isinstance(handler, BatchStates)
                self._submit(Work.STATES, [live.task.instance_id for live in lives],
                             handler.states, [live.ref for live in lives])
                continue
            for live in lives:
                assert live.ref is not None
                self._submit(Work.PROBE, live.task.instance_id, probe, self.registry, rtype,
                             live.ref, live.health, live.address, live.jobs, live.managed)

    def _answers_many(self, rtype: str, handler: object) -> bool:
        if rtype not in self._batch_states:
            self._batch_states[rtype] = isinstance(handler, BatchStates)
        return self._batch_states[rtype]

    def _on_states(self, instance_ids: list[str], reports: list[StateReport] | BaseException,
                   now: float) -> None:
        """A states call answered: decide what the state alone decides, and probe the
        running ones further (jobs, address, health checks)."""
        if not isinstance(reports, BaseException) and len(reports) != len(instance_ids):
            reports = OccoError(f"states() answered {len(reports)} of {len(instance_ids)}")
        for index, instance_id in enumerate(instance_ids):
            live = self._live[instance_id]
            if live.task.status == TaskStatus.FAILED:
                continue
            if isinstance(reports, BaseException):
                self._on_probe(live, reports, now)
                continue
            verdict = state_verdict(reports[index])
            if verdict is not None:
                self._on_probe(live, verdict, now)
                continue
            assert live.ref is not None
            self._submit(Work.PROBE, instance_id, probe_running, self.registry,
                         live.node.resource_type, live.ref, live.health, live.address,
                         live.jobs, live.managed)

    def _schedule_poll(self, live: _Live, delay: float) -> None:
        heapq.heappush(self._polls, (time.monotonic() + delay, live.task.instance_id))

    # -- results ------------------------------------------------------------------
    def _handle(self, batch: list[tuple[Work, Any, Any]]) -> None:
        late: list[tuple[str, CreateResult]] = []
        now = time.time()
        for kind, key, result in batch:
            self._in_flight -= 1
            if kind == Work.STATES:
                self._on_states(key, result, now)
                continue
            instance_id: str = key
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
                self._writes.append((instance_id, InstanceState.BOOTING, {
                    "resource_id": create_result.resource_id,
                    "resource_data": create_result.data}))
                self.progress(live.task)
                if not self._stopping():
                    self._schedule_poll(live, 0.0)
            else:
                self._on_probe(live, result, now)
        for instance_id, created in late:
            self.store.instances.update_fields(instance_id, resource_id=created.resource_id,
                                               resource_data=created.data)

    def _on_probe(self, live: _Live, result: ProbeResult | BaseException, now: float) -> None:
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
            self._writes.append((live.task.instance_id, InstanceState.READY, {
                "ready_at": now, "address": address.public,
                "private_address": address.private,
                "resource_data": {**live.ref.data, "ports": {
                    str(k): v for k, v in address.ports.items()}}}))
            self._unsettled -= 1
            self._addresses.setdefault(live.node.name, []).append(address)
            self._address_views.pop(live.node.name, None)
            self.progress(live.task)
            self._remaining[live.node.name] -= 1
            if self._remaining[live.node.name] == 0:
                self._node_ready(live.node.name, now)
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

    def _check_timeouts(self) -> None:
        """Fail the first instance past its deadline; ready ones leave the heap unseen."""
        if self._stopping():
            return
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] < now:
            _, instance_id = heapq.heappop(self._deadlines)
            live = self._live[instance_id]
            if live.task.status in (TaskStatus.CREATING, TaskStatus.BOOTING):
                reason = f" (last: {live.last_reason})" if live.last_reason else ""
                self._fail(live, OccoError(
                    f"instance of '{live.node.name}' not ready within "
                    f"{self._timeouts[live.node.name]:g} s{reason}"))
                return

    def _fail(self, live: _Live, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, OccoError) else f"{type(exc).__name__}: {exc}"
        live.task.status = TaskStatus.FAILED
        self._unsettled -= 1
        live.task.error = message
        live.task.ended_at = time.time()
        self.progress(live.task)
        self._writes.append((live.task.instance_id, InstanceState.FAILED, {"reason": message}))
        if self._error is None:
            self._error = exc if isinstance(exc, OccoError) else OccoError(message)
