"""One readiness probe of one instance: resource state, then health checks.

Runs on a worker thread; returns a plain value the executor interprets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from occo.context.templating import (
    NodeAddresses,
    TemplateContext,
    TemplateRenderer,
    render_health_check,
)
from occo.engine.plan import Verdict
from occo.engine.runtime import InfraRuntime, NodeRuntime
from occo.health.base import HealthTarget
from occo.model.states import ResourceState
from occo.registry import PluginRegistry
from occo.resources.base import Address, Configurable, ResourceRef, StateReport

if TYPE_CHECKING:
    from occo.configure.base import ConfigManager, ManagedNode
    from occo.configure.jobs import JobPlan

HEALTH_TIMEOUT_KEY = "timeout"
NOT_CHECKS = frozenset({HEALTH_TIMEOUT_KEY, "type"})   # settings, not checks to run
SINGLE_PROBE_TIMEOUT = 5.0

__all__ = ["ProbeResult", "Verdict", "check_names", "health_spec_for", "probe", "probe_running",
           "run_health_checks", "state_verdict"]


@dataclass(frozen=True)
class ProbeResult:
    verdict: Verdict
    reason: str = ""
    retry_after: float | None = None
    address: Address | None = None


def check_names(spec: dict[str, Any]) -> list[str]:
    """The checks a ``health_check`` section asks for."""
    return [name for name, arg in spec.items()
            if name not in NOT_CHECKS and arg not in (None, False, [], {})]


def health_spec_for(renderer: TemplateRenderer, infra: InfraRuntime, node: NodeRuntime,
                    instance_id: str,
                    addresses: Mapping[str, NodeAddresses] | None = None) -> dict[str, Any]:
    """The node's health check, rendered for one of its instances."""
    spec = node.health_check
    if not spec:
        return spec
    ctx = TemplateContext(infra_id=infra.infra_id, infra_name=infra.infra_name,
                          node_name=node.name, instance_id=instance_id,
                          variables=node.variables, addresses=addresses or {},
                          origins=node.origins)
    return render_health_check(renderer, spec, ctx)


def run_health_checks(registry: PluginRegistry, spec: dict[str, Any], address: Address,
                      timeout: float = SINGLE_PROBE_TIMEOUT) -> tuple[bool, str]:
    """All checks of ``spec`` against ``address``; the first failure's reason."""
    target = HealthTarget(ip=address.ip, ports=dict(address.ports))
    for name, argument in spec.items():
        if name in NOT_CHECKS or argument in (None, False, [], {}):
            continue
        result = registry.health_check(name).probe(target, argument, timeout)
        if not result.ok:
            return False, f"{name}: {result.reason}"
    return True, ""


def state_verdict(report: StateReport) -> ProbeResult | None:
    """What the resource's state alone decides; None when it runs (checks decide)."""
    if report.state == ResourceState.GONE:
        return ProbeResult(Verdict.GONE, report.reason or "resource vanished")
    if report.state == ResourceState.FAILED:
        return ProbeResult(Verdict.FAILED, report.reason or "resource failed")
    if report.state != ResourceState.RUNNING:
        return ProbeResult(Verdict.WAIT, report.reason or str(report.state),
                           retry_after=report.retry_after)
    return None


def probe_running(registry: PluginRegistry, resource_type: str, ref: ResourceRef,
                  health_spec: dict[str, Any], known_address: Address | None,
                  jobs: JobPlan | None = None,
                  managed: tuple[ConfigManager, ManagedNode] | None = None) -> ProbeResult:
    """The rest of a probe once the resource runs: jobs, address, health checks."""
    handler = registry.handler(resource_type)
    if jobs is not None and jobs.steps and isinstance(handler, Configurable):
        configured = handler.configure(ref, jobs)   # idempotent: runs the jobs once
        if configured.state == ResourceState.FAILED:
            return ProbeResult(Verdict.FAILED, configured.reason or "a job failed")
        if configured.state != ResourceState.RUNNING:
            return ProbeResult(Verdict.WAIT, configured.reason or "configuring")
    if managed is not None:        # e.g. chef: the node's chef-client run has reported back
        manager, node = managed
        done = manager.configured(node)
        if not done.done:
            return ProbeResult(Verdict.WAIT, f"{manager.name}: {done.reason}")
    address = known_address or handler.address(ref)
    ok, reason = run_health_checks(registry, health_spec, address)
    if not ok:
        return ProbeResult(Verdict.WAIT, reason, address=address)
    return ProbeResult(Verdict.READY, address=address)


def probe(registry: PluginRegistry, resource_type: str, ref: ResourceRef,
          health_spec: dict[str, Any], known_address: Address | None,
          jobs: JobPlan | None = None,
          managed: tuple[ConfigManager, ManagedNode] | None = None) -> ProbeResult:
    verdict = state_verdict(registry.handler(resource_type).state(ref))
    if verdict is not None:
        return verdict
    return probe_running(registry, resource_type, ref, health_spec, known_address, jobs,
                         managed)
