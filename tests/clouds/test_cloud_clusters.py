"""A head and a worker on each fake cloud of the cloudsigma, cloudbroker, azure_vm and
azure_aci handlers, built as a user builds them: the worker learns the head's address
from its contextualisation (``getip('head')``), also when the cluster scales out. Build,
scale, refusals and leftovers in general are the handler contract suite's
(tests/resources/test_contract.py); this is what it does not cover."""

from __future__ import annotations

import json
from pathlib import Path

from occo.api import Occo
from occo.config import Config
from tests.clouds.backends import FakeCloudBackend


def write_cluster(tmp_path: Path, cloud: FakeCloudBackend) -> tuple[Path, Path]:
    """Node definitions and an infrastructure: a head, and 1..3 workers after it."""
    defs = tmp_path / "nodes.yaml"
    defs.write_text(json.dumps({          # JSON is YAML; the templates stay as written
        "node_def:cluster_head": [{
            "resource": cloud.resource(),
            "contextualisation": cloud.greeting("head of {{ infra_name }}"),
            "health_check": {"ping": False}}],
        "node_def:cluster_worker": [{
            "resource": cloud.resource(),
            "contextualisation": cloud.greeting("worker joins {{ getip('head') }}"),
            "health_check": {"ping": False}}],
    }, indent=2))
    infra = tmp_path / "infra.yaml"
    infra.write_text("infra_name: two-node\n"
                     "nodes:\n"
                     "  - &H {name: head, type: cluster_head}\n"
                     "  - &W {name: worker, type: cluster_worker, scaling: {min: 1, max: 3}}\n"
                     "dependencies:\n"
                     "  - [*W, *H]\n")
    return defs, infra


def test_workers_learn_the_heads_address_from_their_contextualisation(
        cloud: FakeCloudBackend, tmp_path: Path) -> None:
    occo = Occo(Config(home=cloud.home, auth_data=cloud.auth_data, handlers=cloud.settings,
                       create_timeout=30, destroy_timeout=30), store=cloud.store)
    try:
        defs, infra = write_cluster(tmp_path, cloud)
        occo.import_node_definitions(defs)

        result = occo.build(infra, parallelize=True)

        [head] = [i for i in occo.store.instances.for_infra(result.infra_id)
                  if i.node_name == "head"]
        head_ip = head.address
        assert head_ip and head_ip == cloud.address_of(str(head.resource_id))
        assert cloud.received() == ["head of two-node", f"worker joins {head_ip}"]

        occo.scale(result.infra_id, "worker", change=1)
        [grown] = occo.maintain([result.infra_id])
        assert grown.created == 1
        assert cloud.received()[-1] == f"worker joins {head_ip}"

        occo.destroy(result.infra_id)
        assert cloud.live() == set()
    finally:
        occo.close()
