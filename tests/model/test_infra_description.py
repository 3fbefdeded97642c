"""Infrastructure descriptions: every Occopus form, and every error at its place."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from occo.errors import DescriptionError, NotFound, SourceLocation
from occo.model.description import (
    Dependency,
    InfraDescription,
    check_node_types,
    load_infra_description,
    parse_infra_description,
)
from occo.model.graph import DependencyCycle

DATA = Path(__file__).parent / "data"


def parse(text: str, source: str = "infra.yaml", base_dir: Path = DATA) -> InfraDescription:
    return parse_infra_description(textwrap.dedent(text).lstrip("\n"), source, base_dir)


def error_of(text: str) -> str:
    with pytest.raises(DescriptionError) as caught:
        parse(text)
    return str(caught.value)


# --------------------------------------------------------------------------- accepted forms


@pytest.fixture(scope="module")
def cluster() -> InfraDescription:
    return load_infra_description(DATA / "infra_cluster.yaml")


def test_tutorial_style_description(cluster: InfraDescription) -> None:
    assert cluster.infra_name == "compute-cluster"
    assert cluster.user_id == "operator@example.org"
    assert cluster.node_names == ["head", "worker", "monitor", "gateway"]
    assert cluster.source == str(DATA / "infra_cluster.yaml")


def test_variables_at_both_levels(cluster: InfraDescription) -> None:
    assert cluster.variables["cluster_secret"] == "s3cr3t"
    assert cluster.variables["workers_per_head"] == 4
    assert cluster.variables["tuning"]["motd"] == "Welcome to the compute cluster.\n"
    assert cluster.node("worker").variables == {"role": "worker", "cluster_secret": "overridden"}
    assert cluster.node("monitor").variables == {}


def test_scaling_defaults_and_zero_min(cluster: InfraDescription) -> None:
    assert (cluster.node("head").scaling.min, cluster.node("head").scaling.max) == (1, 1)
    assert (cluster.node("worker").scaling.min, cluster.node("worker").scaling.max) == (2, 10)
    # occo allows min 0 (Occopus does not); max defaults to min
    assert (cluster.node("monitor").scaling.min, cluster.node("monitor").scaling.max) == (0, 0)
    assert (cluster.node("gateway").scaling.min, cluster.node("gateway").scaling.max) == (1, 3)


def test_filter(cluster: InfraDescription) -> None:
    assert cluster.node("head").filter == {"type": "nova", "flavor_name": "m1.large"}
    assert cluster.node("worker").filter == {}


def test_every_dependency_form(cluster: InfraDescription) -> None:
    deps = cluster.dependencies
    assert [(d.dependent, d.dependee) for d in deps] == [
        ("worker", "head"), ("monitor", "worker"), ("gateway", "head")]
    assert deps[0].mappings is None
    assert deps[1].mappings == [["metrics_port", "scrape_port"],
                                {"attributes": ["head_ip", "master"], "synch": True}]
    assert cluster.dependees("worker") == ["head"]
    assert cluster.dependents("head") == ["worker", "gateway"]
    assert cluster.dependees("head") == []


def test_topological_order_is_deterministic(cluster: InfraDescription) -> None:
    assert cluster.topological_order() == ["head", "gateway", "worker", "monitor"]


def test_location_of(cluster: InfraDescription) -> None:
    where = cluster.location_of(("nodes", 1, "scaling", "max"))
    assert where == SourceLocation(str(DATA / "infra_cluster.yaml"), 26, 12)


def test_no_dependencies_and_empty_sections() -> None:
    infra = parse("""
        infra_name: solo
        variables:
        nodes:
          - name: only
            type: t
            scaling:
            filter:
            variables:
        dependencies:
    """)
    node = infra.node("only")
    assert (node.scaling.min, node.scaling.max, node.filter, node.variables) == (1, 1, {}, {})
    assert infra.dependencies == [] and infra.variables == {}
    assert infra.topological_order() == ["only"]


def test_numeric_names_are_accepted_as_text() -> None:
    infra = parse("""
        infra_name: 2024
        nodes:
          - {name: 1, type: t}
          - {name: 2, type: t}
        dependencies:
          - [2, 1]
    """)
    assert infra.infra_name == "2024"
    assert infra.dependees("2") == ["1"]


def test_dependency_extras_are_kept() -> None:
    infra = parse("""
        infra_name: x
        nodes:
          - &A {name: a, type: t}
          - &B {name: b, type: t}
        dependencies:
          - {connection: [*B, *A], broker: amqp}
    """)
    assert infra.dependencies[0] == Dependency(dependent="b", dependee="a",
                                               extras={"broker": "amqp"})


def test_node_lookup_errors() -> None:
    infra = parse("infra_name: x\nnodes: [{name: web, type: t}]\n")
    with pytest.raises(NotFound, match="unknown node 'wbe' \\(did you mean 'web'\\?\\)"):
        infra.node("wbe")
    with pytest.raises(NotFound):
        infra.dependees("nope")


def test_plain_round_trip(cluster: InfraDescription) -> None:
    plain = cluster.to_plain()
    assert json.loads(json.dumps(plain)) == plain
    rebuilt = InfraDescription.from_plain(plain)
    assert rebuilt.to_plain() == plain
    assert rebuilt.location_of(("nodes", 0)) is None
    assert rebuilt.topological_order() == cluster.topological_order()


def test_from_plain_validates_without_locations() -> None:
    with pytest.raises(DescriptionError) as caught:
        InfraDescription.from_plain({"infra_name": "x",
                                     "nodes": [{"name": "a", "type": "t", "scailng": {}}]})
    assert caught.value.location is None
    assert str(caught.value) == "nodes[0]: unknown key 'scailng' (did you mean 'scaling'?)"
    with pytest.raises(DependencyCycle):
        InfraDescription.from_plain({
            "infra_name": "x", "nodes": [{"name": "a", "type": "t"}],
            "dependencies": [{"dependent": "a", "dependee": "a"}]})


# --------------------------------------------------------------------------- errors


def test_yaml_syntax_error() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
           type: t
    """).startswith("infra.yaml:4:4: YAML syntax error:")


