"""Build, update and destroy: plan, execute, report, roll back.

These functions own the order of store writes that makes occo crash-safe:
intent before every handler call, resource id as soon as it exists, and an
infrastructure record that is removed only once its resources are gone.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from occo.engine.dropper import forget_infrastructure
from occo.engine.leasing import DEFAULT_TTL, exclusive, lease_lost_message, make_holder
from occo.engine.orphans import HALF_CREATED, find_orphans
from occo.engine.plan import ObservedInstance, Plan, WantedNode, orphan_transition, plan_build
from occo.engine.readiness import check_names
from occo.engine.recorder import Limits, Progress, Publish, Run
from occo.engine.runtime import InfraRuntime, NodeRuntime, choose_implementation, infra_runtime
from occo.engine.watch import watch_requests
from occo.errors import (
    BuildFailed,
    ConfigError,
    DescriptionError,
    DestroyIncomplete,
    Interrupted,
    LeaseLost,
    OccoError,
)
from occo.model.description import InfraDescription, check_node_types
from occo.model.mappings import mapping_notes
from occo.model.states import ExecutionStatus, InfraState, InstanceState
from occo.model.templates import origin_of, template_dependencies
from occo.model.vocabulary import Workflow
from occo.registry import PluginRegistry
from occo.resources.base import Credentialed
from occo.store.records import InfraRecord, InstanceRecord, NodeRecord
from occo.store.store import Store

log = logging.getLogger(__name__)

__all__ = ["BuildResult", "Lifecycle", "Progress", "RunOptions", "plan_for", "resolve_runtime"]


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 1
    create_timeout: float = 600.0
    destroy_timeout: float = 300.0
    base_url: str | None = None
    creator: str | None = None
    execution_id: str | None = None   # run as this (queued) execution instead of a new one
    rollback: bool = True             # False: keep what became ready, so a resume continues
    lease_ttl: float = DEFAULT_TTL

    @property
    def limits(self) -> Limits:
        return Limits(self.concurrency, self.create_timeout, self.destroy_timeout)


@dataclass
class BuildResult:
    infra_id: str
    execution_id: str | None
    plan: Plan
    report: dict[str, Any] | None = None
    nodes: dict[str, NodeRuntime] = field(default_factory=dict)
    description: InfraDescription | None = None   # with the dependencies templates imply
    notes: list[str] = field(default_factory=list)  # what of the description has no effect


def resolve_runtime(store: Store, registry: PluginRegistry, desc: InfraDescription,
                    infra_id: str) -> tuple[InfraDescription, InfraRuntime]:
    """Join each node with its implementation; unknown types fail here, with location.

    The description returned also waits for the nodes its templates ask about
    (see :mod:`occo.model.templates`).
    """
    check_node_types(desc, store.node_defs.types())
    chosen = {}
    for index, node in enumerate(desc.nodes):
        where = desc.location_of(("nodes", index, "filter"))
        chosen[node.name] = choose_implementation(node.name, store.node_defs.get(node.type),
                                                  node.filter, where)
    desc = desc.with_template_dependencies(template_dependencies(
        desc.variables, [(n.name, n.variables, chosen[n.name]) for n in desc.nodes]))
    for node in desc.nodes:
        _check_plugins(registry, node.name, node.type, chosen[node.name])
    return desc, infra_runtime(infra_id, desc, chosen.__getitem__)


def _check_plugins(registry: PluginRegistry, name: str, node_type: str,
                   impl: dict[str, Any]) -> None:
    """The node's handler and health checks exist (and their SDKs are installed), and
    its resource's credentials can be found; a refusal names where the node
    definition says so."""
    def refuse(exc: DescriptionError, at: tuple[str, ...]) -> DescriptionError:
        return DescriptionError(f"node '{name}' (type '{node_type}'): {exc.message}",
                                location=origin_of(impl, at))

    try:
        handler = registry.handler(str(impl["resource"]["type"]))
    except DescriptionError as exc:
        raise refuse(exc, ("resource", "type")) from None
    for check in check_names(impl.get("health_check") or {}):
        try:
            registry.health_check(check)
        except DescriptionError as exc:
            raise refuse(exc, ()) from None
    registry.config_manager((impl.get("config_management") or {}).get("type"))
    if isinstance(handler, Credentialed):
        try:
            config = handler.config_model.model_validate(impl["resource"])
        except ValidationError:
            config = None        # templated values: checked once rendered, at create
        if config is not None:
            try:
                handler.check_credentials(config)
            except ConfigError as exc:
                raise ConfigError(f"node '{name}' (type '{node_type}'): {exc.message}",
                                  location=origin_of(impl, ())) from None


def config_manager_problems(registry: PluginRegistry,
                            runtime: InfraRuntime) -> list[ConfigError]:
    """Why a node could not be registered with its config-management server (e.g. no
    chef credentials in auth_data.yaml). A build refuses the first before anything is
    created; a dry run notes them all (Occopus's generic tutorial auth_data.yaml has
    no chef entry, and its chef tutorial should still validate)."""
    found: list[ConfigError] = []
    for node in runtime.nodes.values():
        manager = registry.config_manager((node.config_management or {}).get("type"))
        if manager is None or node.config_management is None:
            continue
        try:
            manager.check(node.config_management)
        except ConfigError as exc:
            found.append(ConfigError(f"node '{node.name}' (type '{node.node_type}'): "
                                     f"{exc.message}",
                                     location=origin_of(node.implementation, ())))
    return found


def stored_runtime(infra: InfraRecord, nodes: list[NodeRecord]) -> InfraRuntime:
    """The runtime of a built infrastructure, from what the store kept."""
    chosen = {n.name: n.implementation or {} for n in nodes}
    desc = InfraDescription.from_plain(infra.description)
    return infra_runtime(infra.id, desc, lambda name: chosen.get(name, {}))


def node_rows(infra_id: str, desc: InfraDescription, runtime: InfraRuntime,
              targets: dict[str, int]) -> list[NodeRecord]:
    return [NodeRecord(infra_id=infra_id, name=n.name, node_type=n.type,
                       min=n.scaling.min, max=n.scaling.max, target=targets[n.name],
                       spec=n.model_dump(mode="json"),
                       implementation=runtime.nodes[n.name].implementation)
            for n in desc.nodes]


def observed_instances(instances: list[InstanceRecord],
                       node_types: dict[str, str] | None = None) -> list[ObservedInstance]:
    """Store records as the planners see them."""
    node_types = node_types or {}
    return [ObservedInstance(i.id, i.node_name, i.state, i.created_at,
                             node_types.get(i.node_name, ""), i.state_since,
                             i.unhealthy_since, i.ready_at) for i in instances]


def plan_for(store: Store, desc: InfraDescription, infra_id: str | None) -> Plan:
    wanted = [WantedNode(n.name, n.type, n.scaling.min, n.scaling.max,
                         tuple(desc.dependees(n.name))) for n in desc.nodes]
    if infra_id is None:
        return plan_build(wanted, [])
    old_nodes = store.infras.nodes(infra_id)
    types = {n.name: n.node_type for n in old_nodes}
    return plan_build(wanted, observed_instances(store.instances.for_infra(infra_id), types),
                      previous_targets={n.name: n.target for n in old_nodes},
                      previous_types=types)


@dataclass
class _Build:
    """What one build or update works from, decided before it starts."""

    desc: InfraDescription
    source: str | None
    options: RunOptions
    plan: Plan
    runtime: InfraRuntime
    previous: InfraRecord | None            # an update: the record before it
    previous_rows: list[NodeRecord] = field(default_factory=list)
    kill: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)   # the lease

    @property
    def workflow(self) -> Workflow:
        return Workflow.UPDATE if self.previous is not None else Workflow.BUILD


class Lifecycle:
    """Builds and destroys infrastructures for the API object."""

    def __init__(self, store: Store, registry: PluginRegistry,
                 publish: Publish | None = None) -> None:
        self.store = store
        self.registry = registry
        self.publish: Publish = publish or (lambda _event, _report: None)

    def _start(self, infra_id: str, workflow: Workflow, options: RunOptions, holder: str,
               **context: Any) -> Run:
        return Run.start(self.store, self.registry, infra_id, workflow, holder=holder,
                         execution_id=options.execution_id, creator=options.creator,
                         parameters={"concurrency": options.concurrency,
                                     "rollback": options.rollback},
                         limits=options.limits, base_url=options.base_url,
                         publish=self.publish, **context)

    # -- build ----------------------------------------------------------------------
    def build(self, desc: InfraDescription, *, source: str | None, options: RunOptions,
              infra_id: str | None = None, dry_run: bool = False,
              cancel: threading.Event | None = None, progress: Progress | None = None,
              on_infra_id: Callable[[str], None] | None = None,
              kill: threading.Event | None = None) -> BuildResult:
        """Build or update; ``kill`` (set with ``cancel``) skips the rollback."""
        updating = infra_id is not None
        if infra_id is not None:
            self.store.infras.get(infra_id)   # an unknown id fails here, before any work
        the_id = infra_id or str(uuid.uuid4())
        desc, runtime = resolve_runtime(self.store, self.registry, desc, the_id)
        notes = mapping_notes(desc, lambda name: runtime.nodes[name].uses_chef)
        unregistrable = config_manager_problems(self.registry, runtime)
        plan = plan_for(self.store, desc, infra_id)
        if dry_run:
            return BuildResult(the_id, None, plan, nodes=runtime.nodes, description=desc,
                               notes=notes + [str(e) for e in unregistrable])
        if unregistrable:
            raise unregistrable[0]
        for note in notes:
            log.warning("%s", note)
        holder = make_holder()
        workflow = Workflow.UPDATE if updating else Workflow.BUILD
        cancel = cancel or threading.Event()     # losing the lease cancels, as Ctrl+C does
        with exclusive(self.store, the_id, holder, str(workflow), ttl=options.lease_ttl,
                       also=(cancel,)) as lost:
            previous = None
            if updating:  # re-read and re-plan under the lease: others may have just acted
                self._fail_orphans(the_id, holder)
                previous = self.store.infras.get(the_id)
                plan = plan_for(self.store, desc, infra_id)
            kill = kill or threading.Event()
            if kill.is_set():
                options = replace(options, rollback=False)
            job = _Build(desc, source, options, plan, runtime, previous, kill=kill, lost=lost)
            self._record_infra(job)
            if on_infra_id:
                on_infra_id(the_id)
            run = self._start(the_id, job.workflow, options, holder, runtime=runtime,
                              progress=progress, cancel=cancel, lease_lost=lost)
            with self._guard(run):
                return self._run_plan(job, run)

    def _fail_orphans(self, infra_id: str, holder: str) -> None:
        """Instances a dead run left unfinished (a resumed build's first attempt):
        failed, so the plan drops and replaces them instead of counting them. A
        booting one too: nothing else would wait for it to become ready."""
        orphaned = find_orphans(self.store, self.store.instances.for_infra(infra_id), holder,
                                HALF_CREATED | {InstanceState.BOOTING})
        changes = [orphan_transition(o, adopted=False)
                   for o in observed_instances(orphaned, {})]
        if changes:
            self.store.instances.transition_many(
                [(c.instance_id, c.state, dict(c.fields)) for c in changes])

    def _record_infra(self, job: _Build) -> None:
        """The infrastructure and its node rows (an update: the new description)."""
        the_id = job.runtime.infra_id
        rows = node_rows(the_id, job.desc, job.runtime, job.plan.targets)
        if job.previous is not None:
            job.previous_rows = self.store.infras.nodes(the_id)
            self.store.infras.set_state(the_id, InfraState.BUILDING)
            self.store.infras.replace_description(the_id, job.desc.to_plain(), job.source, rows)
        else:
            self.store.infras.create(the_id, job.desc.infra_name, job.desc.user_id,
                                     job.desc.to_plain(), job.source, rows)

    @contextmanager
    def _guard(self, run: Run) -> Iterator[None]:
        """An unexpected error (a bug, a plugin's own exception) still ends the
        execution and marks the infrastructure failed, so destroy or a
        maintainer can take over instead of finding it 'building' forever."""
        try:
            yield
        except (BuildFailed, Interrupted, DestroyIncomplete, LeaseLost):
            raise                              # these already left consistent records
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
            with suppress(Exception):
                self.store.executions.finish(run.execution_id, ExecutionStatus.FAILED,
                                             error=message, keep_terminal=True)
            if not run.lease_lost.is_set():    # else the infrastructure is another's now
                with suppress(Exception):
                    self.store.infras.set_state(run.infra_id, InfraState.FAILED)
            with suppress(Exception):
                self.store.events.add("execution_crashed", message, infra_id=run.infra_id,
                                      execution_id=run.execution_id)
            raise

    def _run_plan(self, job: _Build, run: Run) -> BuildResult:
        the_id, plan = run.infra_id, job.plan
        creates = run.record_intents(plan.create)
        error: OccoError | None = None
        cancelled = False
        if plan.drop:
            drop = run.drop([self.store.instances.get(i) for i in plan.drop])
            if not drop.ok:
                error = OccoError("could not drop: " + "; ".join(r for _, r in drop.left))
        if error is None:
            with watch_requests(self.store, run.execution_id, run.cancel, job.kill):
                outcome = run.create(creates)           # cancels come from anywhere
            error, cancelled = outcome.error, outcome.cancelled

        if job.lost.is_set():  # another may own it now: touch nothing, keep every record
            message = lease_lost_message(the_id)
            run.finish(ExecutionStatus.CANCELLED, message)
            raise LeaseLost(message)
        if error is None and not cancelled:
            self.store.infras.set_state(the_id, InfraState.READY)
            report = run.finish(ExecutionStatus.TERMINATED, None)
            return BuildResult(the_id, run.execution_id, plan, report, job.runtime.nodes,
                               job.desc)

        # First failure (or cancel): report what every instance is doing, then roll back.
        message = "interrupted by the user" if cancelled else str(error)
        if job.kill.is_set():  # killed: leave every record for destroy
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message = f"killed; records kept: run occopus-destroy -i {the_id} to clean up"
            run.finish(ExecutionStatus.CANCELLED, message)
            raise Interrupted(message)
        run.report("failing", message)
        self.store.events.add("rollback_started",
                              f"{job.workflow} failed: {message}; rolling back",
                              infra_id=the_id, execution_id=run.execution_id)
        created = [i for i in self.store.instances.for_infra(the_id)
                   if i.execution_id == run.execution_id
                   and (job.options.rollback or i.state != InstanceState.READY)]
        rollback = run.drop(created)
        status = ExecutionStatus.CANCELLED if cancelled else ExecutionStatus.FAILED
        if not rollback.ok:
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message += ("; rollback incomplete, run occopus-destroy -i "
                        f"{the_id} to remove: " + ", ".join(i for i, _ in rollback.left))
        elif not job.options.rollback:  # kept for a resume, which continues from here
            self.store.infras.set_state(the_id, InfraState.FAILED)
            message += "; instances that became ready were kept"
        elif job.previous is not None:
            self.store.infras.replace_description(the_id, job.previous.description,
                                                  job.previous.source, job.previous_rows)
            self.store.infras.set_state(the_id, InfraState.READY)
        run.finish(status, message)
        if rollback.ok and job.options.rollback and job.previous is None:
            forget_infrastructure(self.store, self.registry, the_id)
            self.store.infras.delete(the_id)
        if cancelled:
            raise Interrupted(message)
        raise BuildFailed(message)

    # -- destroy --------------------------------------------------------------------
    def destroy(self, infra_id: str, *, options: RunOptions,
                progress: Progress | None = None) -> dict[str, Any]:
        self.store.infras.get(infra_id)
        holder = make_holder()
        with exclusive(self.store, infra_id, holder, "destroy", ttl=options.lease_ttl) as lost:
            infra = self.store.infras.get(infra_id)
            self.store.infras.set_state(infra_id, InfraState.DESTROYING)
            run = self._start(infra_id, Workflow.DESTROY, options, holder, progress=progress,
                              dependents=self._stored_dependents(infra.description),
                              lease_lost=lost)
            with self._guard(run):
                outcome = run.drop(self.store.instances.for_infra(infra_id))
            if lost.is_set():
                message = lease_lost_message(infra_id)
                run.finish(ExecutionStatus.CANCELLED, message)
                raise LeaseLost(message)
            if outcome.ok:
                report = run.finish(ExecutionStatus.TERMINATED, None)
                self._end_others(run)
                forget_infrastructure(self.store, self.registry, infra_id)
                self.store.infras.delete(infra_id)
                return report
            self.store.infras.set_state(infra_id, InfraState.FAILED)
            left = [f"{i} ({reason})" for i, reason in outcome.left]
            message = f"{len(left)} resource(s) could not be confirmed gone: " + ", ".join(left)
            run.finish(ExecutionStatus.FAILED, message)
            raise DestroyIncomplete(message, left=[i for i, _ in outcome.left])

    def _end_others(self, run: Run) -> None:
        """Executions of a destroyed infrastructure end with it: queued ones are
        cancelled, started ones (their process elsewhere) failed."""
        reason = f"infrastructure destroyed by execution {run.execution_id}"
        for other in self.store.executions.unfinished(run.infra_id):
            if other.id == run.execution_id:
                continue
            if other.status == ExecutionStatus.STARTED:
                self.store.executions.finish(other.id, ExecutionStatus.FAILED, error=reason,
                                             keep_terminal=True)
            else:
                self.store.executions.move(other.id, (other.status,), ExecutionStatus.CANCELLED,
                                           error=reason)

    @staticmethod
    def _stored_dependents(description: dict[str, Any]) -> Callable[[str], list[str]]:
        desc = InfraDescription.from_plain(description)
        return lambda name: desc.dependents(name)
