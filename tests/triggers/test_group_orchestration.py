"""A trigger that orchestrates every infrastructure of a group, fired end to end."""

from __future__ import annotations

from pathlib import Path

from occo.api import Occo
from occo.config import Config
from occo.engine.triggers import TriggerRunner

DEFS = """\
'node_def:box':
  - resource: {type: local, command: [sh, -c, 'exec sleep 100000']}
    health_check: {ping: false}
"""
T0 = 2_000_000_000.0


def test_an_orchestrate_trigger_on_a_group_runs_the_file_on_every_member(
        tmp_path: Path) -> None:
    occo = Occo(Config(home=tmp_path / "home"))
    infra_ids: list[str] = []
    try:
        (tmp_path / "defs.yaml").write_text(DEFS)
        occo.import_node_definitions(tmp_path / "defs.yaml")
        for n in range(2):
            path = tmp_path / f"infra{n}.yaml"
            path.write_text(f"infra_name: site{n}\nnodes:\n  - {{name: web, type: box}}\n")
            infra_ids.append(occo.build(path).infra_id)
        occo.create_infra_group("sites")
        occo.add_to_infra_group("sites", infra_ids)
        orchestration = tmp_path / "stamp.yaml"
        orchestration.write_text("- jobs:\n    - RUN: echo '{{ infra_name }}' > stamp.txt\n")
        occo.create_trigger("stamp", "orchestrate", infra_group_id="sites", concurrency=2,
                            orchestration_file=orchestration, interval=3600, first_time=T0)

        runner = TriggerRunner(occo.store, run_execution=occo.run_execution,
                               run_group=occo.run_execution_group, clock=lambda: T0)
        (firing,) = runner.tick()
        runner.stop()                 # waits for the group it started

        assert firing.execution_group_id is not None
        group = occo.execution_group(firing.execution_group_id)
        assert (group["status"], group["created_by"]) == ("terminated", "trigger:stamp")
        for n, infra_id in enumerate(infra_ids):
            (instance,) = occo.store.instances.for_infra(infra_id)
            stamp = occo.config.home / "instances" / instance.id / "stamp.txt"
            assert stamp.read_text() == f"site{n}\n"
        members = occo.group_executions(firing.execution_group_id)
        assert sorted(m.infra_id or "" for m in members) == sorted(infra_ids)
        for member in members:
            (task,) = occo.job_tasks(member.id)
            assert (task.status, task.exit_code) == ("succeeded", 0)
    finally:
        for infra_id in infra_ids:
            occo.destroy(infra_id)
        occo.close()
