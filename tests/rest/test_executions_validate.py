"""POST /validate (a plan, nothing created) and the executions of what was done."""

from __future__ import annotations

from typing import Any

from occo.api import Occo


def test_validate_answers_the_plan_and_creates_nothing(rest: Any, occo: Occo,
                                                       cluster: str) -> None:
    answer = rest("POST", "/validate", data=cluster.replace("min: 1\n", "min: 3\n"))
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["valid"] is True and plan["infra_name"] == "rest-cluster"
    assert plan["order"] == ["head", "worker"]
    assert plan["nodes"]["worker"] == {"type": "fast", "resource_type": "dummy",
                                       "dependees": ["head"], "create": 3, "target": 3}
    assert plan["empty"] is False and plan["drop"] == []
    assert occo.list_infrastructures() == [] and occo.store.dummy.count() == 0
    assert occo.executions() == []


def test_validate_an_update_of_an_existing_infrastructure(rest: Any, cluster: str) -> None:
    infra_id = rest.build(cluster)
    same = rest("POST", f"/validate?infraid={infra_id}", data=cluster).json()
    assert same["empty"] is True and same["infraid"] == infra_id
    grown = rest("POST", f"/validate?infraid={infra_id}",
                 data=cluster.replace("min: 1\n", "min: 2\n")).json()
    assert grown["nodes"]["worker"]["create"] == 1
    assert rest("POST", "/validate?infraid=nope", data=cluster).status_code == 404


def test_validate_rejects_what_a_build_would_reject(rest: Any, cluster: str) -> None:
    cyclic = cluster + "  - [*H, *W]\n"
    answer = rest("POST", "/validate", data=cyclic)
    assert answer.status_code == 400
    assert "cycle" in answer.json()["message"]
    assert answer.json()["location"]["line"] == cyclic.count("\n")
    bounds = rest("POST", "/validate", data=cluster.replace("max: 5", "max: 0"))
    assert bounds.status_code == 400 and "min (1) is greater than max (0)" in bounds.text


def test_executions_list_filter_and_show(rest: Any, occo: Occo, cluster: str) -> None:
    first = rest.build(cluster)
    second = rest.build(cluster)
    rest("DELETE", f"/infrastructures/{second}")

    listed = rest("GET", "/executions").json()["executions"]
    assert [(e["infra_id"], e["workflow"]) for e in listed] == [
        (second, "destroy"), (second, "build"), (first, "build")]
    assert all(e["status"] == "terminated" and e["duration"] >= 0 for e in listed)
    only = rest("GET", f"/executions?infra_id={first}").json()["executions"]
    assert [e["infra_id"] for e in only] == [first]
    assert len(rest("GET", "/executions?limit=1").json()["executions"]) == 1
    assert rest("GET", "/executions?limit=0").status_code == 400
    assert rest("GET", "/executions?limit=many").status_code == 400

    build = rest("GET", f"/executions/{only[0]['id']}").json()
    assert build["workflow"] == "build" and build["status"] == "terminated"
    assert {t["node_name"] for t in build["tasks"]} == {"head", "worker"}
    assert all(t["status"] == "ready" and t["timings"]["create_call"] >= 0.02
               for t in build["tasks"])
    assert build["timings"]["running"] >= build["timings"]["last_create"] > 0
    assert set(build["report"]["nodes"]) == {"head", "worker"}
    assert rest("GET", "/executions/nope").status_code == 404
