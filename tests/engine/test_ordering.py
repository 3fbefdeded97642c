"""Build and destroy order over a DAG of many instances per node, from stored tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.store.records import TaskRecord

DIAMOND = """
infra_name: diamond
nodes:
  - &A {name: a, type: t, scaling: {min: 6, max: 6}}
  - &B {name: b, type: t, scaling: {min: 6, max: 6}}
  - &C {name: c, type: slow, scaling: {min: 6, max: 6}}
  - &D {name: d, type: t, scaling: {min: 6, max: 6}}
dependencies:
  - [*B, *A]
  - [*C, *A]
  - [*D, *B]
  - [*D, *C]
"""
DEPENDEES = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    api = Occo(Config(home=tmp_path / "home", concurrency=4))
    yield api
    api.close()


def _by_node(tasks: list[TaskRecord], action: str) -> dict[str, list[TaskRecord]]:
    out: dict[str, list[TaskRecord]] = {}
    for task in tasks:
        if task.action == action:
            out.setdefault(task.node_name, []).append(task)
    return out


def test_instances_start_after_their_dependees_and_drop_before_them(
        occo: Occo, tmp_path: Path) -> None:
    (tmp_path / "defs.yaml").write_text(
        "'node_def:t':\n  - resource: {type: dummy, boot_delay: 0.02, drop_delay: 0.01}\n"
        "'node_def:slow':\n  - resource: {type: dummy, boot_delay: 0.15, drop_delay: 0.05}\n")
    occo.import_node_definitions(tmp_path / "defs.yaml")
    (tmp_path / "diamond.yaml").write_text(DIAMOND)
    built = occo.build(tmp_path / "diamond.yaml", parallelize=True)
    assert built.execution_id is not None
    creates = _by_node(occo.store.executions.tasks(built.execution_id), "create")
    assert {name: len(tasks) for name, tasks in creates.items()} == dict.fromkeys("abcd", 6)
    for node, dependees in DEPENDEES.items():
        ready = max(t.ended_at or 0 for d in dependees for t in creates[d])
        assert all(t.started_at is not None and t.started_at >= ready for t in creates[node])

    occo.destroy(built.infra_id)
    destroy = occo.executions(built.infra_id, workflow="destroy")[0]
    drops = _by_node(occo.store.executions.tasks(destroy.id), "destroy")
    assert {name: len(tasks) for name, tasks in drops.items()} == dict.fromkeys("abcd", 6)
    assert all(t.status == "destroyed" for tasks in drops.values() for t in tasks)
    for node, dependees in DEPENDEES.items():
        gone = max(t.ended_at or 0 for t in drops[node])
        for dependee in dependees:
            assert all(t.started_at is not None and t.started_at >= gone
                       for t in drops[dependee])
    assert occo.store.dummy.count() == 0
