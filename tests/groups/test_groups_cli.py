"""Issue 5's "done when", through occopus-groups and occopus-executions."""

from __future__ import annotations

import json
import time
from pathlib import Path

from occo.api import Occo
from occo.config import Config
from occo.model.states import ExecutionStatus as S
from tests.groups.conftest import defs
from tests.support.cli import Cli, write

INFRA = "infra_name: tenant\nnodes:\n  - {name: worker, type: sim, scaling: {min: 1, max: 5}}\n"


def test_group_of_twenty_paused_resumed_and_failed_member(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cli = Cli(home)
    with Occo(Config(home=home)) as occo:
        # Instances keep the implementation they were built with: each scale-up
        # in the group below takes about 0.25 s.
        occo.import_node_definitions(write(tmp_path / "d.yaml", defs(create=0.25)))
        ids = [occo.build(write(tmp_path / "i.yaml", INFRA)).infra_id for _ in range(20)]
    cli.run("occopus-groups", "infra", "create", "tenants")
    cli.run("occopus-groups", "infra", "add", "tenants", *[a for i in ids for a in ("-i", i)])
    for name in ("ok", "broken"):
        cli.run("occopus-groups", "infra", "create", name)
    bad = ids[7]
    group_id = cli.run("occopus-groups", "start", "tenants", "scale", "--detach",
                       "--concurrency", "3", "--param", "node=worker", "--param", "change=1",
                       "--infra-param", f"{bad}:node=ghost", "--success-group", "ok",
                       "--failure-group", "broken").stdout.strip()
    runner = cli.popen("occopus-groups", "run", group_id)

    with Occo(Config(home=home)) as occo:
        peak = 0
        while not any(e.status.is_terminal for e in occo.store.executions.for_group(group_id)):
            time.sleep(0.02)
        # Pause at once, in-process: a console script starting up under load can take
        # longer than the rest of the group (the console script resumes it below).
        occo.update_execution_group(group_id, concurrency=0)
        deadline = time.monotonic() + 20
        while S.STARTED in [e.status for e in occo.store.executions.for_group(group_id)]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        paused = [e.status for e in occo.store.executions.for_group(group_id)]
        assert S.QUEUED in paused                    # work left, nothing running
        time.sleep(0.5)
        assert [e.status for e in occo.store.executions.for_group(group_id)] == paused
        cli.run("occopus-groups", "set", group_id, "--concurrency", "3")   # resume
        while runner.poll() is None:
            members = occo.store.executions.for_group(group_id)
            peak = max(peak, sum(e.status == S.STARTED for e in members))
            time.sleep(0.02)
    _, stderr = runner.communicate(timeout=30)
    assert runner.returncode == 1, stderr            # the group ended failed
    assert f"execution group {group_id}: failed" in stderr
    assert peak <= 3
    shown = json.loads(cli.run("occopus-groups", "show", group_id).stdout)
    assert shown["status"] == "failed" and len(shown["execution_ids"]) == 20
    assert cli.run("occopus-groups", "infra", "show", "broken").stdout.split() == [bad]
    assert sorted(cli.run("occopus-groups", "infra", "show", "ok").stdout.split()) == \
        sorted(set(ids) - {bad})
    report = json.loads(cli.run("occopus-groups", "show", group_id, "--report").stdout)
    members = {m["infra_id"]: m for m in report["executions"]}
    assert set(members) == set(ids)
    assert members[bad]["status"] == "failed" and "ghost" in members[bad]["error"]
    assert all(m["status"] == "terminated" for i, m in members.items() if i != bad)
    assert all(m["links"]["infrastructure"].endswith(i) for i, m in members.items())
