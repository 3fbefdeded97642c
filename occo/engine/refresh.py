"""Refreshing what a maintenance pass knows: each instance's state and health.

The I/O half of a pass (the decision is :func:`occo.engine.plan.plan_maintenance`):
handlers that report many states at once answer in one call, the others and
the health checks run in parallel, and a failing cloud call makes instances
UNKNOWN for one pass instead of stopping the pass.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from occo.context.templating import TemplateRenderer
from occo.engine.plan import Probe, Verdict
from occo.engine.readiness import health_spec_for, run_health_checks
from occo.engine.recorder import address_of
from occo.engine.runtime import InfraRuntime
from occo.errors import OccoError
from occo.model.states import InstanceState, ResourceState
from occo.registry import PluginRegistry
from occo.resources.base import BatchStates, CreateResult, Recoverable, ResourceRef, StateReport
from occo.store.records import InstanceRecord

REFRESHED = frozenset({InstanceState.READY, InstanceState.UNHEALTHY, InstanceState.BOOTING,
                       InstanceState.UNKNOWN})
MAX_WORKERS = 32


def _states(handler: Any, refs: list[ResourceRef],
            pool: ThreadPoolExecutor | None) -> list[StateReport]:
    """States of many resources; a cloud error makes them UNKNOWN for this pass.
    ``pool`` runs one state() call per resource where the handler has no states()."""
    if pool is None:
        try:
            states: list[StateReport] = handler.states(refs)
            return states
        except Exception as exc:  # noqa: BLE001 - one failing call is not fatal
            return [StateReport(ResourceState.UNKNOWN, reason=str(exc))] * len(refs)

    def one(ref: ResourceRef) -> StateReport:
        try:
            report: StateReport = handler.state(ref)
        except Exception as exc:  # noqa: BLE001 - as above, per instance
            return StateReport(ResourceState.UNKNOWN, reason=str(exc))
        return report

    return list(pool.map(one, refs))


def _verdict(report: StateReport, health: tuple[bool, str]) -> Probe:
    if report.state == ResourceState.RUNNING:
        ok, reason = health
        return Probe(Verdict.READY if ok else Verdict.WAIT, reason)
    if report.state in (ResourceState.FAILED, ResourceState.GONE):
        return Probe(Verdict.FAILED if report.state == ResourceState.FAILED else Verdict.GONE,
                     report.reason or str(report.state))
    return Probe(Verdict.WAIT, report.reason or str(report.state))


def refresh(registry: PluginRegistry, looked_at: list[tuple[InfraRuntime, list[InstanceRecord]]],
            concurrency: int) -> dict[str, Probe]:
    """What each refreshable instance (one with a resource) looks like now.

    ``looked_at``: the instances of one or more infrastructures, each with its
    runtime (the nodes' health checks); a handler answers for all of them
    together where it can.
    """
    by_type: dict[str, list[tuple[InstanceRecord, ResourceRef]]] = {}
    # Instances of a node share one config: validated once, found by identity (the
    # store hands out one dict per distinct config) or else by its JSON text.
    configs: dict[int | tuple[str, str], Any] = {}
    runtimes = {runtime.infra_id: runtime for runtime, _ in looked_at}
    checked = {(runtime.infra_id, name) for runtime, _ in looked_at
               for name, node in runtime.nodes.items() if node.health_check}
    for _, instances in looked_at:
        for inst in instances:
            if inst.state not in REFRESHED or not inst.resource_id:
                continue
            config = configs.get(id(inst.resource_config))
            if config is None:
                handler = registry.handler(inst.resource_type)
                key = (inst.resource_type, json.dumps(inst.resource_config, sort_keys=True))
                if key not in configs:
                    configs[key] = handler.config_model.model_validate(inst.resource_config)
                config = configs[id(inst.resource_config)] = configs[key]
            by_type.setdefault(inst.resource_type, []).append(
                (inst, ResourceRef(inst.id, inst.resource_id, config, inst.resource_data)))
    reports: dict[str, StateReport] = {}
    checks = []
    for rtype, pairs in by_type.items():
        handler = registry.handler(rtype)
        if isinstance(handler, BatchStates):   # most often: no thread needed
            states = _states(handler, [ref for _, ref in pairs], None)
        else:
            with ThreadPoolExecutor(max_workers=_workers(concurrency)) as pool:
                states = _states(handler, [ref for _, ref in pairs], pool)
        for (inst, _), state in zip(pairs, states, strict=True):
            reports[inst.id] = state
            if state.state == ResourceState.RUNNING and (inst.infra_id, inst.node_name) in checked:
                checks.append(inst)
    healths: dict[str, tuple[bool, str]] = {}
    if checks:
        renderer = TemplateRenderer()
        with ThreadPoolExecutor(max_workers=_workers(concurrency)) as pool:
            healths = dict(zip([i.id for i in checks], pool.map(
                lambda inst: _check_health(registry, renderer, runtimes[inst.infra_id], inst),
                checks), strict=True))
    return {inst_id: _verdict(report, healths.get(inst_id, (True, "")))
            for inst_id, report in reports.items()}


def _check_health(registry: PluginRegistry, renderer: TemplateRenderer, runtime: InfraRuntime,
                  inst: InstanceRecord) -> tuple[bool, str]:
    """One instance's health, its check rendered for it; a template that cannot
    render makes it unhealthy, never stops the pass."""
    try:
        spec = health_spec_for(renderer, runtime, runtime.nodes[inst.node_name], inst.id)
    except OccoError as exc:
        return False, str(exc)
    return run_health_checks(registry, spec, address_of(inst))


def _workers(concurrency: int) -> int:
    return max(1, min(MAX_WORKERS, concurrency))


def recover(registry: PluginRegistry, instances: list[InstanceRecord]) -> dict[str, CreateResult]:
    """Resources that half-created instances got before their creator died, by
    asking handlers that can find a resource by its instance id."""
    found: dict[str, CreateResult] = {}
    for inst in instances:
        if inst.state != InstanceState.CREATING or inst.resource_id:
            continue
        handler = registry.handler(inst.resource_type)
        if not isinstance(handler, Recoverable):
            continue
        try:
            result = handler.recover(inst.id,
                                     handler.config_model.model_validate(inst.resource_config))
        except Exception:  # noqa: BLE001 - not found this pass: it is dropped, then retried
            result = None
        if result is not None:
            found[inst.id] = result
    return found
