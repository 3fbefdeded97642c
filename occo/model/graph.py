"""Pure helpers over a dependency DAG: orders, cycles, critical path.

A graph is given as ``dependees``: for each node, the nodes it depends on
(the ones that must be ready first). Every order returned is deterministic:
among nodes that are ready at the same time, names sort first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from occo.errors import DescriptionError, SourceLocation

__all__ = [
    "DependencyCycle",
    "dependents_of",
    "longest_path",
    "reverse_topological_order",
    "topological_order",
]

Graph = Mapping[str, Iterable[str]]


class DependencyCycle(DescriptionError):
    """The dependencies loop back on themselves.

    ``cycle`` lists the nodes so that each one depends on the next, starting
    and ending with the same node (the smallest name), e.g. ``[a, b, c, a]``.
    """

    def __init__(self, cycle: list[str], *, location: SourceLocation | None = None,
                 path: str | None = None, because: str | None = None) -> None:
        self.cycle = cycle
        reason = f" ({because})" if because else ""
        super().__init__("dependency cycle: " + " -> ".join(cycle) + reason,
                         location=location, path=path)


def _sorter(nodes: Iterable[str], dependees: Graph) -> TopologicalSorter[str]:
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in nodes:
        sorter.add(node)
    for node, needs in dependees.items():
        sorter.add(node, *needs)
    return sorter


def _normalise_cycle(found: list[str]) -> list[str]:
    """graphlib lists a cycle dependee-first; turn it to "depends on" order and
    start it at its smallest name so the same loop always reads the same."""
    loop = list(reversed(found))[:-1]
    start = loop.index(min(loop))
    loop = loop[start:] + loop[:start]
    return [*loop, loop[0]]


def topological_order(nodes: Iterable[str], dependees: Graph) -> list[str]:
    """Every node after all the nodes it depends on; raises DependencyCycle."""
    sorter = _sorter(nodes, dependees)
    try:
        sorter.prepare()
    except CycleError as exc:
        raise DependencyCycle(_normalise_cycle(list(exc.args[1]))) from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def reverse_topological_order(nodes: Iterable[str], dependees: Graph) -> list[str]:
    """Every node before the nodes it depends on (the order to tear down)."""
    return list(reversed(topological_order(nodes, dependees)))


def dependents_of(dependees: Graph) -> dict[str, list[str]]:
    """Invert the graph: for each node, the nodes that depend on it (sorted)."""
    out: dict[str, set[str]] = {}
    for node, needs in dependees.items():
        out.setdefault(node, set())
        for need in needs:
            out.setdefault(need, set()).add(node)
    return {node: sorted(users) for node, users in out.items()}


def longest_path(
    nodes: Iterable[str],
    dependees: Graph,
    durations: Mapping[str, float],
) -> tuple[float, list[str]]:
    """The critical path: the dependency chain with the largest total duration.

    Returns the total and the chain in build order (first-built first). A
    node missing from ``durations`` counts as 0. Ties go to the chain whose
    names sort first, so the answer is stable.
    """
    nodes = list(nodes)
    order = topological_order(nodes, dependees)
    best: dict[str, tuple[float, list[str]]] = {}
    for node in order:
        own = float(durations.get(node, 0.0))
        candidates = [best[need] for need in dependees.get(node, ())]
        if candidates:
            total, chain = min(candidates, key=_rank)
            best[node] = (total + own, [*chain, node])
        else:
            best[node] = (own, [node])
    if not best:
        return 0.0, []
    return min(best.values(), key=_rank)


def _rank(candidate: tuple[float, list[str]]) -> tuple[float, list[str]]:
    """Longest first; among equals, the chain whose names sort first."""
    return (-candidate[0], candidate[1])
