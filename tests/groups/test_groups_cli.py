"""Issue 5's "done when", through occopus-groups and occopus-executions.

The group runs in a real ``occopus-groups run`` process (it is what dispatches
and what exits 1 for a failed group); every other command runs in-process, so
pausing takes milliseconds, not an interpreter start-up.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from occo.api import Occo
from occo.config import Config
from occo.model.states import ExecutionStatus as S
from occo.store.records import ExecutionRecord
from tests.groups.conftest import defs, max_overlap
from tests.support.cli import Cli, write
from tests.support.wait import wait_until

INFRA = "infra_name: tenant\nnodes:\n  - {name: worker, type: sim, scaling: {min: 1, max: 5}}\n"


def test_group_of_twenty_paused_resumed_and_failed_member(cli: Cli, tmp_path: Path) -> None:
    with Occo(Config(home=cli.home)) as occo:
        # Instances keep the implementation they were built with: each scale-up
        # in the group below takes about 0.25 s.
        occo.import_node_definitions(write(tmp_path / "d.yaml", defs(create=0.25)))
        infra = write(tmp_path / "i.yaml", INFRA)
        with ThreadPoolExecutor(5) as builders:    # the builds wait out their creates together
            ids = list(builders.map(lambda _: occo.build(infra).infra_id, range(20)))
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

    with Occo(Config(home=cli.home)) as occo:
        def members() -> list[ExecutionRecord]:
            return occo.store.executions.for_group(group_id)

        wait_until(lambda: S.STARTED in [e.status for e in members()] or runner.poll() is not None,
                   what="the group's first executions to start")
        cli.run("occopus-groups", "set", group_id, "--concurrency", "0")   # pause
        wait_until(lambda: S.STARTED not in [e.status for e in members()],
                   what="the executions in flight to end")
        paused_at = time.time()
        paused = [e.status for e in members()]
        assert S.QUEUED in paused, paused                 # work left, nothing running
        shown = json.loads(cli.run("occopus-groups", "show", group_id).stdout)
        assert shown["status"] == "started" and shown["concurrency"] == 0
        assert [e.status for e in members()] == paused
        resumed_at = time.time()
        cli.run("occopus-groups", "set", group_id, "--concurrency", "3")   # resume
        _, stderr = cli.finish(runner, timeout=60)
        ran = members()
    assert runner.returncode == 1, stderr             # the group ended failed
    assert f"execution group {group_id}: failed" in stderr
    assert not [e.id for e in ran if e.started_at and paused_at <= e.started_at <= resumed_at]
    assert max_overlap(ran) == 3
    shown = json.loads(cli.run("occopus-groups", "show", group_id).stdout)
    assert shown["status"] == "failed" and len(shown["execution_ids"]) == 20
    assert cli.run("occopus-groups", "infra", "show", "broken").stdout.split() == [bad]
    assert sorted(cli.run("occopus-groups", "infra", "show", "ok").stdout.split()) == \
        sorted(set(ids) - {bad})
    report = json.loads(cli.run("occopus-groups", "show", group_id, "--report").stdout)
    by_infra = {m["infra_id"]: m for m in report["executions"]}
    assert set(by_infra) == set(ids)
    assert by_infra[bad]["status"] == "failed" and "ghost" in by_infra[bad]["error"]
    assert all(m["status"] == "terminated" for i, m in by_infra.items() if i != bad)
    assert all(m["links"]["infrastructure"].endswith(i) for i, m in by_infra.items())
