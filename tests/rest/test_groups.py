"""Infrastructure groups, labels and execution groups over REST, against a real server."""

from __future__ import annotations

import time
from typing import Any

from occo.api import Occo
from tests.support.wait import wait_until

TENANT = "infra_name: tenant\nnodes:\n  - {name: worker, type: tenant, scaling: {min: 1, max: 5}}\n"


def tenant_type(rest: Any, create: float = 0.02, boot: float = 0.02) -> None:
    """The node type "tenant"; an infrastructure keeps the one it was built with."""
    answer = rest("PUT", "/node-definitions/tenant",
                  json=[{"resource": {"type": "dummy", "create_delay": create,
                                      "boot_delay": boot}}])
    assert answer.status_code == 200, answer.text


def tenants(rest: Any, count: int) -> list[str]:
    """``count`` one-node infrastructures, built over REST and ready."""
    ids = []
    for _ in range(count):
        answer = rest("POST", "/infrastructures/", data=TENANT)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["infraid"])
    wait_until(lambda: all(rest.ready(i) and rest.build_ended(i) for i in ids), timeout=60)
    return ids


def infra_group(rest: Any, name: str, members: list[str] | None = None) -> None:
    assert rest("POST", "/infrastructure-groups", json={"id": name}).status_code == 201
    if members:
        answer = rest("POST", f"/infrastructure-groups/{name}/members",
                      json={"infra_ids": members})
        assert answer.status_code == 200, answer.text


def members_with(rest: Any, group_id: str, status: str) -> list[dict[str, Any]]:
    answer = rest("GET", f"/executions?group_id={group_id}&status={status}&limit=1000")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["executions"])


