"""Execution groups over many infrastructures: concurrency, pause, cancel,
target groups, first-failure reports and resume."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from occo.api import Occo
from occo.cli.groups import main as groups_cli
from occo.errors import NotFound, UserInputError
from occo.model.states import ExecutionStatus as S
from occo.model.states import InstanceState
from tests.groups.conftest import defs, max_overlap
from tests.support.wait import wait_until

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
INFRA = "infra_name: tenant\nnodes:\n  - {name: worker, type: sim, scaling: {min: 1, max: 5}}\n"


def _tenants(occo: Occo, make_file, count: int, group: str = "tenants",
             create: float = 0.0) -> list[str]:
    # Instances keep the implementation they were built with, scale-ups included.
    occo.import_node_definitions(make_file(defs(create=create)))
    ids = [occo.build(make_file(INFRA)).infra_id for _ in range(count)]
    occo.create_infra_group(group)
    occo.add_to_infra_group(group, ids)
    return ids


def _run_in_background(occo: Occo, group_id: str) -> tuple[threading.Thread, list[str]]:
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(occo.run_execution_group(group_id)))
    thread.start()
    return thread, result


def _statuses(occo: Occo, group_id: str) -> list[S]:
    return [e.status for e in occo.store.executions.for_group(group_id)]


def test_twenty_infrastructures_never_more_than_three_at_once(occo: Occo, make_file) -> None:
    ids = _tenants(occo, make_file, 20, create=0.05)
    group = occo.start_execution_group("tenants", "scale",
                                       default_parameters={"node": "worker", "change": 1},
                                       concurrency=3)
    assert group["status"] == "pending" and len(group["execution_ids"]) == 20
    assert occo.run_execution_group(group["id"]) == "terminated"
    assert max_overlap(occo.store.executions.for_group(group["id"])) == 3
    assert all(len(occo.report(i)["worker"]["instances"]) == 2 for i in ids)


def test_concurrency_zero_pauses_and_raising_it_resumes(occo: Occo, make_file) -> None:
    _tenants(occo, make_file, 4)
    group = occo.start_execution_group("tenants", "maintain", concurrency=0)
    thread, result = _run_in_background(occo, group["id"])
    # The dispatcher holds the group's lease from before its first look at the group.
    wait_until(lambda: occo.store.leases.holder(f"group:{group['id']}"),
               what="the dispatcher to run")
    assert set(_statuses(occo, group["id"])) == {S.QUEUED}
    assert occo.execution_group(group["id"])["status"] == "pending"
    resumed_at = time.time()
    occo.update_execution_group(group["id"], concurrency=2)
    thread.join(timeout=30)
    assert result == ["terminated"]
    executions = occo.store.executions.for_group(group["id"])
    assert {e.status for e in executions} == {S.TERMINATED}
    assert all(e.started_at and e.started_at >= resumed_at for e in executions)


def test_cancel_marks_queued_executions_cancelled_at_once(occo: Occo, make_file) -> None:
    _tenants(occo, make_file, 5)
    group = occo.start_execution_group("tenants", "maintain", concurrency=0)
    assert occo.execution_group_action(group["id"], "cancel") == 5
    assert set(_statuses(occo, group["id"])) == {S.CANCELLED}
    assert occo.run_execution_group(group["id"]) == "terminated"  # ended, none failed


def test_target_groups_and_report_at_first_failure(occo: Occo, make_file, tmp_path: Path) -> None:
    ids = _tenants(occo, make_file, 6, create=0.3)
    occo.create_infra_group("ok")
    occo.create_infra_group("broken")
    with pytest.raises(NotFound):
        occo.start_execution_group("tenants", "scale", failure_group_id="no-such-group")
    bad = ids[0]
    group = occo.start_execution_group(
        "tenants", "scale", default_parameters={"node": "worker", "change": 1},
        parameters={bad: {"node": "ghost"}}, concurrency=2)
    occo.update_execution_group(group["id"], success_group_id="ok", failure_group_id="broken")
    assert occo.run_execution_group(group["id"], base_url="http://occo.test") == "failed"

    assert occo.store.infra_groups.get("broken").infra_ids == (bad,)
    assert set(occo.store.infra_groups.get("ok").infra_ids) == set(ids[1:])
    record = occo.store.execution_groups.get(group["id"])
    first = record.failure_report
    assert first is not None and first["kind"] == "first_failure"
    statuses = {m["infra_id"]: m["status"] for m in first["executions"]}
    assert statuses[bad] == "failed"
    assert any(s in ("started", "queued") for s in statuses.values())  # others still going
    final = record.report
    assert final is not None and final["status"] == "failed"
    assert {m["infra_id"] for m in final["executions"]} == set(ids)
    failed = next(m for m in final["executions"] if m["infra_id"] == bad)
    assert "ghost" in failed["error"]
    assert failed["links"]["infrastructure"] == f"http://occo.test/infrastructures/{bad}"
    # Both reports also went out as structured JSON lines.
    lines = [json.loads(line) for line in
             (occo.config.home / "reports.log").read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert "execution_group_first_failure" in events and "execution_group_report" in events
    assert all("@timestamp" in line for line in lines)


def test_cancelled_member_joins_no_target_group(occo: Occo, make_file) -> None:
    _tenants(occo, make_file, 2)
    occo.create_infra_group("ok")
    group = occo.start_execution_group("tenants", "maintain", concurrency=0,
                                       success_group_id="ok")
    first = occo.store.executions.for_group(group["id"])[0]
    occo.execution_action(first.id, "cancel")
    occo.update_execution_group(group["id"], concurrency=5)
    occo.run_execution_group(group["id"])
    assert occo.store.infra_groups.get("ok").infra_ids == (
        occo.store.executions.for_group(group["id"])[1].infra_id,)


def test_members_by_label(occo: Occo, make_file) -> None:
    occo.import_node_definitions(make_file(defs()))
    ids = [occo.build(make_file(INFRA)).infra_id for _ in range(3)]
    occo.label_infrastructure(ids[0], {"release": "blue"})
    occo.label_infrastructure(ids[2], {"release": "blue"})
    occo.create_infra_group("blue")
    assert sorted(occo.add_to_infra_group("blue", label="release=blue")) == sorted(
        [ids[0], ids[2]])
    with pytest.raises(UserInputError):
        occo.add_to_infra_group("blue", label="no-equals-sign")
    with pytest.raises(UserInputError):
        occo.start_execution_group("blue", "explode")


def test_resume_continues_without_redoing_finished_tasks(occo: Occo, make_file) -> None:
    occo.import_node_definitions(make_file(defs()))
    occo.import_node_definitions(make_file(defs(fail=1.0, name="flaky")))
    description = make_file("""