def test_misspelt_node_key() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
            type: t
            scailng: {min: 1}
    """) == "infra.yaml:5:5: nodes[0]: unknown key 'scailng' (did you mean 'scaling'?)"


def test_misspelt_top_level_key() -> None:
    assert error_of("""
        infra_name: x
        nodes: [{name: a, type: t}]
        dependencys: []
    """) == "infra.yaml:3:1: unknown key 'dependencys' (did you mean 'dependencies'?)"


def test_unknown_key_without_close_spelling() -> None:
    assert error_of("""
        infra_name: x
        nodes: [{name: a, type: t, scaling: {min: 1, step: 2}}]
    """) == "infra.yaml:2:46: nodes[0].scaling: unknown key 'step'"


def test_wrong_type() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
            type: t
          - name: b
            type: t
            scaling:
              min: many
    """) == "infra.yaml:8:12: nodes[1].scaling.min: Input should be a valid integer (got 'many')"


def test_nodes_must_be_a_list() -> None:
    assert error_of("""
        infra_name: x
        nodes: {name: a}
    """) == "infra.yaml:2:8: nodes: Input should be a valid list"


def test_missing_required_keys() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
    """) == "infra.yaml:3:5: nodes[0]: missing required key 'type'"
    assert error_of("""
        nodes: [{name: a, type: t}]
    """) == "infra.yaml:1:1: missing required key 'infra_name'"


def test_nodes_must_not_be_empty() -> None:
    assert error_of("""
        infra_name: x
        nodes: []
    """) == "infra.yaml:2:8: nodes: must not be empty"


def test_document_must_be_a_mapping() -> None:
    assert "must be a mapping" in error_of("- a\n- b\n")
    assert "empty" in error_of("# nothing\n")


def test_min_greater_than_max() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
            type: t
            scaling:
              min: 5
              max: 2
    """) == "infra.yaml:7:12: nodes[0].scaling.max: min (5) is greater than max (2)"


def test_max_below_default_min() -> None:
    assert error_of("""
        infra_name: x
        nodes: [{name: a, type: t, scaling: {max: 0}}]
    """) == "infra.yaml:2:43: nodes[0].scaling.max: min (1) is greater than max (0)"


def test_negative_min() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: a
            type: t
            scaling: {min: -1}
    """) == ("infra.yaml:5:20: nodes[0].scaling.min: "
             "Input should be greater than or equal to 0 (got -1)")


def test_duplicate_node_names() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - name: web
            type: t
          - name: db
            type: t
          - name: web
            type: u
    """) == ("infra.yaml:7:11: nodes[2].name: duplicate node name 'web' "
             "(first defined at infra.yaml:3:11)")


def test_dependency_on_unknown_node_by_name() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - &A {name: web, type: t}
          - {name: db, type: t}
        dependencies:
          - [*A, dbb]
    """) == ("infra.yaml:6:10: dependencies[0][1]: dependency on unknown node 'dbb' "
             "(did you mean 'db'?)")


def test_dependency_on_unknown_node_in_connection_form() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - {name: web, type: t}
        dependencies:
          - connection: [queue, web]
    """) == ("infra.yaml:5:18: dependencies[0].connection[0]: "
             "dependency on unknown node 'queue' (nodes: web)")