def final_report(rest: Any, group_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        answer = rest("GET", f"/execution-groups/{group_id}/report")
        return answer.json() if answer.status_code == 200 and \
            answer.json()["kind"] == "final" else None
    report: dict[str, Any] = wait_until(done, timeout=60)
    return report


def max_overlap(executions: list[dict[str, Any]]) -> int:
    """The most executions ever started at once, from their recorded intervals."""
    points = []
    for e in executions:
        if e["started_at"] is not None:
            points += [(e["started_at"], 1), (e["ended_at"] or time.time(), -1)]
    running = peak = 0
    for _, delta in sorted(points):
        running += delta
        peak = max(peak, running)
    return peak


# -- infrastructure groups and labels ---------------------------------------------------
def test_infrastructure_groups_create_show_list_delete(rest: Any) -> None:
    created = rest("POST", "/infrastructure-groups",
                   json={"id": "tenants", "description": "every tenant"})
    assert created.status_code == 201, created.text
    assert created.json()["infra_ids"] == [] and created.json()["created_by"] == "rest"
    assert created.headers["Location"].endswith("/infrastructure-groups/tenants")
    again = rest("POST", "/infrastructure-groups", json={"id": "tenants"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    for bad in ({}, {"id": ""}, {"id": "a/b"}, {"id": "-x"}, {"id": "x\n"}, {"id": 3}):
        answer = rest("POST", "/infrastructure-groups", json=bad)
        assert answer.status_code == 400, (bad, answer.text)
    rest("POST", "/infrastructure-groups", json={"id": "other"})

    listed = rest("GET", "/infrastructure-groups").json()["items"]
    assert [(g["id"], g["description"]) for g in listed] == [
        ("tenants", "every tenant"), ("other", None)]
    shown = rest("GET", "/infrastructure-groups/tenants").json()
    assert shown["id"] == "tenants" and shown["infra_ids"] == []
    assert rest("GET", "/infrastructure-groups/nope").status_code == 404

    assert rest("DELETE", "/infrastructure-groups/other").json()["id"] == "other"
    assert rest("GET", "/infrastructure-groups/other").status_code == 404
    assert rest("DELETE", "/infrastructure-groups/other").status_code == 404


def test_members_by_id_and_by_label(rest: Any) -> None:
    tenant_type(rest)
    ids = tenants(rest, 3)
    for infra_id in (ids[0], ids[2]):
        answer = rest("PATCH", f"/infrastructures/{infra_id}/labels",
                      json={"labels": {"release": "blue"}})
        assert answer.status_code == 200, answer.text
    infra_group(rest, "blue")

    by_label = rest("POST", "/infrastructure-groups/blue/members", json={"label": "release=blue"})
    assert by_label.status_code == 200, by_label.text
    assert sorted(by_label.json()["added"]) == sorted([ids[0], ids[2]])
    both = rest("POST", "/infrastructure-groups/blue/members",
                json={"infra_ids": [ids[1]], "label": "release=blue"})
    assert both.json()["added"] == [ids[1]]            # the labelled ones were members already
    assert sorted(both.json()["infra_ids"]) == sorted(ids)

    removed = rest("DELETE", "/infrastructure-groups/blue/members", json={"infra_ids": [ids[0]]})
    assert removed.status_code == 200
    assert sorted(removed.json()["infra_ids"]) == sorted(ids[1:])
    assert rest("GET", f"/infrastructures/{ids[0]}").status_code == 200   # only ungrouped

    def add(body: Any, group: str = "blue") -> int:
        return int(rest("POST", f"/infrastructure-groups/{group}/members", json=body).status_code)

    assert add({"infra_ids": ["no-such-infra"]}) == 404
    assert add({"label": "release=green"}) == 404                 # matches nothing
    assert add({"label": "no-equals-sign"}) == 400
    assert add({}) == 400 and add({"infra_ids": []}) == 400
    assert add({"infra_ids": [ids[0]]}, group="nope") == 404
    assert rest("DELETE", "/infrastructure-groups/blue/members", json={}).status_code == 400
    assert rest("DELETE", "/infrastructure-groups/nope/members",
                json={"infra_ids": [ids[0]]}).status_code == 404
    assert sorted(rest("GET", "/infrastructure-groups/blue").json()["infra_ids"]) == \
        sorted(ids[1:])                                        # the refused calls changed nothing


def test_labels_merge_replace_and_remove(rest: Any, cluster: str) -> None:
    infra_id = rest.build(cluster)
    path = f"/infrastructures/{infra_id}/labels"
    assert rest("GET", path).json() == {"infraid": infra_id, "labels": {}}
    rest("PATCH", path, json={"labels": {"release": "blue", "team": "a"}})
    merged = rest("PATCH", path, json={"labels": {"team": None, "tier": "web"}})
    assert merged.json()["labels"] == {"release": "blue", "tier": "web"}
    replaced = rest("PUT", path, json={"labels": {"owner": "x", "gone": None}})
    assert replaced.json()["labels"] == {"owner": "x"}
    assert rest("GET", path).json()["labels"] == {"owner": "x"}
    assert rest("PATCH", path, json={"labels": {"a=b": "c"}}).status_code == 400
    assert rest("PATCH", path, json={"labels": {"k": 3}}).status_code == 400
    assert rest("PATCH", path, json={}).status_code == 400
    assert rest("PATCH", "/infrastructures/nope/labels",
                json={"labels": {"k": "v"}}).status_code == 404
    assert rest("GET", "/infrastructures/nope/labels").status_code == 404
    assert set(rest("GET", f"/infrastructures/{infra_id}").json()) == {"head", "worker"}


# -- execution groups -----------------------------------------------------------------------
def test_twenty_infrastructures_concurrency_three_pause_resume_failure_and_report(
        rest: Any) -> None:
    """Issue 5's "Done when", over HTTP only."""
    tenant_type(rest, create=0.1, boot=0.1)   # what the scaling adds takes a while
    ids = tenants(rest, 20)
    infra_group(rest, "tenants", ids)
    infra_group(rest, "ok")
    infra_group(rest, "broken")
    bad = ids[7]
    started = rest("POST", "/execution-groups", json={
        "infra_group_id": "tenants", "workflow_id": "scale",
        "default_parameters": {"node": "worker", "change": 1},
        "parameters": {bad: {"node": "ghost"}}, "concurrency": 3,
        "success_group_id": "ok", "failure_group_id": "broken"})
    assert started.status_code == 201, started.text
    group = started.json()
    gid = group["id"]
    assert started.headers["Location"].endswith(f"/execution-groups/{gid}")
    assert group["workflow_id"] == "scale" and group["infra_group_id"] == "tenants"
    assert len(group["execution_ids"]) == 20 and group["concurrency"] == 3
    assert group["parameters"] == {bad: {"node": "ghost"}}

    peak = 0

    def ended() -> int:
        nonlocal peak
        peak = max(peak, len(members_with(rest, gid, "started")))
        return len(members_with(rest, gid, "terminated")) + len(members_with(rest, gid, "failed"))

    wait_until(lambda: ended() >= 4, timeout=30)
    paused = rest("PATCH", f"/execution-groups/{gid}", json={"concurrency": 0})
    assert paused.status_code == 200 and paused.json()["concurrency"] == 0
    wait_until(lambda: not members_with(rest, gid, "started"))
    paused_at = time.time()
    queued = len(members_with(rest, gid, "queued"))
    assert queued >= 10
    assert rest("GET", f"/execution-groups/{gid}").json()["status"] == "started"
    assert len(members_with(rest, gid, "queued")) == queued

    resumed_at = time.time()
    resumed = rest("PATCH", f"/execution-groups/{gid}", json={"concurrency": 3})
    assert resumed.status_code == 200 and resumed.json()["concurrency"] == 3
    wait_until(lambda: ended() == 20, timeout=60)         # sampling the started ones all along
    report = final_report(rest, gid)

    assert 1 <= peak <= 3
    runs = members_with(rest, gid, "terminated") + members_with(rest, gid, "failed")
    assert len(runs) == 20 and max_overlap(runs) == 3
    assert not [r for r in runs if paused_at <= r["started_at"] <= resumed_at]  # paused
    assert rest("GET", f"/execution-groups/{gid}").json()["status"] == "failed"
    assert rest("GET", "/infrastructure-groups/broken").json()["infra_ids"] == [bad]
    assert sorted(rest("GET", "/infrastructure-groups/ok").json()["infra_ids"]) == \
        sorted(set(ids) - {bad})
    for infra_id in ids:                  # the others really scaled: two workers each
        assert rest.count(infra_id, "worker") == (1 if infra_id == bad else 2)

    assert report["status"] == "failed" and report["execution_group_id"] == gid
    assert report["counts"] == {"failed": 1, "terminated": 19}
    members = {m["infra_id"]: m for m in report["executions"]}
    assert set(members) == set(ids)
    assert members[bad]["status"] == "failed" and "ghost" in members[bad]["error"]
    assert all(m["status"] == "terminated" for i, m in members.items() if i != bad)
    for member in report["executions"]:
        for link in member["links"].values():
            assert link.startswith(rest.url + "/")
            assert rest.http.get(link, timeout=30).status_code == 200, link
    failed_run = members[bad]["execution_id"]
    assert members[bad]["links"]["execution"] == f"{rest.url}/executions/{failed_run}"

    first = rest("GET", f"/execution-groups/{gid}/report?kind=first_failure").json()
    assert first["kind"] == "first_failure"
    assert {m["infra_id"]: m["status"] for m in first["executions"]}[bad] == "failed"
    assert any(m["status"] in ("queued", "started") for m in first["executions"])


def test_execution_group_list_show_and_errors(rest: Any) -> None:
    tenant_type(rest)
    ids = tenants(rest, 2)
    infra_group(rest, "pair", ids)
    infra_group(rest, "empty")

    def start(**body: Any) -> Any:
        return rest("POST", "/execution-groups",
                    json={"infra_group_id": "pair", "workflow_id": "maintain", **body})

    assert start(infra_group_id="nope").status_code == 404
    assert start(success_group_id="nope").status_code == 404
    assert start(failure_group_id="nope").status_code == 404
    assert start(workflow_id="explode").status_code == 400
    assert start(concurrency=-1).status_code == 400
    assert start(concurrency="3").status_code == 400
    assert start(concurrency=10**9).status_code == 400
    assert start(parameters={"stranger": {"x": 1}}).status_code == 400
    assert start(parameters={ids[0]: 3}).status_code == 400
    assert rest("POST", "/execution-groups", json={"workflow_id": "maintain"}).status_code == 400
    assert rest("GET", "/execution-groups").json() == {"items": []}   # nothing was recorded

    paused = start(concurrency=0)
    assert paused.status_code == 201, paused.text
    gid = paused.json()["id"]
    assert paused.json()["status"] == "pending"
    no_report = rest("GET", f"/execution-groups/{gid}/report")
    assert no_report.status_code == 404 and no_report.json()["error"] == "not_found"
    assert rest("GET", f"/execution-groups/{gid}/report?kind=later").status_code == 400

    shown = rest("GET", f"/execution-groups/{gid}").json()
    assert set(shown) == {"id", "created_at", "created_by", "workflow_id", "concurrency",
                          "infra_group_id", "execution_ids", "status", "default_parameters",
                          "parameters", "success_group_id", "failure_group_id"}
    assert rest("GET", "/execution-groups/nope").status_code == 404
    assert [g["id"] for g in rest("GET", "/execution-groups?infra_group_id=pair")
            .json()["items"]] == [gid]
    assert rest("GET", "/execution-groups?infra_group_id=empty").json() == {"items": []}

    def patch(body: Any, group: str = gid) -> Any:
        return rest("PATCH", f"/execution-groups/{group}", json=body)

    assert patch({}).status_code == 400
    assert patch({"concurrency": -2}).status_code == 400
    assert patch({"concurrency": None}).status_code == 400
    assert patch({"success_group_id": "nope"}).status_code == 404
    assert patch({"concurrency": 1}, group="nope").status_code == 404
    targets = patch({"success_group_id": "empty", "failure_group_id": "pair"})
    assert targets.status_code == 200
    assert (targets.json()["success_group_id"], targets.json()["failure_group_id"]) == \
        ("empty", "pair")
    busy = rest("DELETE", "/infrastructure-groups/empty")     # a target of a live group
    assert busy.status_code == 409

    assert rest("POST", f"/execution-groups/{gid}", json={"action": "pause"}).status_code == 400
    assert rest("POST", "/execution-groups/nope", json={"action": "cancel"}).status_code == 404
    patch({"concurrency": 2})
    report = final_report(rest, gid)
    assert report["status"] == "terminated" and report["counts"] == {"terminated": 2}
    assert sorted(rest("GET", "/infrastructure-groups/empty").json()["infra_ids"]) == sorted(ids)
    assert rest("DELETE", "/infrastructure-groups/empty").status_code == 200   # done: free


def test_cancel_marks_queued_executions_cancelled_at_once_and_resume_runs_them(
        rest: Any) -> None:
    tenant_type(rest)
    ids = tenants(rest, 4)
    infra_group(rest, "four", ids)
    gid = rest("POST", "/execution-groups", json={
        "infra_group_id": "four", "workflow_id": "maintain", "concurrency": 0}).json()["id"]

    cancelled = rest("POST", f"/execution-groups/{gid}", json={"action": "cancel"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "terminated"          # all ended, none failed
    assert len(members_with(rest, gid, "cancelled")) == 4      # at once, in the same request
    report = final_report(rest, gid)
    assert report["counts"] == {"cancelled": 4}

    rest("PATCH", f"/execution-groups/{gid}", json={"concurrency": 2})
    resumed = rest("POST", f"/execution-groups/{gid}", json={"action": "resume"})
    assert resumed.status_code == 200
    wait_until(lambda: len(members_with(rest, gid, "terminated")) == 4)
    report = final_report(rest, gid)
    assert report["counts"] == {"terminated": 4}
    assert all(m["attempt"] == 2 for m in report["executions"])


def test_executions_filters_and_action_errors(rest: Any, cluster: str) -> None:
    first = rest.build(cluster)
    second = rest.build(cluster)
    rest("DELETE", f"/infrastructures/{second}")

    builds = rest("GET", "/executions?workflow=build").json()["executions"]
    assert {e["infra_id"] for e in builds} == {first, second}
    assert all(e["group_id"] is None and e["attempt"] == 1 for e in builds)
    (destroy,) = rest("GET", "/executions?workflow=destroy&status=terminated").json()["executions"]
    assert destroy["infra_id"] == second
    assert rest("GET", f"/executions?infra_id={first}&workflow=destroy").json() == \
        {"executions": []}
    assert rest("GET", "/executions?status=failed").json() == {"executions": []}
    assert rest("GET", "/executions?status=sleeping").status_code == 400
    assert rest("GET", "/executions?group_id=nope").json() == {"executions": []}

    path = f"/executions/{destroy['id']}"
    assert rest("POST", path, json={"action": "pause"}).status_code == 400
    assert rest("POST", path, json={}).status_code == 400
    assert rest("POST", "/executions/nope", json={"action": "cancel"}).status_code == 404
    refused = rest("POST", path, json={"action": "resume"})      # it terminated: nothing to do
    assert refused.status_code == 409 and "needs one of" in refused.json()["message"]
    unchanged = rest("POST", path, json={"action": "cancel"})     # already ended: a no-op
    assert unchanged.status_code == 200 and unchanged.json()["status"] == "terminated"


def test_resume_over_rest_continues_a_failed_build(rest: Any, occo: Occo, tmp_path: Any) -> None:
    tenant_type(rest)
    rest("PUT", "/node-definitions/flaky",
         json=[{"resource": {"type": "dummy", "fail_rate": 1.0}}])
    description = tmp_path / "partial.yaml"
    description.write_text(
        "infra_name: partial\nnodes:\n"
        "  - &A {name: a, type: tenant, scaling: {min: 2, max: 2}}\n"
        "  - &B {name: b, type: flaky}\n"
        "dependencies:\n  - [*B, *A]\n")
    ids: list[str] = []
    try:
        occo.build(description, parallelize=True, rollback=False, on_infra_id=ids.append)
    except Exception as exc:
        assert "failed" in str(exc)
    (infra_id,) = ids
    (failed,) = rest("GET", f"/executions?infra_id={infra_id}&status=failed").json()["executions"]
    kept = set(rest("GET", f"/infrastructures/{infra_id}").json()["a"]["instances"])
    assert len(kept) == 2

    rest("PUT", "/node-definitions/flaky", json=[{"resource": {"type": "dummy"}}])  # fixed
    answer = rest("POST", f"/executions/{failed['id']}", json={"action": "resume"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] in ("queued", "started") and answer.json()["attempt"] == 2

    wait_until(lambda: rest("GET", f"/executions/{failed['id']}").json()["status"] == "terminated")
    report = rest("GET", f"/infrastructures/{infra_id}").json()
    assert set(report["a"]["instances"]) == kept                      # not redone
    (b,) = report["b"]["instances"].values()
    assert b["state"] == "ready"
    assert rest("GET", f"/executions?infra_id={infra_id}").json()["executions"][0]["id"] == \
        failed["id"]                                                  # the same execution
