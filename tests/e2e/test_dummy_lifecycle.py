"""import -> build -> report -> destroy on the simulated cloud, plus failure, update, dry run."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.e2e.helpers import DATA, Occopus

IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def ids_by_node(report: dict[str, Any]) -> dict[str, set[str]]:
    return {node: set(entry["instances"]) for node, entry in report.items()}


def assert_all_ready(report: dict[str, Any]) -> None:
    for node, entry in report.items():
        assert entry["scaling"]["actual"] == len(entry["instances"]) >= 1, node
        for instance_id, inst in entry["instances"].items():
            assert inst["state"] == "ready", (node, instance_id, inst)
            assert IPV4.fullmatch(inst["resource_address"] or ""), (node, instance_id, inst)


def test_import_build_report_destroy(occopus: Occopus) -> None:
    dummy = occopus
    imported = dummy.import_defs(DATA / "dummy_nodes.yaml")
    assert "broken, fast, slow" in imported.stderr
    assert set(dummy.node_defs()) == {"broken", "fast", "slow"}

    infra_id = dummy.build(DATA / "cluster.yaml", "--parallelize")
    assert dummy.listed() == {infra_id: ("e2e-cluster", "ready")}
    assert dummy.dummy_count() == 3

    # --json: Occopus's REST report shape, nothing more.
    report = dummy.report(infra_id)
    assert set(report) == {"head", "worker"}
    for entry in report.values():
        assert set(entry) == {"instances", "scaling"}
        assert set(entry["scaling"]) == {"actual", "target", "min", "max"}
        for inst in entry["instances"].values():
            assert set(inst) == {"resource_address", "state"}
    assert report["head"]["scaling"] == {"actual": 1, "target": 1, "min": 1, "max": 1}
    assert report["worker"]["scaling"] == {"actual": 2, "target": 2, "min": 2, "max": 5}
    assert_all_ready(report)

    # Plain text names every instance with its state and address.
    text = dummy.run("occopus-maintain", "-r", "-i", infra_id).stdout
    assert infra_id in text
    for entry in report.values():
        for instance_id, inst in entry["instances"].items():
            line = next(row for row in text.splitlines() if instance_id in row)
            assert "ready" in line and inst["resource_address"] in line

    # -o FILE: the report goes to the file, stdout stays empty.
    out = dummy.root / "report.json"
    written = dummy.run("occopus-maintain", "-r", "-i", infra_id, "--json", "-o", out)
    assert written.stdout == ""
    assert json.loads(out.read_text()) == report

    # -f NODE: only that node; an unknown node is an error naming it.
    assert dummy.report(infra_id, "-f", "worker") == {"worker": report["worker"]}
    missing = dummy.run("occopus-maintain", "-r", "-i", infra_id, "-f", "nosuch", check=False)
    assert missing.returncode == 2 and "nosuch" in missing.stderr, str(missing)

    destroyed = dummy.run("occopus-destroy", "-i", infra_id)
    assert destroyed.stdout == ""
    assert dummy.listed() == {}
    assert dummy.dummy_count() == 0
    gone = dummy.run("occopus-maintain", "-r", "-i", infra_id, check=False)
    assert gone.returncode == 2 and infra_id in gone.stderr, str(gone)


def test_failing_dependent_rolls_back_everything(dummy: Occopus) -> None:
    result = dummy.run("occopus-build", "--parallelize", DATA / "failing_dependent.yaml",
                       check=False)
    assert result.returncode == 1, str(result)
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "'app'" in last and "fail" in last, str(result)
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}


def test_update_creates_only_differences_and_rolls_back_only_its_own(dummy: Occopus) -> None:
    infra_id = dummy.build(DATA / "cluster.yaml", "--parallelize")
    before = ids_by_node(dummy.report(infra_id))

    updated = dummy.run("occopus-build", "--parallelize", "-i", infra_id,
                       DATA / "cluster_grown.yaml")
    assert updated.stdout == infra_id + "\n"
    grown = dummy.report(infra_id)
    assert_all_ready(grown)
    after = ids_by_node(grown)
    assert after["head"] == before["head"]
    assert after["worker"] > before["worker"] and len(after["worker"]) == 3
    assert len(after["monitor"]) == 1
    assert grown["worker"]["scaling"] == {"actual": 3, "target": 3, "min": 3, "max": 5}
    assert dummy.dummy_count() == 5  # 3 kept + 2 created

    failed = dummy.run("occopus-build", "--parallelize", "-i", infra_id,
                       DATA / "cluster_broken_update.yaml", check=False)
    assert failed.returncode == 1, str(failed)
    assert failed.stdout == ""
    assert "'probe'" in failed.stderr.strip().splitlines()[-1], str(failed)
    # The fourth worker and the probe were rolled back; what existed is untouched.
    assert dummy.report(infra_id) == grown
    assert dummy.dummy_count() == 5
    assert dummy.listed() == {infra_id: ("e2e-cluster", "ready")}

    dummy.run("occopus-destroy", "-i", infra_id)
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}


def test_dry_run_prints_the_plan_and_creates_nothing(dummy: Occopus) -> None:
    fresh = dummy.run("occopus-build", "--dry-run", DATA / "cluster.yaml")
    assert "head: create 1 x fast on dummy" in fresh.stdout, str(fresh)
    assert "worker: create 2 x fast on dummy" in fresh.stdout, str(fresh)
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}

    infra_id = dummy.build(DATA / "cluster.yaml")
    report = dummy.report(infra_id)
    update = dummy.run("occopus-build", "--dry-run", "-i", infra_id, DATA / "cluster_grown.yaml")
    assert "head: create 0" in update.stdout, str(update)
    assert "worker: create 1" in update.stdout, str(update)
    assert "monitor: create 1" in update.stdout, str(update)
    assert dummy.report(infra_id) == report
    assert dummy.dummy_count() == 3
