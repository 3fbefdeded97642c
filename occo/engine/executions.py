"""Running one execution to its end, and the actions users take on executions.

An execution is a row first (queued), then a run: a workflow (build, update,
destroy, scale, maintain) over one infrastructure. Cancel requests arrive
through the store, so any process — the CLI, the REST service — can cancel
an execution another process is running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from occo.engine.watch import watch_requests
from occo.errors import Conflict, OccoError, UserInputError
from occo.model.states import ExecutionStatus as S
from occo.model.vocabulary import Workflow
from occo.store.store import Store

if TYPE_CHECKING:
    from occo.engine.lifecycle import Lifecycle, RunOptions
    from occo.engine.maintainer import Maintainer
    from occo.engine.orchestrate import Orchestrator

ACTIONS = ("cancel", "force-cancel", "kill", "resume", "force-resume")
LEASE_WAIT = 30.0   # seconds a run waits for another holder of the infrastructure's lease


def apply_action(store: Store, execution_id: str, action: str) -> bool:
    """Apply a user action to one execution; True when it changed something now.

    cancel: queued -> cancelled at once; started -> asked to stop starting new
    work and roll back. force-cancel: marked cancelled at once (the run is
    told to stop). kill: like force-cancel, and the run skips its rollback,
    leaving records for destroy. resume: failed/cancelled -> queued again.
    force-resume: also re-queues one marked started (its runner died).
    """
    if action not in ACTIONS:
        raise UserInputError(f"unknown action '{action}' (one of: {', '.join(ACTIONS)})")
    execution = store.executions.get(execution_id)
    ex = store.executions
    if action == "cancel":
        if ex.move(execution_id, (S.PENDING, S.QUEUED), S.CANCELLED, error="cancelled"):
            return True
        if execution.status == S.STARTED:
            ex.request_action(execution_id, "cancel")
        return False
    if action in ("force-cancel", "kill"):
        if execution.status == S.STARTED:
            ex.request_action(execution_id, action)
        return ex.move(execution_id, (S.PENDING, S.QUEUED, S.STARTED), S.CANCELLED,
                       error=f"{action} requested")
    allowed = (S.FAILED, S.CANCELLED) + ((S.STARTED,) if action == "force-resume" else ())
    if execution.status not in allowed:
        if execution.status in (S.QUEUED, S.PENDING):
            return False  # never started: it will run anyway
        raise Conflict(f"execution {execution_id} is {execution.status}; "
                       f"{action} needs one of: {', '.join(map(str, allowed))}")
    return ex.move(execution_id, allowed, S.QUEUED, requested_action=None, error=None,
                   ended_at=None, attempt=execution.attempt + 1, holder=None)


class ExecutionRunner:
    """Runs started executions; knows each workflow's entry point."""

    def __init__(self, store: Store, lifecycle: Lifecycle,
                 maintainer: Callable[[], Maintainer], options: RunOptions,
                 orchestrator: Callable[[], Orchestrator] | None = None) -> None:
        self.store = store
        self.lifecycle = lifecycle
        self.maintainer = maintainer
        self.options = options
        self.orchestrator = orchestrator

    def run_started(self, execution_id: str) -> None:
        """Run an execution already moved to STARTED; never raises."""
        execution = self.store.executions.get(execution_id)
        cancel, kill = threading.Event(), threading.Event()
        try:
            with watch_requests(self.store, execution_id, cancel, kill):
                self._dispatch_when_free(execution.workflow, execution.infra_id or "",
                                         execution_id, execution.parameters, cancel, kill)
        except OccoError as exc:
            self._end(execution_id, S.CANCELLED if cancel.is_set() else S.FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - an execution ends, whatever happened
            self._end(execution_id, S.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self._end(execution_id, S.TERMINATED, None)
        finally:
            self._join_target_group(execution_id)

    def _end(self, execution_id: str, status: S, error: str | None) -> None:
        self.store.executions.finish(execution_id, status, error=error, keep_terminal=True)

    def _dispatch_when_free(self, workflow: str, infra_id: str, execution_id: str,
                            params: dict[str, Any], cancel: threading.Event,
                            kill: threading.Event) -> None:
        """Dispatch, waiting (boundedly) while another process holds the lease —
        a maintenance pass in flight should delay a group member, not fail it."""
        deadline = time.monotonic() + LEASE_WAIT
        delay = 0.1
        while True:
            try:
                return self._dispatch(workflow, infra_id, execution_id, params, cancel, kill)
            except Conflict:
                if cancel.is_set() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(2.0, delay * 2)

    def _dispatch(self, workflow: str, infra_id: str, execution_id: str,
                  params: dict[str, Any], cancel: threading.Event,
                  kill: threading.Event) -> None:
        options = replace(self.options, execution_id=execution_id,
                          concurrency=int(params.get("concurrency", self.options.concurrency)),
                          rollback=bool(params.get("rollback", True)))
        if workflow in (Workflow.BUILD, Workflow.UPDATE):
            from occo.model.description import InfraDescription

            infra = self.store.infras.get(infra_id)
            desc = InfraDescription.from_plain(infra.description)
            self.lifecycle.build(desc, source=infra.source, options=options, infra_id=infra_id,
                                 cancel=cancel, kill=kill)
        elif workflow == Workflow.DESTROY:
            self.lifecycle.destroy(infra_id, options=options)
        elif workflow in (Workflow.MAINTAIN, Workflow.SCALE):
            def record_request() -> None:
                """Under the pass's lease: no other pass can apply it before this one."""
                from occo.engine.requests import record_scaling_request

                record_scaling_request(self.store, infra_id, str(params.get("node", "")),
                                       change=params.get("change"), set_to=params.get("set_to"),
                                       drop=params.get("drop"))
                # a retry (lease lost, resume) must not record the request again
                params["recorded"] = True
                self.store.executions.set_parameters(execution_id, params)

            wanted = workflow == Workflow.SCALE and not params.get("recorded")
            result = self.maintainer().pass_over(infra_id, execution_id=execution_id,
                                                 workflow=Workflow(workflow),
                                                 under_lease=record_request if wanted else None)
            if result.skipped:
                raise Conflict(f"maintenance skipped: {result.skipped}")
            if result.status == S.FAILED:
                raise OccoError(result.error or "the maintenance pass failed")
        elif workflow == Workflow.ORCHESTRATE and self.orchestrator is not None:
            from occo.engine.orchestrate import run_and_end

            orchestrator = self.orchestrator()
            with orchestrator.lease(infra_id, cancel) as lease:
                run_and_end(orchestrator, execution_id, lease=lease, cancel=cancel)
        else:
            raise UserInputError(f"unknown workflow '{workflow}'")

    def _join_target_group(self, execution_id: str) -> None:
        execution = self.store.executions.get(execution_id)
        if not execution.group_id or not execution.infra_id:
            return
        group = self.store.execution_groups.get(execution.group_id)
        target = {S.TERMINATED: group.success_group_id,
                  S.FAILED: group.failure_group_id}.get(execution.status)
        if target and self.store.infras.exists(execution.infra_id):
            self.store.infra_groups.add(target, [execution.infra_id])
