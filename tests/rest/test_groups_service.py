"""Execution groups across service stops and restarts, and between two services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from occo.api import Occo
from occo.config import Config
from tests.rest.test_groups import (
    final_report,
    infra_group,
    max_overlap,
    members_with,
    tenant_type,
    tenants,
)
from tests.support.wait import wait_until


def _start_group(rest: Any, count: int, concurrency: int) -> str:
    tenant_type(rest, create=0.3, boot=0.1)
    ids = tenants(rest, count)
    infra_group(rest, "tenants", ids)
    answer = rest("POST", "/execution-groups", json={
        "infra_group_id": "tenants", "workflow_id": "scale", "concurrency": concurrency,
        "default_parameters": {"node": "worker", "change": 1}})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_stop_lets_executions_in_flight_end_and_a_restart_dispatches_the_rest(
        occo: Occo, start_service: Callable[..., Any]) -> None:
    first = start_service(occo)
    gid = _start_group(first, 4, concurrency=1)
    wait_until(lambda: members_with(first, gid, "started"))
    first.stop()                                     # what SIGTERM does

    statuses = [str(e.status) for e in occo.store.executions.for_group(gid)]
    assert "started" not in statuses and "cancelled" not in statuses
    assert 1 <= statuses.count("terminated") < 4     # the one in flight ended normally
    assert statuses.count("queued") >= 1             # the rest wait for the next service
    assert occo.store.execution_groups.get(gid).report is None     # not final: not over

    second = start_service(occo)
    report = final_report(second, gid)
    assert report["status"] == "terminated" and report["counts"] == {"terminated": 4}
    for member in report["executions"]:               # links name the service now running
        assert member["links"]["execution"].startswith(second.url + "/")
        assert second.http.get(member["links"]["execution"], timeout=30).status_code == 200
    runs = members_with(second, gid, "terminated")
    assert max_overlap(runs) == 1


def test_two_services_never_both_dispatch_one_group(
        occo: Occo, tmp_path: Path, start_service: Callable[..., Any]) -> None:
    first = start_service(occo)
    gid = _start_group(first, 4, concurrency=1)
    with Occo(Config(home=occo.config.home, concurrency=20)) as other:
        second = start_service(other)        # finds the unfinished group at start
        report = final_report(second, gid)
        assert report["status"] == "terminated"
        assert max_overlap(members_with(second, gid, "terminated")) == 1
        second.stop()


def test_stop_without_grace_cancels_a_resumed_build(
        occo: Occo, tmp_path: Path, start_service: Callable[..., Any]) -> None:
    rest = start_service(occo, grace=0.0)
    rest("PUT", "/node-definitions/flaky", json=[{"resource": {"type": "dummy",
                                                               "fail_rate": 1.0}}])
    description = tmp_path / "partial.yaml"
    description.write_text(
        "infra_name: partial\nnodes:\n  - &A {name: a, type: fast}\n"
        "  - &B {name: b, type: flaky}\ndependencies:\n  - [*B, *A]\n")
    ids: list[str] = []
    try:
        occo.build(description, rollback=False, on_infra_id=ids.append)
    except Exception as exc:
        assert "failed" in str(exc)
    (failed,) = occo.executions(ids[0], status="failed")
    rest("PUT", "/node-definitions/flaky", json=[{"resource": {"type": "dummy",
                                                               "create_delay": 1.5}}])
    answer = rest("POST", f"/executions/{failed.id}", json={"action": "resume"})
    assert answer.status_code == 200, answer.text
    wait_until(lambda: rest("GET", f"/executions/{failed.id}").json()["status"] == "started")
    rest.stop()                                      # no grace: cancelled, not waited for
    assert str(occo.execution(failed.id).status) == "cancelled"
