"""The DAG helpers, with properties checked on random graphs."""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from occo.errors import DescriptionError
from occo.model.description import parse_infra_description
from occo.model.graph import (
    DependencyCycle,
    dependents_of,
    longest_path,
    reverse_topological_order,
    topological_order,
)

NAMES = [f"n{i:02d}" for i in range(12)]
# A random graph is a permutation plus a list per node: drawing one is legitimately
# slower than hypothesis's default budget for generating inputs on a loaded machine.
GRAPHS = settings(suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    """A random DAG: edges only go from a later node to an earlier one."""
    count = draw(st.integers(min_value=1, max_value=len(NAMES)))
    nodes = draw(st.permutations(NAMES))[:count]
    deps: dict[str, list[str]] = {}
    for position, node in enumerate(nodes):
        earlier = nodes[:position]
        deps[node] = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
    return nodes, deps


@st.composite
def graphs_with_a_cycle(draw: st.DrawFn) -> tuple[list[str], dict[str, list[str]]]:
    """A random DAG plus one back edge that closes a loop."""
    nodes, deps = draw(dags())
    loop = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=len(nodes), unique=True))
    for here, there in zip(loop, loop[1:] + loop[:1], strict=True):
        if there not in deps[here]:
            deps[here].append(there)
    return nodes, deps


def _edges(deps: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {(node, need) for node, needs in deps.items() for need in needs}


@given(dags())
@GRAPHS
def test_topological_order_respects_every_dependency(graph: tuple) -> None:
    nodes, deps = graph
    order = topological_order(nodes, deps)
    assert sorted(order) == sorted(nodes)
    position = {node: i for i, node in enumerate(order)}
    for dependent, dependee in _edges(deps):
        assert position[dependee] < position[dependent]
    assert topological_order(list(reversed(nodes)), deps) == order     # deterministic


@given(dags())
@GRAPHS
def test_reverse_order_tears_down_dependents_first(graph: tuple) -> None:
    nodes, deps = graph
    order = reverse_topological_order(nodes, deps)
    position = {node: i for i, node in enumerate(order)}
    for dependent, dependee in _edges(deps):
        assert position[dependent] < position[dependee]


@given(graphs_with_a_cycle())
@settings(GRAPHS, max_examples=200)
def test_a_cycle_is_always_reported_as_a_real_cycle(graph: tuple) -> None:
    nodes, deps = graph
    with pytest.raises(DependencyCycle) as caught:
        topological_order(nodes, deps)
    cycle = caught.value.cycle
    assert cycle[0] == cycle[-1] == min(cycle)
    assert len(set(cycle[:-1])) == len(cycle) - 1
    edges = _edges(deps)
    for dependent, dependee in itertools.pairwise(cycle):
        assert (dependent, dependee) in edges
    assert str(caught.value) == "dependency cycle: " + " -> ".join(cycle)


@given(graphs_with_a_cycle())
@settings(GRAPHS, max_examples=50)
def test_description_cycle_error_points_at_an_edge_of_the_cycle(graph: tuple) -> None:
    nodes, deps = graph
    lines = ["infra_name: x", "nodes:"]
    lines += [f"  - {{name: {node}, type: t}}" for node in nodes]
    lines.append("dependencies:")
    edge_line: dict[tuple[str, str], int] = {}
    for dependent, dependee in sorted(_edges(deps)):
        edge_line[(dependent, dependee)] = len(lines) + 1
        lines.append(f"  - [{dependent}, {dependee}]")
    with pytest.raises(DependencyCycle) as caught:
        parse_infra_description("\n".join(lines) + "\n", "infra.yaml", Path("."))
    cycle = caught.value.cycle
    location = caught.value.location
    assert location is not None
    assert location.line == edge_line[(cycle[0], cycle[1])] and location.column == 5
    names = re.findall(r"n\d\d", str(caught.value).split("dependency cycle: ")[1])
    assert names == cycle


def test_dependents_of() -> None:
    assert dependents_of({"b": ["a"], "c": ["a", "b"], "a": []}) == {
        "a": ["b", "c"], "b": ["c"], "c": []}


def test_ready_nodes_are_sorted_by_name() -> None:
    assert topological_order(["z", "y", "x", "w"], {"w": ["z", "y"]}) == ["x", "y", "z", "w"]


def test_longest_path_is_the_critical_path() -> None:
    deps = {"web": ["db", "cache"], "db": ["net"], "cache": ["net"], "lb": ["web"], "net": []}
    durations = {"net": 1.0, "db": 5.0, "cache": 2.0, "web": 3.0, "lb": 1.0}
    assert longest_path(list(deps), deps, durations) == (10.0, ["net", "db", "web", "lb"])


def test_longest_path_ties_and_missing_durations() -> None:
    assert longest_path(["b", "a"], {}, {}) == (0.0, ["a"])
    assert longest_path([], {}, {}) == (0.0, [])
    assert longest_path(["a", "b", "c"], {"c": ["a", "b"]}, {"a": 1, "b": 1, "c": 1}) == \
        (2.0, ["a", "c"])


@given(dags(), st.data())
@GRAPHS
def test_longest_path_is_a_chain_and_is_maximal(graph: tuple, data: st.DataObject) -> None:
    nodes, deps = graph
    durations = {n: data.draw(st.integers(min_value=0, max_value=20)) for n in nodes}
    total, chain = longest_path(nodes, deps, durations)
    assert total == sum(durations[n] for n in chain)
    for dependee, dependent in itertools.pairwise(chain):
        assert dependee in deps[dependent]
    # no single node, and no node plus its longest chain, beats the answer
    best: dict[str, float] = {}
    for node in topological_order(nodes, deps):
        best[node] = durations[node] + max((best[d] for d in deps[node]), default=0)
    assert total == max(best.values())


def test_cycle_is_a_description_error() -> None:
    assert issubclass(DependencyCycle, DescriptionError)
    with pytest.raises(DescriptionError, match="dependency cycle: a -> b -> a"):
        topological_order(["a", "b"], {"a": ["b"], "b": ["a"]})


def test_engine_view_of_a_parsed_description() -> None:
    infra = parse_infra_description(textwrap.dedent("""
        infra_name: x
        nodes:
          - &db {name: db, type: t}
          - &web {name: web, type: t}
          - &lb {name: lb, type: t}
        dependencies:
          - [*web, *db]
          - [*lb, *web]
    """), "infra.yaml", Path("."))
    deps = infra.dependee_map()
    assert deps == {"db": [], "web": ["db"], "lb": ["web"]}
    assert reverse_topological_order(infra.node_names, deps) == ["lb", "web", "db"]
    assert longest_path(infra.node_names, deps, {"db": 2, "web": 1, "lb": 1}) == \
        (4.0, ["db", "web", "lb"])
