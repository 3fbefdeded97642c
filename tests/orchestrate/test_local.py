"""Orchestration files against three running local workers in their own network namespaces."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from occo.cli.executions import main as executions
from occo.cli.orchestrate import main as orchestrate
from occo.resources import procinfo
from tests.orchestrate.conftest import Running
from tests.support.wait import wait_until

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
SITE_JOBS = 7           # jobs of data/site.yaml


def tasks_of(stdout: str) -> tuple[str, list[dict[str, str]]]:
    """The execution id and the task lines occopus-orchestrate printed."""
    lines = stdout.splitlines()
    kind, execution_id = lines[0].split("\t")
    assert kind == "execution"
    keys = ("task_id", "status", "job_id", "node", "instance_id", "job")
    return execution_id, [dict(zip(keys, line.split("\t", 5), strict=True)) for line in lines[1:]]


def runs(w: Running, instance_id: str, name: str = "runs.log") -> int:
    path = w.instance_dir(instance_id) / "site" / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_orchestration_runs_once_per_job_and_instance_then_caches(workers: Running) -> None:
    w = workers
    first = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(DATA / "site.yaml"))
    assert first.exit_code == 0, first.stderr
    execution_id, tasks = tasks_of(first.stdout)
    assert len(tasks) == SITE_JOBS * 3
    assert len({t["task_id"] for t in tasks}) == len(tasks)
    assert all(str(uuid.UUID(t["task_id"])) == t["task_id"] for t in tasks)
    assert {t["status"] for t in tasks} == {"queued"}
    assert {(t["job_id"], t["instance_id"]) for t in tasks} == \
        {(j, i) for j in {t["job_id"] for t in tasks} for i in w.instances}

    addresses = {i.id: i.address for i in w.occo.store.instances.for_infra(w.infra_id)}
    for instance_id in w.instances:
        site = w.instance_dir(instance_id) / "site"
        assert (site / "greeting.txt").read_text() == f"hello from worker {instance_id}\n"
        assert (site / "seen.conf").read_text() == (DATA / "files/app.conf").read_text()
        assert oct((site / "conf/app.conf").stat().st_mode & 0o777) == "0o640"
        # the instance's own environment, and its own network namespace
        assert (site / "env.txt").read_text().strip() == instance_id
        assert (site / "addresses.txt").read_text().split() == [addresses[instance_id]]
        assert runs(w, instance_id) == 1

    # occopus-executions show polls the execution: every task, with exit code and timings
    shown = w.cli(executions, "show", execution_id)
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["workflow"] == "orchestrate" and data["status"] == "terminated"
    assert [t["id"] for t in data["job_tasks"]] == [t["task_id"] for t in tasks]
    for t in data["job_tasks"]:
        assert t["status"] == "succeeded" and t["ended_at"] >= t["started_at"] > 0
        assert t["exit_code"] == 0 or t["job"].startswith(("WORKDIR", "ENV", "ADD"))
    report = json.loads(w.cli(executions, "show", "--report", execution_id).stdout)
    assert report["counts"] == {"succeeded": SITE_JOBS * 3} and report["failed"] == []

    # a second run reruns nothing
    second = w.cli(orchestrate, "-i", w.infra_id, str(DATA / "site.yaml"))
    assert second.exit_code == 0, second.stderr
    _, again = tasks_of(second.stdout)
    assert {t["status"] for t in again} == {"skipped"} and len(again) == SITE_JOBS * 3
    assert [runs(w, i) for i in w.instances] == [1, 1, 1]

    # --ignore-cache reruns everything
    forced = w.cli(orchestrate, "-i", w.infra_id, "--ignore-cache", str(DATA / "site.yaml"))
    assert forced.exit_code == 0, forced.stderr
    assert {t["status"] for t in tasks_of(forced.stdout)[1]} == {"queued"}
    assert [runs(w, i) for i in w.instances] == [2, 2, 2]

    # --restrict reruns only the job named, on every instance
    counter = next(t["job_id"] for t in tasks if t["job"] == "RUN echo run >> runs.log")
    greeting = w.instance_dir(w.instances[0]) / "site" / "greeting.txt"
    greeting.write_text("changed by hand\n")
    replay = w.cli(orchestrate, "-i", w.infra_id, "--restrict", counter, str(DATA / "site.yaml"))
    assert replay.exit_code == 0, replay.stderr
    _, replayed = tasks_of(replay.stdout)
    assert {(t["job_id"], t["status"]) for t in replayed} == {(counter, "queued")}
    assert len(replayed) == 3
    assert [runs(w, i) for i in w.instances] == [3, 3, 3]
    assert greeting.read_text() == "changed by hand\n"


def test_a_failed_job_stops_its_instance_only_and_can_be_replayed(workers: Running) -> None:
    w = workers
    fragile = str(DATA / "fragile.yaml")
    broken, *healthy = w.instances
    site = w.instance_dir(broken) / "site"
    site.mkdir(parents=True)
    (site / "broken").write_text("")

    failed = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", fragile)
    assert failed.exit_code == 1
    execution_id, tasks = tasks_of(failed.stdout)
    check = next(t for t in tasks if t["job"] == "RUN test ! -e broken"
                 and t["instance_id"] == broken)
    for instance_id in healthy:
        assert runs(w, instance_id, "after.log") == 1
    assert runs(w, broken, "after.log") == 0
    assert f"job {check['job_id']}" in failed.stderr and check["task_id"] in failed.stderr

    record = w.occo.execution(execution_id)
    assert record.status == "failed"
    assert record.error is not None and broken in record.error
    (failure,) = record.report["failed"]
    assert (failure["task_id"], failure["instance_id"], failure["exit_code"]) == \
        (check["task_id"], broken, 1)
    statuses = {(t.instance_id, t.job): t.status for t in w.occo.job_tasks(execution_id)}
    assert statuses[(broken, "RUN echo after >> after.log")] == "cancelled"
    assert [statuses[(i, "RUN echo after >> after.log")] for i in healthy] == \
        ["succeeded", "succeeded"]

    # fixed by hand, the failed task is replayed alone, by its task id
    (site / "broken").unlink()
    replay = w.cli(orchestrate, "-i", w.infra_id, "--restrict", check["task_id"], fragile)
    assert replay.exit_code == 0, replay.stderr
    _, replayed = tasks_of(replay.stdout)
    assert [(t["job_id"], t["instance_id"]) for t in replayed] == [(check["job_id"], broken)]

    # the whole file again: only what never ran on the fixed instance runs now
    rest = w.cli(orchestrate, "-i", w.infra_id, fragile)
    assert rest.exit_code == 0, rest.stderr
    queued = [(t["job"], t["instance_id"]) for t in tasks_of(rest.stdout)[1]
              if t["status"] == "queued"]
    assert queued == [("RUN echo after >> after.log", broken)]
    assert [runs(w, i, "after.log") for i in (broken, *healthy)] == [1, 1, 1]


def test_the_day2_page_example_is_the_shipped_file_and_runs(workers: Running) -> None:
    w = workers
    example = ROOT / "examples" / "day2" / "worker_config.yaml"
    page = (ROOT / "docs" / "day2.rst").read_text()
    jobs = "\n".join(line for line in example.read_text().splitlines()
                     if line and not line.startswith("#"))
    assert textwrap.indent(jobs, "    ") in page, "docs/day2.rst shows another file"
    result = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(example))
    assert result.exit_code == 0, result.stderr
    for instance_id in w.instances:
        directory = w.instance_dir(instance_id)
        assert (directory / "conf" / "fetch.conf").read_text() == \
            (example.parent / "files" / "fetch.conf").read_text()
        assert (directory / "configured.log").read_text() == \
            f"worker {instance_id[:8]} took fetch.conf\n"


def test_a_job_that_starts_a_daemon_ends_with_its_own_process(workers: Running,
                                                               tmp_path: Path) -> None:
    """The daemon keeps the job's stdout open; the task must not wait for it to exit."""
    w = workers
    jobs = tmp_path / "daemon.yaml"
    jobs.write_text("- jobs:\n    - RUN: sleep 30 & echo $! > daemon.pid; echo started\n")
    try:
        result = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(jobs))
        assert result.exit_code == 0, result.stderr
        daemons = [int((w.instance_dir(i) / "daemon.pid").read_text()) for i in w.instances]
        running = [(stat := procinfo.read_stat(pid)) is not None and not stat.is_zombie
                   for pid in daemons]
        assert running == [True] * 3, "the orchestration waited for the daemons to end"
        execution_id, _ = tasks_of(result.stdout)
        assert {(t.status, t.output) for t in w.occo.job_tasks(execution_id)} == \
            {("succeeded", "started\n")}
    finally:
        for instance_id in w.instances:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                os.kill(int((w.instance_dir(instance_id) / "daemon.pid").read_text()),
                        signal.SIGKILL)


