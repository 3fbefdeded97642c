"""Several maintainers at once: leases make every request apply exactly once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from occo.api import Occo
from occo.model.states import InstanceState
from tests.support.cli import Cli, write
from tests.support.wait import wait_until

NODE_DEFS = """
'node_def:sim':
  - resource: {type: dummy, create_delay: 0.005, boot_delay: 0.005}
"""

INFRA = """
infra_name: busy
nodes:
  - {name: worker, type: sim, scaling: {min: 0, max: 500}}
"""


def test_two_cyclic_maintainers_apply_each_request_once(cli: Cli, occo: Occo,
                                                         tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "defs.yaml", NODE_DEFS))
    infra_ids = [occo.build(write(tmp_path / "infra.yaml", INFRA)).infra_id for _ in range(2)]
    maintainers = [cli.popen("occopus-maintain", "-c", "-t", "0.2") for _ in range(2)]

    def applied() -> int:
        return sum(r.applied_at is not None for i in infra_ids for r in occo.store.scaling.all(i))

    try:
        for batch in range(5):  # requests keep arriving while passes apply earlier ones
            for i in range(20):
                occo.scale(infra_ids[i % 2], "worker", change=1)
            wait_until(lambda batch=batch: applied() > 20 * batch,
                       what=f"a request of batch {batch} to be applied")
        wait_until(lambda: applied() == 100, timeout=60, what="every request to be applied")

        def converged() -> bool:
            return all(len([x for x in occo.store.instances.for_infra(i)
                            if x.state == InstanceState.READY]) == 50 for i in infra_ids)

        wait_until(converged, timeout=60, what="50 ready workers per infrastructure")
    finally:
        for proc in maintainers:
            proc.send_signal(signal.SIGTERM)
        outputs = [cli.finish(proc) for proc in maintainers]
    assert [p.returncode for p in maintainers] == [0, 0], outputs

    for infra_id in infra_ids:
        requests = occo.store.scaling.all(infra_id)
        assert len(requests) == 50
        assert all(r.outcome and "target" in r.outcome for r in requests)
        assert {n.name: n.target for n in occo.store.infras.nodes(infra_id)} == {"worker": 50}
        # No instance was ever created twice: every instance row ever written is live.
        every = occo.store.instances.for_infra(infra_id, include_destroyed=True)
        assert len(every) == 50 and len({i.id for i in every}) == 50
    # Both maintainers did real work (the leases were shared, not monopolised)
    # or at least neither crashed; their stderr carries what they did.
    assert any("request(s) applied" in err for _, err in outputs)


def test_expired_lease_of_a_killed_maintainer_is_taken_over(cli: Cli, occo: Occo,
                                                             tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "defs.yaml", NODE_DEFS))
    infra_id = occo.build(write(tmp_path / "infra.yaml", INFRA)).infra_id
    # A holder that died mid-pass: its lease row stays until it expires.
    assert occo.store.leases.acquire(infra_id, "dead-host:1:gone", ttl=1.0)
    occo.scale(infra_id, "worker", set_to=3)
    first = occo.maintain([infra_id])[0]
    assert first.skipped and "lease" in first.skipped
    held = occo.store.leases.holder(infra_id)
    assert held is not None
    second = wait_until(lambda: (r := occo.maintain([infra_id])[0]).skipped is None and r,
                        what="a pass once the dead holder's lease expired")
    assert time.time() >= held[1]                      # not a moment before
    assert second.applied_requests == 1
    assert len(occo.store.instances.for_infra(infra_id)) == 3
