"""What the executors need to know about each node, resolved once per run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from occo.errors import DescriptionError, SourceLocation
from occo.model.description import InfraDescription
from occo.model.filters import matches_filter
from occo.model.mappings import all_mappings, connections, synch_attributes
from occo.model.templates import ORIGINS_KEY, merge_variables


@dataclass(frozen=True)
class NodeRuntime:
    """A node of the description joined with its chosen implementation."""

    name: str
    node_type: str
    dependees: tuple[str, ...]
    implementation: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)   # infra, impl, node merged
    connections: tuple[dict[str, str], ...] = ()   # from dependency mappings (chef)
    synch_attributes: tuple[str, ...] = ()         # must be exported before it is ready

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

    @property
    def uses_chef(self) -> bool:
        """Chef config management: the only one that reads dependency mappings."""
        return (self.config_management or {}).get("type") == "chef"

    @property
    def origins(self) -> dict[str, Any]:
        """Where the implementation and its templates were written (when imported
        from a file), for messages."""
        return dict(self.implementation.get(ORIGINS_KEY) or {})


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

    def ancestors(self, name: str) -> list[str]:
        return ancestors_of(self.nodes, name)


def ancestors_of(nodes: Mapping[str, NodeRuntime], name: str) -> list[str]:
    """Every node ``name`` waits for, directly or through others: the nodes whose
    addresses its templates can see (Occopus's "any node of an earlier level")."""
    seen: set[str] = set()
    stack = list(nodes[name].dependees)
    while stack:
        current = stack.pop()
        if current not in seen and current in nodes:
            seen.add(current)
            stack.extend(nodes[current].dependees)
    return sorted(seen)


def infra_runtime(infra_id: str, desc: InfraDescription,
                  implementation: Callable[[str], dict[str, Any]]) -> InfraRuntime:
    """Join every node of ``desc`` with its implementation (``implementation(name)``).

    The one place where a node's variables are merged, recursively as Occopus
    merges them: the infrastructure's, overridden by the implementation's,
    overridden by the node's own.
    """
    nodes: dict[str, NodeRuntime] = {}
    mappings = list(all_mappings(desc))
    for spec in desc.nodes:
        impl = implementation(spec.name)
        nodes[spec.name] = NodeRuntime(
            name=spec.name, node_type=spec.type, dependees=tuple(desc.dependees(spec.name)),
            implementation=impl,
            variables=merge_variables(desc.variables, impl.get("variables"), spec.variables),
            connections=tuple(connections(mappings, infra_id, spec.name)),
            synch_attributes=synch_attributes(mappings, spec.name))
    return InfraRuntime(infra_id=infra_id, infra_name=desc.infra_name,
                        variables=dict(desc.variables or {}), nodes=nodes)
