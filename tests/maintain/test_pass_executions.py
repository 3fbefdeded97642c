"""Every maintenance pass is an execution; idle passes in a row share one record."""

from __future__ import annotations

from pathlib import Path

from occo.api import Occo
from tests.support.cli import write


def test_pass_records(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "d.yaml",
                                       "'node_def:sim':\n  - resource: {type: dummy}\n"))
    infra_id = occo.build(write(tmp_path / "i.yaml", "infra_name: p\nnodes:\n"
                                "  - {name: w, type: sim, scaling: {min: 1, max: 3}}\n")).infra_id

    def passes() -> list:
        return [e for e in occo.executions(infra_id) if e.workflow == "maintain"]

    for _ in range(3):
        occo.maintain([infra_id])
    idle = passes()
    assert len(idle) == 1 and idle[0].parameters["passes"] == 3 and idle[0].parameters["idle"]

    occo.scale(infra_id, "w", change=1)
    acted = occo.maintain([infra_id])[0]
    assert acted.created == 1 and acted.execution_id is not None
    occo.maintain([infra_id])
    records = passes()
    assert len(records) == 3                       # idle run, the scale-up, a new idle run
    assert occo.execution(acted.execution_id).report is not None
    assert all(r.status == "terminated" for r in records)


def test_one_pass_over_many_records_the_idle_and_passes_on_the_rest(occo: Occo,
                                                                    tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "d.yaml",
                                       "'node_def:sim':\n  - resource: {type: dummy}\n"))
    description = write(tmp_path / "i.yaml", "infra_name: p\nnodes:\n"
                        "  - {name: w, type: sim, scaling: {min: 1, max: 3}}\n")
    leased, requested, *idle = [occo.build(description).infra_id for _ in range(4)]
    assert occo.store.leases.acquire(leased, "other-host:1:maintainer", 60)
    occo.scale(requested, "w", change=1)

    first = occo.maintain([leased, requested, *idle])
    assert first[0].skipped and "lease held by another run" in first[0].skipped
    assert first[1].created == 1 and first[1].applied_requests == 1
    assert all(not r.acted and r.skipped is None and r.execution_id for r in first[2:])
    assert [r.infra_id for r in first] == [leased, requested, *idle]

    second = occo.maintain(idle)
    assert [r.execution_id for r in second] == [r.execution_id for r in first[2:]]
    assert all(occo.execution(r.execution_id).parameters["passes"] == 2 for r in second)
    assert all(occo.store.leases.holder(i) is None for i in [requested, *idle])
    assert occo.store.leases.holder(leased)[0] == "other-host:1:maintainer"