@pytest.mark.parametrize("fixture", ["workers", "plain_workers"])
def test_a_daemon_a_job_started_logs_with_its_instance_and_ends_with_it(
        fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Its output goes to the instance's jobs/orchestrate.log, not to a hidden file that
    grows unseen; the next job starts that log afresh once it is over 1 MiB; destroying
    the instance stops the daemon, also one that left the job's session, with or without
    a network namespace around the instance."""
    w: Running = request.getfixturevalue(fixture)
    first = w.instances[0]
    directory = w.instance_dir(first)
    log = directory / "jobs" / "orchestrate.log"
    loud = tmp_path / "loud.yaml"
    loud.write_text(f"- targets: [{first}]\n  jobs:\n"
                    "    - RUN: (while :; do echo tick; sleep 0.05; done) & echo $! > ticker.pid\n"
                    "    - RUN: setsid sleep 100000 & echo $! > detached.pid\n"
                    "    - RUN: yes big | head -c 1100000\n")
    daemons: list[procinfo.ProcStat] = []

    def still_running() -> list[procinfo.ProcStat]:
        """The daemons, not processes that reuse their PIDs later."""
        return [d for d in daemons if (now := procinfo.read_stat(d.pid)) is not None
                and now.start_time == d.start_time and not now.is_zombie]

    try:
        result = w.cli(orchestrate, "-i", w.infra_id, str(loud))
        assert result.exit_code == 0, result.stderr
        pids = [int((directory / name).read_text()) for name in ("ticker.pid", "detached.pid")]
        daemons = [stat for pid in pids if (stat := procinfo.read_stat(pid)) is not None]
        assert len(daemons) == 2, "a daemon did not start"
        assert log.stat().st_size > 1_100_000
        wait_until(lambda: log.read_bytes().endswith(b"tick\n"), what="the daemon's output")

        quiet = tmp_path / "quiet.yaml"
        quiet.write_text(f"- targets: [{first}]\n  jobs:\n    - RUN: echo second\n")
        result = w.cli(orchestrate, "-i", w.infra_id, str(quiet))
        assert result.exit_code == 0, result.stderr
        wait_until(lambda: b"tick" in log.read_bytes().partition(b"second\n")[2],
                   what="the daemon writing after the second job")
        content = log.read_bytes()
        assert b"big" not in content and len(content) < 100_000, "the log was not started afresh"
        assert b"\0" not in content, "the daemon wrote past the end of the restarted log"

        w.occo.destroy(w.infra_id)
        assert still_running() == [], "a daemon a job started outlived its instance"
        assert not directory.exists()
    finally:
        for daemon in still_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.pid, signal.SIGKILL)


def test_a_running_orchestration_cancelled_from_anywhere_ends_cancelled(
        workers: Running, tmp_path: Path) -> None:
    """Run as the REST service and triggers run it; cancelled through the store while its
    first job runs: the next job never starts and the execution ends cancelled."""
    w = workers
    first = w.instances[0]
    os.mkfifo(w.instance_dir(first) / "gate")
    jobs = tmp_path / "gated.yaml"
    jobs.write_text(f"- targets: [{first}]\n  jobs:\n"
                    "    - RUN: touch started && cat gate\n    - RUN: touch after\n")
    execution_id, _ = w.occo.submit_orchestration(w.infra_id, jobs)
    runner = threading.Thread(target=w.occo.run_execution, args=(execution_id,))
    runner.start()
    try:
        wait_until(lambda: (w.instance_dir(first) / "started").exists(),
                   what="the first job to start")
        assert w.occo.execution_action(execution_id, "cancel") is False   # asked to stop
    finally:
        if (w.instance_dir(first) / "started").exists():
            with open(w.instance_dir(first) / "gate", "w") as gate:
                gate.write("go\n")
        runner.join(timeout=60)
    record = w.occo.execution(execution_id)
    assert record.status == "cancelled" and "cancelled" in str(record.error)
    assert [t.status for t in w.occo.job_tasks(execution_id)] == ["succeeded", "cancelled"]
    assert not (w.instance_dir(first) / "after").exists()