infra_name: partial
nodes:
  - &A {name: a, type: sim, scaling: {min: 2, max: 2}}
  - &B {name: b, type: flaky}
dependencies:
  - [*B, *A]
""")
    ids: list[str] = []
    with pytest.raises(Exception, match="failed"):
        occo.build(description, parallelize=True, rollback=False, on_infra_id=ids.append)
    infra_id = ids[0]
    failed = occo.executions(infra_id)[0]
    assert failed.status == S.FAILED
    kept = {i.id for i in occo.store.instances.for_infra(infra_id)
            if i.state == InstanceState.READY}
    assert len(kept) == 2                       # a's instances survived the failure

    occo.import_node_definitions(make_file(defs(name="flaky")))   # the cause is fixed
    assert occo.execution_action(failed.id, "resume")
    resumed = occo.run_execution(failed.id)
    assert resumed.status == S.TERMINATED and resumed.attempt == 2
    live = occo.store.instances.for_infra(infra_id)
    assert {i.id for i in live if i.node_name == "a"} == kept   # not redone
    assert [i.node_name for i in live if i.node_name == "b"] == ["b"]
    assert all(i.state == InstanceState.READY for i in live)
    with pytest.raises(Exception, match="needs one of"):
        occo.execution_action(failed.id, "resume")


def test_cancel_of_a_started_build_rolls_back_its_new_work(occo: Occo, make_file) -> None:
    occo.import_node_definitions(make_file(defs()))
    occo.import_node_definitions(make_file(defs(fail=1.0, name="flaky")))
    description = make_file("""
infra_name: cancelled
nodes:
  - &A {name: a, type: sim}
  - &B {name: b, type: flaky, scaling: {min: 3, max: 3}}
dependencies:
  - [*B, *A]