def test_dependency_on_an_anchor_that_is_not_a_node() -> None:
    assert error_of("""
        infra_name: x
        variables: &V {colour: red}
        nodes:
          - &A {name: web, type: t}
        dependencies:
          - [*A, *V]
    """) == ("infra.yaml:6:5: dependencies[0]: "
             "the dependee node mapping has no 'name'")


@pytest.mark.parametrize("dependency, message", [
    ("[a]", "dependency must list exactly two nodes: [dependent, dependee]"),
    ("[a, b, c]", "dependency must list exactly two nodes: [dependent, dependee]"),
    ("{mappings: []}", "a dependency mapping needs a 'connection': [dependent, dependee]"),
    ("{connection: a}", "connection must list exactly two nodes: [dependent, dependee]"),
    ("a", "a dependency must be [dependent, dependee] or {connection: [dependent, dependee]}"),
])
def test_malformed_dependencies(dependency: str, message: str) -> None:
    assert error_of(f"""
        infra_name: x
        nodes: [{{name: a, type: t}}, {{name: b, type: t}}]
        dependencies:
          - {dependency}
    """) == f"infra.yaml:4:5: dependencies[0]: {message}"


def test_dependency_cycle_names_the_nodes_in_order() -> None:
    with pytest.raises(DependencyCycle) as caught:
        parse("""
            infra_name: x
            nodes:
              - &A {name: a, type: t}
              - &B {name: b, type: t}
              - &C {name: c, type: t}
              - &D {name: d, type: t}
            dependencies:
              - [*D, *A]
              - [*B, *C]
              - [*A, *B]
              - connection: [*C, *A]
        """)
    assert caught.value.cycle == ["a", "b", "c", "a"]
    assert str(caught.value) == "infra.yaml:10:5: dependencies[2]: dependency cycle: a -> b -> c -> a"
    assert caught.value.exit_code == 2


def test_self_dependency_is_a_cycle() -> None:
    assert error_of("""
        infra_name: x
        nodes:
          - &A {name: a, type: t}
        dependencies:
          - [*A, *A]
    """) == "infra.yaml:5:5: dependencies[0]: dependency cycle: a -> a"


def test_errors_are_description_errors_with_exit_code_2() -> None:
    with pytest.raises(DescriptionError) as caught:
        parse("infra_name: x\nnodes: 5\n")
    assert caught.value.exit_code == 2 and caught.value.http_status == 400


def test_check_node_types() -> None:
    infra = parse("""
        infra_name: x
        nodes:
          - name: a
            type: cluster_head
          - name: b
            type: cluster_wroker
    """)
    check_node_types(infra, {"cluster_head", "cluster_wroker"})
    with pytest.raises(DescriptionError) as caught:
        check_node_types(infra, {"cluster_head", "cluster_worker"})
    assert str(caught.value) == (
        "infra.yaml:6:11: nodes[1].type: unknown node type 'cluster_wroker' "
        "(did you mean 'cluster_worker'?) (known types: cluster_head, cluster_worker)")


def test_check_node_types_without_locations() -> None:
    infra = InfraDescription.from_plain({"infra_name": "x", "nodes": [{"name": "a", "type": "q"}]})
    with pytest.raises(DescriptionError) as caught:
        check_node_types(infra, set())
    assert str(caught.value) == "nodes[0].type: unknown node type 'q' (known types: none imported)"


def test_errors_in_imported_files_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "nodes.yaml").write_text("- name: a\n  type: t\n  scaling: {min: x}\n")
    (tmp_path / "infra.yaml").write_text(
        "infra_name: x\nnodes: !yaml_import {url: file://nodes.yaml}\n")
    with pytest.raises(DescriptionError) as caught:
        load_infra_description(tmp_path / "infra.yaml")
    assert caught.value.location == SourceLocation(str(tmp_path / "nodes.yaml"), 3, 18)


def test_odd_mapping_keys() -> None:
    assert error_of("""
        infra_name: x
        nodes: [{name: a, type: t}]
        variables: {1: a, null: b}
    """) == "infra.yaml:3:12: variables: invalid key 'None': Input should be a valid string"
    infra = parse("""
        infra_name: x
        nodes: [{name: a, type: t}]
        variables: {1: one}
    """)
    assert infra.variables == {"1": "one"}
    # Occopus (PyYAML) cannot build such a key either
    assert error_of("""
        infra_name: x
        nodes: [{name: a, type: t, filter: {? [a, b] : c}}]
    """) == "infra.yaml:2:39: a mapping or sequence cannot be a mapping key"
