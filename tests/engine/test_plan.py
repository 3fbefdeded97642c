"""Planner cases as data: tests/plans/<case>.yaml (observed state in, actions out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from occo.engine.plan import ObservedInstance, WantedNode, plan_build
from occo.model.states import InstanceState

CASES = sorted((Path(__file__).parent.parent / "plans").glob("*.yaml"))


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_plan_case(case_file: Path) -> None:
    case = YAML(typ="safe").load(case_file.read_text())
    wanted = [WantedNode(n["name"], n.get("type", "t"), n.get("min", 1), n.get("max", n.get("min", 1)))
              for n in case["wanted"]]
    observed = [ObservedInstance(i["id"], i["node"], InstanceState(i.get("state", "ready")),
                                 float(i.get("created_at", 0)), i.get("type", "t"))
                for i in case.get("observed", [])]
    plan = plan_build(wanted, observed, case.get("previous_targets"), case.get("previous_types"))
    expect = case["expect"]
    assert {k: v for k, v in plan.create.items() if v} == expect.get("create", {})
    assert sorted(plan.drop) == sorted(expect.get("drop", []))
    if "drop_order" in expect:
        assert list(plan.drop) == expect["drop_order"]
    assert plan.targets == expect["targets"]


def test_cases_exist() -> None:
    assert len(CASES) >= 6
