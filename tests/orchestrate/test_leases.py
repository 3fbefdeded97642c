"""Orchestrations take the infrastructure's lease, as builds, destroys and passes do.

Two real processes: while ``occopus-orchestrate`` runs a job (held open on a
FIFO the test writes to), an update and a second orchestration exit 75 and
the REST service answers 409, changing nothing; while ``occopus-build -i``
waits for a new instance to boot, an orchestration exits 75 and records nothing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from occo.cli.build import main as build_cli
from occo.cli.orchestrate import main as orchestrate
from tests.orchestrate.conftest import INFRA, Running
from tests.rest.conftest import start
from tests.support.cli import Cli
from tests.support.wait import wait_until

SLOW_DEFS = "'node_def:slow':\n  - resource: {type: dummy, boot_delay: 600}\n"
SLOW_NODE = "  - {name: slow, type: slow}\n"
LEASE_HELD = 75


def orchestrations(w: Running) -> int:
    return sum(1 for e in w.occo.executions(w.infra_id) if e.workflow == "orchestrate")


def test_an_orchestration_and_a_build_never_act_on_one_infrastructure_at_once(
        plain_workers: Running, cli: Cli, tmp_path: Path) -> None:
    w = plain_workers
    first = w.instances[0]
    gate = w.instance_dir(first) / "gate"
    os.mkfifo(gate)
    held = tmp_path / "held.yaml"
    held.write_text(f"- targets: [{first}]\n  jobs:\n    - RUN: touch started && cat gate\n")
    other = tmp_path / "other.yaml"
    other.write_text("- jobs:\n    - RUN: touch other\n")
    more = tmp_path / "more.yaml"
    more.write_text(INFRA.replace("min: 3", "min: 4"))

    # 1. an orchestration runs a job: an update, another orchestration and REST wait
    running = cli.popen("occopus-orchestrate", "-i", w.infra_id, held)
    wait_until(lambda: (w.instance_dir(first) / "started").exists() or running.poll(),
               what="the held job to start")
    assert running.poll() is None, running.communicate()
    update = w.cli(build_cli, "-i", w.infra_id, str(more))
    assert update.exit_code == LEASE_HELD, update.output
    assert "cannot update infrastructure" in update.stderr
    assert len(w.instances) == 3
    second = w.cli(orchestrate, "-i", w.infra_id, str(other))
    assert second.exit_code == LEASE_HELD, second.output
    assert "cannot run jobs on infrastructure" in second.stderr and second.stdout == ""
    service = start(w.occo)
    try:
        answer = service("POST", f"/infrastructures/{w.infra_id}/orchestrations",
                         data=other.read_text(), headers={"Content-Type": "application/x-yaml"})
    finally:
        service.stop()
    assert answer.status_code == 409, answer.text
    assert orchestrations(w) == 1
    assert not any((w.instance_dir(i) / "other").exists() for i in w.instances)
    with open(gate, "w") as fifo:
        fifo.write("go\n")
    _, err = cli.finish(running)
    assert running.returncode == 0, err
    assert w.occo.store.leases.holder(w.infra_id) is None

    # 2. an update waits for a new instance to boot: an orchestration is refused
    (tmp_path / "slow.yaml").write_text(SLOW_DEFS)
    w.occo.import_node_definitions(tmp_path / "slow.yaml")
    slow = tmp_path / "slow_infra.yaml"
    slow.write_text(INFRA + SLOW_NODE)
    updating = cli.popen("occopus-build", "-i", w.infra_id, slow)
    wait_until(lambda: any(i.node_name == "slow" and i.state == "booting"
                           for i in w.occo.store.instances.for_infra(w.infra_id))
               or updating.poll() is not None, what="the new instance to boot")
    assert updating.poll() is None, updating.communicate()
    refused = w.cli(orchestrate, "-i", w.infra_id, str(other))
    assert refused.exit_code == LEASE_HELD, refused.output
    assert "cannot run jobs on infrastructure" in refused.stderr
    assert orchestrations(w) == 1
    updating.send_signal(signal.SIGINT)
    _, err = cli.finish(updating)
    assert updating.returncode == 130, err
    # the lease is free again: the orchestration runs
    done = w.cli(orchestrate, "-i", w.infra_id, str(other))
    assert done.exit_code == 0, done.output
    assert all((w.instance_dir(i) / "other").exists() for i in w.instances)
