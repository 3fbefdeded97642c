"""The Python API: one object every interface (CLI, REST) goes through.

    from occo.api import Occo
    with Occo.from_files() as occo:
        occo.import_node_definitions("node_defs/local.yaml")
        result = occo.build("examples/local_demo.yaml", parallelize=True)
        print(occo.report(result.infra_id))
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from occo.config import Config, load_config
from occo.errors import make_directory
from occo.reportlog import ReportLog
from occo.store.records import (
    EventRecord,
    ExecutionGroupRecord,
    ExecutionRecord,
    FiringRecord,
    InfraGroupRecord,
    InfraRecord,
    JobTaskRecord,
    TaskRecord,
    TriggerRecord,
)

if TYPE_CHECKING:  # the store, the plugins and the engine load on first use
    from occo.configure.orchestration import Orchestration
    from occo.engine.executions import ExecutionRunner
    from occo.engine.lifecycle import BuildResult, Lifecycle, Progress, RunOptions
    from occo.engine.maintainer import Maintainer, PassResult
    from occo.engine.orchestrate import OrchestrateOptions, OrchestrationOutcome, Orchestrator
    from occo.engine.requests import ScaleAccepted
    from occo.engine.triggers import TriggerRunner
    from occo.model.description import InfraDescription
    from occo.registry import PluginRegistry
    from occo.store.quick import QuickStore
    from occo.store.store import Store


class Occo:
    """Holds a Config, a Store and a plugin registry; no globals anywhere.

    The store and the registry are opened on first use: a listing, a report or a
    scaling request on a SQLite store is answered through
    :class:`~occo.store.quick.QuickStore` without importing SQLAlchemy, unless
    the full store is open already.
    """

    def __init__(self, config: Config | None = None, *, store: Store | None = None) -> None:
        self.config = config or Config()
        make_directory(self.config.home, "occo's home (OCCOPUS_HOME, else ~/.occopus)")
        self.base_url: str | None = None   # set by the REST service: reports link to it
        self._store = store
        self._quick: QuickStore | None = None
        self._opening = threading.Lock()

    @property
    def store(self) -> Store:
        """The store (opened, and created or migrated, on first use)."""
        if self._store is None:
            with self._opening:
                if self._store is None:
                    from occo.store.store import Store

                    self._store = Store(self.config.resolved_store_url)
        return self._store

    @property
    def _reader(self) -> Store | QuickStore:
        """What answers the quick queries: the store once open, else quick access."""
        if self._store is not None:
            return self._store
        with self._opening:
            if self._quick is None:
                from occo.store.quick import QuickStore

                self._quick = QuickStore.open(self.config.resolved_store_url)
        return self._quick or self.store

    @cached_property
    def registry(self) -> PluginRegistry:
        from occo.registry import PluginRegistry
        from occo.resources.base import HandlerEnv

        auth = self.config.auth_data if isinstance(self.config.auth_data, dict) else (
            {"entries": self.config.auth_data} if self.config.auth_data else None)
        return PluginRegistry(HandlerEnv(home=self.config.home, store=self.store,
                                         auth_data=auth, auth_source=self.config.auth_source,
                                         settings=self.config.handlers))

    @cached_property
    def lifecycle(self) -> Lifecycle:
        from occo.engine.lifecycle import Lifecycle

        return Lifecycle(self.store, self.registry, self.report_log.publish)

    @cached_property
    def report_log(self) -> ReportLog:
        return ReportLog(self.config.report_log or self.config.home / "reports.log")

    @classmethod
    def from_files(cls, cfg_path: str | None = None,
                   auth_data_path: str | None = None) -> Occo:
        return cls(load_config(cfg_path, auth_data_path))

    def __enter__(self) -> Occo:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._quick is not None:
            self._quick.close()
        if self._store is not None:
            self._store.close()

    # -- node definitions -----------------------------------------------------------
    def import_node_definitions(self, path: str | Path) -> list[str]:
        """Validate a node-definition file and store it; returns the types imported."""
        from occo.model.nodedef import read_node_definitions

        definitions, origins = read_node_definitions(Path(path), self.resource_types())
        plain = {t: [impl.to_plain(origins[t][i]) for i, impl in enumerate(impls)]
                 for t, impls in definitions.items()}
        self.store.node_defs.replace(plain, str(path))
        return sorted(plain)

    def resource_types(self) -> set[str]:
        """Resource types a node definition may use: those occo models (the Occopus
        ones among them) and those a handler is registered for."""
        from occo.model.resource_types import RESOURCE_MODELS

        return set(RESOURCE_MODELS) | self.registry.resource_types()

    def node_definitions(self) -> dict[str, list[dict[str, Any]]]:
        """Every imported type's implementations, as written."""
        return {t: [_as_written(i) for i in impls]
                for t, impls in self.store.node_defs.all().items()}

    def replace_node_definitions(self, definitions: dict[str, list[Any]],
                                 source: str | None = None) -> list[str]:
        """Store already validated implementations (``Implementation`` objects) per type."""
        plain = {t: [impl.to_plain() for impl in impls] for t, impls in definitions.items()}
        self.store.node_defs.replace(plain, source)
        return sorted(plain)

    def delete_node_definition(self, node_type: str) -> None:
        self.store.node_defs.delete(node_type)

    # -- build / destroy --------------------------------------------------------------
    def _options(self, parallelize: bool, concurrency: int | None) -> RunOptions:
        from occo.engine.lifecycle import RunOptions

        limit = (concurrency or self.config.concurrency) if parallelize or concurrency else 1
        return RunOptions(concurrency=limit, base_url=self.base_url,
                          create_timeout=self.config.create_timeout,
                          destroy_timeout=self.config.destroy_timeout,
                          lease_ttl=self.config.lease_ttl)

    def build(self, description: str | Path | InfraDescription, *,
              infra_id: str | None = None, parallelize: bool = False,
              concurrency: int | None = None, dry_run: bool = False,
              cancel: threading.Event | None = None, progress: Progress | None = None,
              on_infra_id: Callable[[str], None] | None = None,
              rollback: bool = True) -> BuildResult:
        """Build (or with ``infra_id``, update) an infrastructure.

        ``rollback=False`` keeps what became ready when the build fails, so that
        resuming its execution continues instead of starting over.
        """
        from occo.model.description import (
            InfraDescription,
            check_scaling_bounds,
            load_infra_description,
        )

        source = None
        if isinstance(description, InfraDescription):
            desc = description
        else:
            path = Path(description)
            desc = load_infra_description(path)
            source = desc.source_text
        check_scaling_bounds(desc, self.config.max_instances)
        options = replace(self._options(parallelize, concurrency), rollback=rollback)
        return self.lifecycle.build(desc, source=source,
                                    options=options,
                                    infra_id=infra_id, dry_run=dry_run, cancel=cancel,
                                    progress=progress, on_infra_id=on_infra_id)

    def preview_contexts(self, result: BuildResult,
                         description: str | Path | InfraDescription) -> dict[str, Any]:
        """Per node of a dry run: the user data (and local jobs) a new instance would get,
        rendered with placeholder addresses, since nothing exists yet."""
        from occo.context.templating import TemplateRenderer
        from occo.context.userdata import preview_node
        from occo.engine.runtime import ancestors_of
        from occo.model.description import InfraDescription, load_infra_description
        from occo.resources.base import Configurable

        desc = description if isinstance(description, InfraDescription) else \
            load_infra_description(Path(description))
        renderer = TemplateRenderer()
        return {name: preview_node(
            renderer, infra_id=result.infra_id, infra_name=desc.infra_name, node_name=name,
            dependees=(*ancestors_of(result.nodes, name), name), variables=node.variables,
            contextualisation=node.contextualisation, config_management=node.config_management,
            runs_jobs=isinstance(self.registry.handler(node.resource_type), Configurable),
            origins=node.origins)
            for name, node in result.nodes.items()}

    def start_build(self, description: InfraDescription, *, parallelize: bool = False,
                    cancel: threading.Event | None = None,
                    on_infra_id: Callable[[str], None] | None = None,
                    on_done: Callable[[str, BaseException | None], None] | None = None) -> str:
        """Build in a background thread; return the infra id as soon as it is recorded.

        What fails before the record exists (unknown node type, missing plugin)
        is raised here; a later failure rolls back as usual, is kept in the
        execution record, and reaches ``on_done``.
        """
        recorded = threading.Event()
        box: dict[str, Any] = {}

        def record(infra_id: str) -> None:
            box["id"] = infra_id
            if on_infra_id is not None:
                on_infra_id(infra_id)
            recorded.set()

        def run() -> None:
            error: BaseException | None = None
            try:
                self.build(description, parallelize=parallelize, cancel=cancel,
                           on_infra_id=record)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                error = exc
                box.setdefault("error", exc)
            finally:
                recorded.set()
            if on_done is not None and "id" in box:
                on_done(box["id"], error)

        threading.Thread(target=run, name="occo-build").start()
        recorded.wait()
        if "id" not in box:
            raise box["error"]
        return str(box["id"])

    def destroy(self, infra_id: str, *, parallelize: bool = True,
                progress: Progress | None = None) -> dict[str, Any]:
        """Drop every resource, then the record; raises DestroyIncomplete otherwise."""
        return self.lifecycle.destroy(infra_id, options=self._options(parallelize, None),
                                      progress=progress)

    # -- maintenance and scaling ---------------------------------------------------------
    def maintainer(self, *, parallelize: bool = True, holder: str | None = None,
                   force: bool = False) -> Maintainer:
        from occo.engine.maintainer import Maintainer, MaintainSettings

        settings = MaintainSettings(
            concurrency=self.config.concurrency if parallelize else 1,
            create_timeout=self.config.create_timeout,
            destroy_timeout=self.config.destroy_timeout,
            brake_share=self.config.failure_brake, ignore_brake=force,
            lease_ttl=self.config.lease_ttl)
        return Maintainer(self.store, self.registry, settings, holder, self.report_log.publish,
                          base_url=self.base_url)

    def maintain(self, infra_ids: list[str] | None = None, *,
                 parallelize: bool = True, force: bool = False) -> list[PassResult]:
        """One maintenance pass over the given (default: every) infrastructure.

        ``force`` replaces failed instances even when the brake would stop it.
        """
        return self.maintainer(parallelize=parallelize, force=force).run_pass(infra_ids)

    def scale(self, infra_id: str, node_name: str, *, change: int | None = None,
              set_to: int | None = None, drop: str | None = None) -> ScaleAccepted:
        """Validate and record a scaling request; no resource is touched."""
        from occo.engine.requests import record_scaling_request

        return record_scaling_request(self._reader, infra_id, node_name, change=change,
                                      set_to=set_to, drop=drop)

    def scaling_token_valid(self, infra_id: str, token: str) -> bool:
        """True when ``token`` was given to a live instance of ``infra_id`` by its
        templates (``{{ occo.scaling_token }}``): it may ask for that one's scaling."""
        from occo.model.tokens import token_digest

        return self.store.instances.scaling_token_valid(infra_id, token_digest(token))

    def attach(self, infra_id: str, attached: bool = True) -> None:
        """Have a REST service maintain this infrastructure (stored: survives restarts)."""
        self.store.infras.set_attached(infra_id, attached)

    def attached_infrastructures(self) -> list[str]:
        return self.store.infras.attached_ids()

    def set_notify_url(self, infra_id: str, url: str | None,
                       secret: str | None = None) -> str | None:
        """Where a REST service POSTs this infrastructure's state changes, signed with
        ``secret`` (a new one when not given); returns the secret."""
        from occo.model.tokens import new_token

        secret = (secret or new_token()) if url else None
        self.store.infras.set_notify_url(infra_id, url, secret)
        return secret

    # -- orchestrations (day-2 jobs on running instances) --------------------------------
    @cached_property
    def orchestrator(self) -> Orchestrator:
        from occo.context.auth import AuthData
        from occo.engine.orchestrate import Orchestrator

        return Orchestrator(self.store, self.registry, AuthData.parse(self.config.auth_data),
                            lease_ttl=self.config.lease_ttl)

    def _orchestration_input(self, path: str | Path | None, text: str | None,
                             source: str | None, restrict: tuple[str, ...], ignore_cache: bool,
                             parallelize: bool) -> tuple[Orchestration, OrchestrateOptions]:
        from occo.configure.orchestration import load_orchestration
        from occo.engine.orchestrate import OrchestrateOptions
        from occo.errors import UserInputError

        if (path is None) == (text is None):
            raise UserInputError("give an orchestration file or its text, not both or neither")
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserInputError(f"cannot read {str(path)!r}: {exc}") from None
            parsed = load_orchestration(text, str(path), str(Path(path).resolve().parent))
        else:
            assert text is not None
            parsed = load_orchestration(text, source or "<orchestration>", None)
        return parsed, OrchestrateOptions(tuple(restrict), ignore_cache,
                                          self.config.concurrency if parallelize else 1)

    def submit_orchestration(self, infra_id: str, path: str | Path | None = None, *,
                             text: str | None = None, source: str | None = None,
                             restrict: tuple[str, ...] = (), ignore_cache: bool = False,
                             parallelize: bool = False,
                             creator: str | None = None) -> tuple[str, list[JobTaskRecord]]:
        """Plan an orchestration file (``path``, or ``text`` named ``source``) over the
        infrastructure's ready instances and record it as a queued execution; its id
        and its tasks.

        ``text`` may not ADD local files: it came from elsewhere (a REST body).
        Nothing is recorded when the file, a target or a transport setting is wrong,
        nor while another run holds the infrastructure's lease (LeaseHeld).
        """
        parsed, options = self._orchestration_input(path, text, source, restrict,
                                                    ignore_cache, parallelize)
        with self.orchestrator.lease(infra_id):
            return self.orchestrator.submit(infra_id, parsed, options, creator=creator)

    def orchestrate(self, infra_id: str, path: str | Path, *,
                    restrict: tuple[str, ...] = (), ignore_cache: bool = False,
                    parallelize: bool = False, cancel: threading.Event | None = None,
                    on_queued: Callable[[str, list[JobTaskRecord]], None] | None = None,
                    progress: Callable[[JobTaskRecord], None] | None = None,
                    ) -> OrchestrationOutcome:
        """Submit and run an orchestration here, to its end, holding the
        infrastructure's lease from planning to the last job.

        Raises LeaseHeld (nothing recorded) while another run holds the lease,
        JobsFailed (after every other instance ran on) when a job failed,
        Interrupted when ``cancel`` stopped it; the execution keeps the report.
        """
        from occo.engine.orchestrate import run_and_end
        from occo.engine.watch import watch_requests
        from occo.errors import OccoError
        from occo.model.states import ExecutionStatus

        parsed, options = self._orchestration_input(path, None, None, restrict, ignore_cache,
                                                    parallelize)
        cancel = cancel or threading.Event()
        with self.orchestrator.lease(infra_id, cancel) as lease:
            execution_id, tasks = self.orchestrator.submit(infra_id, parsed, options)
            if on_queued is not None:
                on_queued(execution_id, tasks)
            self.store.executions.move(execution_id, (ExecutionStatus.QUEUED,),
                                       ExecutionStatus.STARTED)
            status, error = ExecutionStatus.FAILED, "interrupted"
            try:
                with watch_requests(self.store, execution_id, cancel, threading.Event()):
                    outcome = run_and_end(self.orchestrator, execution_id, lease=lease,
                                          cancel=cancel, progress=progress)
                status, error = ExecutionStatus.TERMINATED, ""
                return outcome
            except OccoError as exc:
                status = ExecutionStatus.CANCELLED if cancel.is_set() else ExecutionStatus.FAILED
                error = str(exc)
                raise
            finally:
                self.store.executions.finish(execution_id, status, error=error or None,
                                             keep_terminal=True)

    def job_tasks(self, execution_id: str) -> list[JobTaskRecord]:
        """The job x instance tasks of an orchestration, in order (empty for others)."""
        return self.store.job_tasks.for_execution(execution_id)

    def job_task(self, task_id: str) -> JobTaskRecord:
        return self.store.job_tasks.get(task_id)

    # -- cron triggers ------------------------------------------------------------------
    def create_trigger(self, name: str, workflow: str, *, infra_id: str | None = None,
                       infra_group_id: str | None = None,
                       parameters: dict[str, Any] | None = None,
                       orchestration_file: str | Path | None = None,
                       concurrency: int | None = None, cron: str | None = None,
                       timezone: str = "UTC", interval: float | None = None,
                       first_time: float | str | None = None,
                       last_time: float | str | None = None,
                       count: int | None = None, grace: float | None = None,
                       created_by: str | None = None) -> TriggerRecord:
        """Store a trigger (see :mod:`occo.engine.triggers`); nothing on bad input.

        Times are POSIX seconds or ISO 8601 text (without an offset: in ``timezone``).

        An ``orchestrate`` trigger takes its file as ``orchestration_file`` (read
        now and stored; ADD sources are read from its directory when it fires)
        or as ``parameters={"orchestration": [...]}`` (then without ADD).
        """
        from occo.engine.triggers import DEFAULT_GRACE, TriggerSpec, create_trigger, parse_time

        params = dict(parameters or {})
        if orchestration_file is not None:
            from occo.configure.orchestration import load_orchestration
            from occo.errors import UserInputError

            path = Path(orchestration_file)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserInputError(f"cannot read {str(path)!r}: {exc}") from None
            params.update(load_orchestration(text, str(path),
                                             str(path.resolve().parent)).to_parameters())
        elif workflow == "orchestrate" and "orchestration" in params:
            params.update(source=params.get("source") or "<orchestration>", base_dir=None)
        spec = TriggerSpec(name=name, workflow=workflow, infra_id=infra_id,
                           infra_group_id=infra_group_id, parameters=params,
                           concurrency=concurrency, cron=cron, timezone=timezone,
                           interval=interval,
                           first_time=parse_time(first_time, timezone, "first time"),
                           last_time=parse_time(last_time, timezone, "last time"),
                           count=count, grace=DEFAULT_GRACE if grace is None else grace)
        return create_trigger(self.store, spec, created_by=created_by)

    def triggers(self) -> list[TriggerRecord]:
        return self.store.triggers.list()

    def trigger(self, name: str) -> TriggerRecord:
        return self.store.triggers.get(name)

    def trigger_firings(self, name: str | None = None, limit: int = 100) -> list[FiringRecord]:
        """Claimed firings, newest first, each with the execution (group) it started."""
        if name is not None:
            self.store.triggers.get(name)
        return self.store.triggers.firings(name, limit)

    def pause_trigger(self, name: str, paused: bool = True) -> TriggerRecord:
        """Pause, or (``paused=False``) resume from the next scheduled time."""
        from occo.engine.triggers import set_paused

        return set_paused(self.store, name, paused)

    def delete_trigger(self, name: str) -> None:
        self.store.triggers.delete(name)

    def trigger_runner(self) -> TriggerRunner:
        """What fires triggers in this process; ``start()`` it, ``stop()`` it at the end."""
        from occo.engine.triggers import TriggerRunner

        return TriggerRunner(self.store, run_execution=self.run_execution,
                             run_group=lambda group_id: self.run_execution_group(
                                 group_id, base_url=self.base_url))

    # -- executions, infrastructure groups, execution groups ------------------------------
    def execution_runner(self, *, parallelize: bool = True) -> ExecutionRunner:
        from occo.engine.executions import ExecutionRunner

        return ExecutionRunner(self.store, self.lifecycle,
                               lambda: self.maintainer(parallelize=parallelize),
                               self._options(parallelize, None),
                               orchestrator=lambda: self.orchestrator)

    def execution_action(self, execution_id: str, action: str) -> bool:
        """cancel, force-cancel, kill, resume or force-resume one execution."""
        from occo.engine.executions import apply_action

        return apply_action(self.store, execution_id, action)

    def run_execution(self, execution_id: str) -> ExecutionRecord:
        """Run a queued (e.g. resumed) execution here, to its end."""
        from occo.model.states import ExecutionStatus

        if self.store.executions.move(execution_id, (ExecutionStatus.QUEUED,),
                                      ExecutionStatus.STARTED):
            self.execution_runner().run_started(execution_id)
        return self.store.executions.get(execution_id)

    def create_infra_group(self, group_id: str, description: str | None = None,
                           created_by: str | None = None) -> None:
        self.store.infra_groups.create(group_id, created_by, description)

    def add_to_infra_group(self, group_id: str, infra_ids: list[str] | None = None,
                           label: str | None = None) -> list[str]:
        from occo.engine.groupops import add_members

        return add_members(self.store, group_id, infra_ids, label)

    def label_infrastructure(self, infra_id: str, labels: dict[str, str | None]) -> None:
        self.store.infras.set_labels(infra_id, labels)

    def start_execution_group(self, infra_group_id: str, workflow: str,
                              **kwargs: Any) -> dict[str, Any]:
        """Record a group and its queued executions; ``run_execution_group`` runs them."""
        from occo.engine.groupops import group_view, start_group

        return group_view(self.store, start_group(self.store, infra_group_id, workflow,
                                                  **kwargs).id)

    def run_execution_group(self, group_id: str, stop: threading.Event | None = None,
                            *, base_url: str | None = None) -> str:
        """Dispatch the group's executions until all have ended; the final status."""
        from occo.engine.groups import GroupDispatcher

        return GroupDispatcher(self.store, self.execution_runner(),
                               publish=self.report_log.publish,
                               base_url=base_url).run(group_id, stop)

    def execution_group(self, group_id: str) -> dict[str, Any]:
        from occo.engine.groupops import group_view

        return group_view(self.store, group_id)

    def execution_groups(self, infra_group_id: str | None = None) -> list[dict[str, Any]]:
        from occo.engine.groupops import group_view

        return [group_view(self.store, g.id)
                for g in self.store.execution_groups.list(infra_group_id)]

    def execution_group_action(self, group_id: str, action: str) -> int:
        from occo.engine.groupops import group_action

        return group_action(self.store, group_id, action)

    def update_execution_group(self, group_id: str, **changes: Any) -> dict[str, Any]:
        from occo.engine.groupops import group_view, update_group

        update_group(self.store, group_id, **changes)
        return group_view(self.store, group_id)

    # -- group queries (what the interfaces show) ------------------------------------
    def infra_groups(self) -> list[InfraGroupRecord]:
        return self.store.infra_groups.list()

    def infra_group(self, group_id: str) -> InfraGroupRecord:
        return self.store.infra_groups.get(group_id)

    def delete_infra_group(self, group_id: str) -> None:
        """Delete a group (its infrastructures are untouched)."""
        self.store.infra_groups.delete(group_id)

    def remove_from_infra_group(self, group_id: str, infra_ids: list[str]) -> None:
        self.store.infra_groups.remove(group_id, infra_ids)

    def execution_group_record(self, group_id: str) -> ExecutionGroupRecord:
        """The stored group, with its final and first-failure reports."""
        return self.store.execution_groups.get(group_id)

    def group_executions(self, group_id: str) -> list[ExecutionRecord]:
        return self.store.executions.for_group(group_id)

    def unfinished_execution_groups(self) -> list[str]:
        """Groups with executions still queued or started (to dispatch after a restart)."""
        return [g.id for g in self.store.execution_groups.list()
                if any(not e.status.is_terminal for e in self.store.executions.for_group(g.id))]

    # -- state changes, for webhooks ---------------------------------------------------
    def webhooks(self) -> dict[str, tuple[str, str | None]]:
        """``{infra id: (url, secret)}`` of the infrastructures with a webhook."""
        return self.store.infras.webhooks()

    def last_event_id(self) -> int:
        return self.store.infras.last_event_id()

    def state_changes(self, after_id: int = 0) -> list[EventRecord]:
        return self.store.infras.state_changes(after_id)

    # -- queries ----------------------------------------------------------------------
    def infrastructure(self, infra_id: str) -> InfraRecord:
        """The stored record (state, labels, description); NotFound when unknown."""
        return self._reader.infras.get(infra_id)

    def node_definition(self, node_type: str) -> list[dict[str, Any]]:
        return [_as_written(i) for i in self.store.node_defs.get(node_type)]

    def execution_tasks(self, execution_id: str) -> list[TaskRecord]:
        return self.store.executions.tasks(execution_id)

    def list_infrastructures(self) -> list[InfraRecord]:
        return self._reader.infras.list()

    def instance(self, infra_id: str, instance_id: str) -> dict[str, Any]:
        """One instance as a user sees it (no handler internals, no config)."""
        from occo.errors import NotFound

        inst = self.store.instances.get(instance_id)
        if inst.infra_id != infra_id:
            raise NotFound(f"infrastructure {infra_id} has no instance '{instance_id}'")
        return {"id": inst.id, "infra_id": inst.infra_id, "node": inst.node_name,
                "state": str(inst.state), "resource_type": inst.resource_type,
                "resource_id": inst.resource_id, "resource_address": inst.address,
                "private_address": inst.private_address, "created_at": inst.created_at,
                "ready_at": inst.ready_at, "state_since": inst.state_since,
                "unhealthy_since": inst.unhealthy_since, "reason": inst.reason,
                "execution_id": inst.execution_id}

    def report(self, infra_id: str, node_filter: str | None = None) -> dict[str, Any]:
        """The Occopus report shape (the same as REST ``GET /infrastructures/<id>``)."""
        from occo.engine.report import occopus_report

        reader = self._reader
        reader.infras.get(infra_id)
        nodes = reader.infras.nodes(infra_id)
        if node_filter and node_filter not in {n.name for n in nodes}:
            from occo.errors import NotFound

            raise NotFound(f"infrastructure {infra_id} has no node '{node_filter}'")
        return occopus_report(nodes, reader.instances.briefs(infra_id), node_filter)

    def executions(self, infra_id: str | None = None, limit: int = 100, *,
                   status: str | None = None, workflow: str | None = None,
                   group_id: str | None = None) -> list[ExecutionRecord]:
        """Newest first; every filter given must match."""
        return self.store.executions.list(infra_id=infra_id, status=status, workflow=workflow,
                                          group_id=group_id, limit=limit)

    def execution(self, execution_id: str) -> ExecutionRecord:
        return self.store.executions.get(execution_id)

    def events(self, infra_id: str | None = None, limit: int = 50) -> list[EventRecord]:
        return self._reader.events.recent(infra_id=infra_id, limit=limit)


def _as_written(implementation: dict[str, Any]) -> dict[str, Any]:
    """A stored implementation without occo's notes on where it was written."""
    from occo.model.templates import ORIGINS_KEY

    return {k: v for k, v in implementation.items() if k != ORIGINS_KEY}
