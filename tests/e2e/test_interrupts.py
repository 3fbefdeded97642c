"""Ctrl+C rolls a build back; a build killed outright leaves records destroy can finish."""

from __future__ import annotations

import signal
from pathlib import Path

from occo.api import Occo
from occo.config import Config
from tests.e2e.helpers import DATA, Occopus, describe_processes, process_runs, processes_under
from tests.support.cli import write
from tests.support.wait import wait_until


def test_sigint_rolls_back_to_zero_resources(dummy: Occopus) -> None:
    build = dummy.start("occopus-build", "--parallelize", DATA / "slow_chain.yaml")
    # The two 'first' instances take ~1 s to create; interrupt once they exist,
    # while 'second' is being created.
    wait_until(lambda: dummy.dummy_count() >= 2 or build.poll() is not None,
               what="the first two resources")
    assert build.poll() is None, "build ended before it could be interrupted"
    wait_until(lambda: any(i.node_name == "second" and i.state == "creating"
                           for infra in dummy.store.infras.list()
                           for i in dummy.instances(infra.id)))
    build.send_signal(signal.SIGINT)
    stdout, stderr = Occopus.finish(build)
    assert build.returncode == 130, stderr
    assert stdout == ""
    assert "interrupted" in stderr
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}


def kill_slow_build(dummy: Occopus) -> None:
    """Build slow_chain.yaml and kill it (SIGKILL) once its two 'first' resources
    exist, while 'second' and 'third' are mere intents."""
    build = dummy.start("occopus-build", "--parallelize", DATA / "slow_chain.yaml")
    wait_until(lambda: dummy.dummy_count() >= 2 or build.poll() is not None,
               what="the first two resources")
    assert build.poll() is None, "build ended before it could be killed"
    build.kill()
    Occopus.finish(build)


def test_killed_dummy_build_is_cleaned_up_by_destroy(dummy: Occopus) -> None:
    kill_slow_build(dummy)
    listed = dummy.listed()
    assert len(listed) == 1
    infra_id, (name, state) = next(iter(listed.items()))
    assert (name, state) == ("e2e-slow", "building")
    assert dummy.dummy_count() >= 2

    build_run = next(e for e in dummy.store.executions.list(infra_id=infra_id))
    assert build_run.status == "started"

    # The dead build's lease does not make the user wait for it to expire.
    dummy.run("occopus-destroy", "-i", infra_id)
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}
    ended = dummy.store.executions.get(build_run.id)   # not 'started' for ever
    assert ended.status == "failed" and "died" in (ended.error or "")


def test_killed_build_is_marked_failed_by_whoever_takes_over(dummy: Occopus) -> None:
    kill_slow_build(dummy)
    infra_id = next(iter(dummy.listed()))
    build_run = next(e for e in dummy.store.executions.list(infra_id=infra_id))

    # The next command that takes the dead build's lease (here a maintenance
    # pass) tells what happened: no longer 'building' for ever.
    dummy.run("occopus-maintain", "-i", infra_id)
    assert dummy.listed()[infra_id] == ("e2e-slow", "failed")
    ended = dummy.store.executions.get(build_run.id)
    assert ended.status == "failed" and "died" in (ended.error or "")
    events = dummy.run("occopus-maintain", "-r", "-i", infra_id).stdout
    assert f"its build {build_run.id} died; records kept: run occopus-destroy -i " \
        f"{infra_id}" in events
    dummy.run("occopus-destroy", "-i", infra_id)
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}


def test_killed_local_build_is_cleaned_up_by_destroy(local: Occopus) -> None:
    build = local.start("occopus-build", DATA / "local_infra.yaml")

    def web_ready() -> tuple[int, int] | None:
        for infra in local.store.infras.list():
            for inst in local.instances(infra.id):
                if inst.node_name == "web" and inst.state == "ready":
                    return int(inst.resource_data["pid"]), int(inst.resource_data["start_time"])
        return None

    pid, start = wait_until(web_ready, what="web to be ready", interval=0.005)
    build.kill()
    Occopus.finish(build)
    assert process_runs(pid, start), "a local instance must outlive the command that built it"

    infra_id = next(iter(local.listed()))
    local.run("occopus-destroy", "-i", infra_id)
    assert not process_runs(pid, start)
    left = processes_under(local.home)
    assert left == [], describe_processes(left)
    assert local.listed() == {}


def test_force_resumed_killed_build_creates_what_is_missing(dummy: Occopus) -> None:
    kill_slow_build(dummy)
    infra_id = next(iter(dummy.listed()))
    execution_id = next(e.id for e in dummy.store.executions.list(infra_id=infra_id)
                        if e.workflow == "build")

    resumed = dummy.run("occopus-executions", "action", execution_id, "force-resume", "--run")
    assert f"execution {execution_id}: terminated" in resumed.stderr
    report = dummy.report(infra_id)
    assert {name: node["scaling"]["actual"] for name, node in report.items()} == \
        {"first": 2, "second": 1, "third": 1}
    assert all(inst["state"] == "ready" for node in report.values()
               for inst in node["instances"].values())
    assert dummy.store.infras.get(infra_id).state == "ready"
    assert dummy.dummy_count() == 4     # what the dead build created was not leaked


