"""What the executors need to know about each node, resolved once per run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from occo.errors import DescriptionError, SourceLocation
from occo.model.description import InfraDescription
from occo.model.nodedef import matches_filter


@dataclass(frozen=True)
class NodeRuntime:
    """A node of the description joined with its chosen implementation."""

    name: str
    node_type: str
    dependees: tuple[str, ...]
    implementation: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)

    @property
    def resource(self) -> dict[str, Any]:
        return dict(self.implementation["resource"])

    @property
    def resource_type(self) -> str:
        return str(self.implementation["resource"]["type"])

    @property
    def health_check(self) -> dict[str, Any]:
        return dict(self.implementation.get("health_check") or {})

    @property
    def contextualisation(self) -> dict[str, Any] | None:
        return self.implementation.get("contextualisation")

    @property
    def config_management(self) -> dict[str, Any] | None:
        return self.implementation.get("config_management")


def choose_implementation(node_name: str, implementations: list[dict[str, Any]],
                          node_filter: dict[str, Any] | None,
                          location: SourceLocation | None = None) -> dict[str, Any]:
    """The first implementation whose resource section matches the node's filter;
    ``location`` (of the filter, as written) is where a mismatch is reported."""
    chosen = [i for i in implementations if matches_filter(i["resource"], node_filter or {})]
    if not chosen:
        raise DescriptionError(
            f"node '{node_name}': no implementation matches filter {node_filter!r}",
            location=location)
    return chosen[0]


@dataclass(frozen=True)
class InfraRuntime:
    """The infrastructure-wide facts a template or executor needs."""

    infra_id: str
    infra_name: str
    variables: dict[str, Any]
    nodes: dict[str, NodeRuntime]

    def dependents(self, name: str) -> list[str]:
        return sorted(n.name for n in self.nodes.values() if name in n.dependees)


def infra_runtime(infra_id: str, desc: InfraDescription,
                  implementation: Callable[[str], dict[str, Any]]) -> InfraRuntime:
    """Join every node of ``desc`` with its implementation (``implementation(name)``).

    The one place where a node's variables are merged: the implementation's
    defaults, overridden by the node's own.
    """
    nodes: dict[str, NodeRuntime] = {}
    for spec in desc.nodes:
        impl = implementation(spec.name)
        nodes[spec.name] = NodeRuntime(
            name=spec.name, node_type=spec.type, dependees=tuple(desc.dependees(spec.name)),
            implementation=impl,
            variables={**(impl.get("variables") or {}), **(spec.variables or {})})
    return InfraRuntime(infra_id=infra_id, infra_name=desc.infra_name,
                        variables=dict(desc.variables or {}), nodes=nodes)
