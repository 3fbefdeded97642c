"""Planner cases as data: tests/plans/<case>.yaml (builds and updates) and
tests/plans/maintain/<case>.yaml (maintenance passes): observed state in, actions out."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from occo.engine.plan import (
    MaintainedNode,
    MaintenancePolicy,
    ObservedInstance,
    Probe,
    Verdict,
    WantedNode,
    plan_build,
    plan_maintenance,
)
from occo.engine.scaling import Request
from occo.model.states import InstanceState
from occo.model.vocabulary import ScalingKind

PLANS = Path(__file__).parent.parent / "plans"
CASES = sorted(PLANS.glob("*.yaml"))
MAINTAIN_CASES = sorted((PLANS / "maintain").glob("*.yaml"))


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


def _probe(value: str | list[str]) -> Probe:
    verdict, *reason = [value] if isinstance(value, str) else value
    return Probe(Verdict(verdict), reason[0] if reason else "")


@pytest.mark.parametrize("case_file", MAINTAIN_CASES, ids=[c.stem for c in MAINTAIN_CASES])
def test_maintenance_case(case_file: Path) -> None:
    case = YAML(typ="safe").load(case_file.read_text())
    nodes = [MaintainedNode(n["name"], n["min"], n["max"], n["target"], n.get("timeout"))
             for n in case["nodes"]]
    observed = [ObservedInstance(i["id"], i["node"], InstanceState(i.get("state", "ready")),
                                 float(i.get("created_at", 0)),
                                 state_since=float(i.get("state_since", 0)),
                                 unhealthy_since=i.get("unhealthy_since"))
                for i in case["observed"]]
    probes = {i["id"]: _probe(i["probe"]) for i in case["observed"] if "probe" in i}
    requests = [Request(r["id"], r["node"], ScalingKind(r["kind"]), r.get("count"),
                        r.get("target")) for r in case.get("requests", [])]
    plan = plan_maintenance(nodes, observed, probes, float(case["now"]),
                            policy=MaintenancePolicy(**case.get("policy", {})),
                            requests=requests, orphans=case.get("orphans"))
    expect = case["expect"]
    assert {t.instance_id: str(t.state) for t in plan.transitions} == \
        expect.get("transitions", {})
    reasons = {t.instance_id: t.reason for t in plan.transitions}
    for instance_id, reason in expect.get("reasons", {}).items():
        assert reason in reasons[instance_id]
    assert bool(plan.brake) == expect.get("brake", False)
    assert {k: v for k, v in plan.create.items() if v} == expect.get("create", {})
    assert list(plan.drop) == expect.get("drop", [])
    assert plan.targets == expect["targets"]
    outcomes = dict(plan.scaling.outcomes) if plan.scaling else {}
    assert outcomes == expect.get("outcomes", {})


def test_maintenance_cases_exist() -> None:
    assert len(MAINTAIN_CASES) >= 10