def test_pass_killed_mid_creation_stalls_nothing(dummy: Occopus) -> None:
    infra_id = dummy.build(DATA / "slow_workers.yaml")
    dummy.run("occopus-scale", "-i", infra_id, "-n", "worker", "-c", "2")
    maintain = dummy.start("occopus-maintain", "-i", infra_id)
    wait_until(lambda: any(i.state == "creating" for i in dummy.instances(infra_id))
               or maintain.poll() is not None, what="a worker being created")
    assert maintain.poll() is None, "the pass ended before it could be killed"
    maintain.kill()
    Occopus.finish(maintain)
    dead_pass = next(e for e in dummy.store.executions.list(infra_id=infra_id)
                     if e.workflow == "maintain" and e.status == "started")
    half = {i.id for i in dummy.instances(infra_id) if i.state in ("pending", "creating")}
    assert half

    # The next pass (well within the 600 s create timeout) resolves them at once.
    dummy.run("occopus-maintain", "-i", infra_id)
    live = dummy.instances(infra_id)
    assert not half & {i.id for i in live}
    assert sorted(i.state for i in live) == ["ready"] * 3
    assert dummy.dummy_count() == 3
    ended = dummy.store.executions.get(dead_pass.id)
    assert ended.status == "failed" and "died" in (ended.error or "")
    events = dummy.run("occopus-maintain", "-r", "-i", infra_id).stdout
    assert "its creator died while it was" in events and "instance_created" in events


def test_sigterm_rolls_back_like_ctrl_c_and_exits_143(dummy: Occopus) -> None:
    """What systemd, CI runners and ``timeout`` send: same rollback, its own exit code."""
    build = dummy.start("occopus-build", "--parallelize", DATA / "slow_chain.yaml")
    wait_until(lambda: dummy.dummy_count() >= 1 or build.poll() is not None,
               what="a first resource")
    assert build.poll() is None, "build ended before it could be terminated"
    build.send_signal(signal.SIGTERM)
    stdout, stderr = Occopus.finish(build)
    assert build.returncode == 143, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert "terminated: rolling back" in stderr
    assert dummy.dummy_count() == 0
    assert dummy.listed() == {}


SLOW_DROP = """\
'node_def:slowdrop':
  - resource: {type: dummy, create_delay: 0.01, drop_delay: 0.6}
"""
THREE = "infra_name: three\nnodes:\n  - {name: n, type: slowdrop, scaling: {min: 3}}\n"


def _destroying(occopus: Occopus, infra_id: str) -> bool:
    return any(i.state == "destroying" for i in occopus.instances(infra_id))


def _three_slow_droppers(occopus: Occopus, tmp_path: Path) -> str:
    """Built in-process: the subject is the destroy command."""
    with Occo(Config(home=occopus.home)) as api:
        api.import_node_definitions(write(tmp_path / "slowdrop.yaml", SLOW_DROP))
        return api.build(write(tmp_path / "three.yaml", THREE)).infra_id


def test_sigterm_lets_destroy_finish(occopus: Occopus, tmp_path: Path) -> None:
    infra_id = _three_slow_droppers(occopus, tmp_path)
    destroy = occopus.start("occopus-destroy", "-i", infra_id)
    wait_until(lambda: _destroying(occopus, infra_id) or destroy.poll() is not None,
               what="a drop in flight")
    destroy.send_signal(signal.SIGTERM)
    _, stderr = Occopus.finish(destroy)
    assert destroy.returncode == 0, stderr
    assert "finishing the destroy" in stderr and "destroyed" in stderr
    assert occopus.dummy_count() == 0
    assert occopus.store.infras.list() == []


def test_a_second_sigterm_stops_destroy_and_keeps_the_record(occopus: Occopus,
                                                             tmp_path: Path) -> None:
    infra_id = _three_slow_droppers(occopus, tmp_path)
    destroy = occopus.start("occopus-destroy", "-i", infra_id)
    wait_until(lambda: _destroying(occopus, infra_id) or destroy.poll() is not None,
               what="a drop in flight")
    assert destroy.poll() is None, "destroy ended before it could be terminated"
    assert destroy.stderr is not None
    destroy.send_signal(signal.SIGTERM)
    seen = []
    for line in destroy.stderr:               # the first signal was handled before the next
        seen.append(line)
        if "finishing the destroy" in line:
            break
    destroy.send_signal(signal.SIGTERM)
    _, rest = Occopus.finish(destroy)
    assert destroy.returncode == 143, "".join(seen) + rest
    assert f"run occopus-destroy -i {infra_id} again" in rest
    assert [i.id for i in occopus.store.infras.list()] == [infra_id]   # kept, resumable
    with Occo(Config(home=occopus.home)) as api:
        api.destroy(infra_id)
    assert occopus.dummy_count() == 0
    assert occopus.store.infras.list() == []