""")
    ids: list[str] = []
    with pytest.raises(Exception, match="failed"):
        occo.build(description, rollback=False, on_infra_id=ids.append)
    failed = occo.executions(ids[0])[0]
    kept = {i.id for i in occo.store.instances.for_infra(ids[0])
            if i.state == InstanceState.READY}
    occo.import_node_definitions(make_file(defs(create=0.5, name="flaky")))   # slow, fine
    occo.execution_action(failed.id, "resume")
    runner = threading.Thread(target=occo.run_execution, args=(failed.id,))
    runner.start()
    wait_until(lambda: any(i.node_name == "b" and i.resource_id
                           for i in occo.store.instances.for_infra(ids[0])),
               what="a resumed 'b' to be created")
    occo.execution_action(failed.id, "cancel")        # started: asks it to stop
    runner.join(timeout=30)
    record = occo.execution(failed.id)
    assert record.status == S.CANCELLED and record.parameters["rollback"] is False
    live = occo.store.instances.for_infra(ids[0])
    assert {i.id for i in live if i.state == InstanceState.READY} >= kept
    # It stopped starting new work, and (rollback off) kept only what became ready:
    # nothing pending or half-created is left behind.
    b = [i for i in live if i.node_name == "b"]
    assert len(b) < 3 and all(i.state == InstanceState.READY for i in b)
    assert occo.store.dummy.count() == len(kept) + len(b)


def test_a_build_started_anywhere_can_be_cancelled_through_its_execution(
        occo: Occo, make_file) -> None:
    """E.g. a CLI build cancelled from the REST service: it rolls back, ends cancelled."""
    occo.import_node_definitions(make_file(defs(create=0.3, name="slow")))
    description = make_file("infra_name: c\nnodes:\n  - {name: n, type: slow, "
                            "scaling: {min: 6, max: 6}}\n")
    ids: list[str] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            occo.build(description, on_infra_id=ids.append)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    wait_until(lambda: ids and occo.store.dummy.count(), what="a first resource")
    execution = occo.executions(ids[0])[0]
    assert execution.status == S.STARTED
    occo.execution_action(execution.id, "cancel")
    thread.join(timeout=30)
    assert errors and "interrupted" in str(errors[0])
    assert occo.execution(execution.id).status == S.CANCELLED
    assert occo.store.dummy.count() == 0 and occo.list_infrastructures() == []


def test_failed_scale_pass_fails_its_member_and_the_group(occo: Occo, make_file) -> None:
    occo.import_node_definitions(make_file(defs()))
    infra_id = occo.build(make_file(INFRA)).infra_id
    # The node definition breaks; an update stores it for the instances created next.
    occo.import_node_definitions(make_file(defs(fail=1)))
    occo.build(make_file(INFRA), infra_id=infra_id)
    for name in ("one", "ok", "broken"):
        occo.create_infra_group(name)
    occo.add_to_infra_group("one", [infra_id])

    previous = signal.getsignal(signal.SIGINT)
    result = CliRunner().invoke(groups_cli, [
        "start", "one", "scale", "--param", "node=worker", "--param", "change=1",
        "--success-group", "ok", "--failure-group", "broken"],
        env={"OCCOPUS_HOME": str(occo.config.home)})
    # the command's own Ctrl+C handler is gone again: an in-process caller keeps its own
    assert signal.getsignal(signal.SIGINT) is previous
    assert result.exit_code == 1, result.output
    group_id = result.stdout.splitlines()[0]
    assert f"execution group {group_id}: failed" in result.stderr

    member = occo.group_executions(group_id)[0]
    assert member.status == S.FAILED and "simulated failure" in (member.error or "")
    assert occo.infra_group("broken").infra_ids == (infra_id,)
    assert occo.infra_group("ok").infra_ids == ()
    final = occo.execution_group_record(group_id).report
    assert final is not None and final["status"] == "failed"
    entry = final["executions"][0]
    assert entry["report"]["execution_id"] == member.id      # the member's own report
    assert entry["report"]["status"] == "failed"
    for when in (final["written_at"], entry["created_at"], entry["started_at"],
                 entry["ended_at"], entry["report"]["started_at"]):
        assert ISO_UTC.fullmatch(when), when


def test_destroy_ends_the_executions_of_what_it_removes(occo: Occo, make_file) -> None:
    ids = _tenants(occo, make_file, 2)
    group = occo.start_execution_group("tenants", "maintain", concurrency=0)  # stays queued
    occo.destroy(ids[0])
    by_infra = {e.infra_id: e for e in occo.group_executions(group["id"])}
    gone = by_infra[ids[0]]
    assert gone.status == S.CANCELLED and "infrastructure destroyed" in (gone.error or "")
    assert by_infra[ids[1]].status == S.QUEUED
