"""Each bad input: one clear message with file:line:col or the offending value, exit 2,
nothing stored."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.e2e.helpers import BAD, DATA, Occopus

# (file under data/bad, the command that reads it, line:col, words the message must carry)
DESCRIPTIONS = [
    ("syntax.yaml", "5:4", ["YAML syntax error"]),
    ("unknown_key.yaml", "5:5", ["unknown key", "'scailing'", "'scaling'"]),
    ("wrong_type.yaml", "6:12", ["nodes[0].scaling.min", "integer"]),
    ("duplicate.yaml", "5:11", ["duplicate node name", "'head'"]),
    ("unknown_dependency.yaml", "8:14", ["unknown node", "'headnode'"]),
    ("cycle.yaml", "18:5", ["cycle", "alpha", "beta", "gamma"]),
    ("min_gt_max.yaml", "7:12", ["min (4)", "max (2)"]),
    ("unknown_type.yaml", "6:11", ["unknown node type", "'fsat'"]),
]
NODE_DEFINITIONS = [
    ("nodedef_syntax.yaml", "5:1", ["YAML syntax error"]),
    ("nodedef_unknown_key.yaml", "8:7", ["unknown key", "'boot_dealy'"]),
]


def one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def assert_nothing_stored(occopus: Occopus, node_defs: Mapping[str, object]) -> None:
    assert occopus.listed() == {}
    assert occopus.dummy_count() == 0
    assert occopus.node_defs() == node_defs


@pytest.mark.parametrize(("name", "where", "words"), DESCRIPTIONS,
                         ids=[d[0].removesuffix(".yaml") for d in DESCRIPTIONS])
def test_bad_description(dummy: Occopus, name: str, where: str, words: list[str]) -> None:
    node_defs = dummy.node_defs()
    result = dummy.run("occopus-build", "--parallelize", BAD / name, check=False)
    assert result.returncode == 2, str(result)
    assert result.stdout == ""
    message = one_error(result.stderr)
    assert f"{BAD / name}:{where}:" in message, message
    for word in words:
        assert word in message, message
    if name == "cycle.yaml":
        assert "outsider" not in message  # only the nodes in the cycle are named
    assert_nothing_stored(dummy, node_defs)


@pytest.mark.parametrize(("name", "where", "words"), NODE_DEFINITIONS,
                         ids=[d[0].removesuffix(".yaml") for d in NODE_DEFINITIONS])
def test_bad_node_definition_file(dummy: Occopus, name: str, where: str,
                                  words: list[str]) -> None:
    node_defs = dummy.node_defs()
    result = dummy.run("occopus-import", BAD / name, check=False)
    assert result.returncode == 2, str(result)
    message = one_error(result.stderr)
    assert f"{BAD / name}:{where}:" in message, message
    for word in words:
        assert word in message, message
    # Not even the valid part of the file (a new 'fast') replaced what was imported.
    assert_nothing_stored(dummy, node_defs)


def test_unknown_infra_id(dummy: Occopus) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    node_defs = dummy.node_defs()
    for args in (["occopus-maintain", "-r", "-i", unknown],
                 ["occopus-destroy", "-i", unknown],
                 ["occopus-build", "-i", unknown, str(DATA / "cluster.yaml")]):
        result = dummy.run(*args, check=False)
        assert result.returncode == 2, str(result)
        assert result.stdout == ""
        assert unknown in one_error(result.stderr), str(result)
    assert_nothing_stored(dummy, node_defs)


def test_bad_update_changes_nothing(dummy: Occopus) -> None:
    infra_id = dummy.build(DATA / "cluster.yaml")
    report = dummy.report(infra_id)
    result = dummy.run("occopus-build", "-i", infra_id, BAD / "min_gt_max.yaml",
                       check=False)
    assert result.returncode == 2, str(result)
    assert f"{BAD / 'min_gt_max.yaml'}:7:12:" in one_error(result.stderr)
    assert dummy.report(infra_id) == report
    assert dummy.listed() == {infra_id: ("e2e-cluster", "ready")}
    assert dummy.dummy_count() == 3
