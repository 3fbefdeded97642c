"""A head and a worker on each fake cloud of the cloudsigma, cloudbroker, azure_vm and
azure_aci handlers, built through the Python API as a user builds them: the worker
learns the head's address from its contextualisation; the cluster scales out and in
and is destroyed with nothing left on the cloud. Bad credentials and a quota refusal
fail the build with one clear message, and roll back to nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.errors import BuildFailed
from tests.clouds.backends import Backend, settings_for

MakeOcco = Callable[..., Occo]

CLOUD_NAMES = {"cloudsigma": "CloudSigma", "cloudbroker": "CloudBroker",
               "azure_vm": "Azure", "azure_aci": "Azure"}


def write_cluster(tmp_path: Path, cloud: Backend) -> tuple[Path, Path]:
    """Node definitions and an infrastructure: a head, and 1..3 workers after it."""
    defs = tmp_path / "nodes.yaml"
    defs.write_text(json.dumps({          # JSON is YAML; the templates stay as written
        "node_def:cluster_head": [{
            "resource": cloud.resource(),
            "contextualisation": cloud.contextualisation("head of {{ infra_name }}"),
            "health_check": {"ping": False}}],
        "node_def:cluster_worker": [{
            "resource": cloud.resource(),
            "contextualisation": cloud.contextualisation("worker joins {{ getip('head') }}"),
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


def instances(occo: Occo, infra_id: str) -> dict[str, list[tuple[str, str | None]]]:
    return {node: [(i["state"], i["resource_address"]) for i in entry["instances"].values()]
            for node, entry in occo.report(infra_id).items()}


def build_failure(occo: Occo, infra: Path) -> str:
    with pytest.raises(BuildFailed) as caught:
        occo.build(infra)
    return str(caught.value)


def test_two_node_cluster_builds_scales_and_destroys(cloud: Backend, tmp_path: Path,
                                                     make_occo: MakeOcco) -> None:
    occo = make_occo(cloud.auth_data(), settings_for(cloud))
    defs, infra = write_cluster(tmp_path, cloud)
    occo.import_node_definitions(defs)

    result = occo.build(infra, parallelize=True)

    built = instances(occo, result.infra_id)
    [(head_state, head_ip)] = built["head"]
    [(worker_state, worker_ip)] = built["worker"]
    assert head_state == worker_state == "ready"
    assert head_ip and worker_ip and head_ip != worker_ip
    assert cloud.received() == ["head of two-node", f"worker joins {head_ip}"]
    two_nodes = cloud.live()

    occo.scale(result.infra_id, "worker", change=1)
    [grown] = occo.maintain([result.infra_id])
    assert grown.created == 1
    assert [s for s, _ in instances(occo, result.infra_id)["worker"]] == ["ready", "ready"]
    assert cloud.received()[-1] == f"worker joins {head_ip}"
    assert len(cloud.live()) > len(two_nodes)

    occo.scale(result.infra_id, "worker", change=-1)
    [shrunk] = occo.maintain([result.infra_id])
    assert shrunk.dropped == 1
    assert len(cloud.live()) == len(two_nodes)

    occo.destroy(result.infra_id)
    assert cloud.live() == []
    assert occo.list_infrastructures() == []


def _secret_values(auth: dict[str, Any]) -> list[str]:
    data = auth["resource"][0]["auth_data"]
    return [str(data[k]) for k in ("password", "client_secret") if k in data]


def test_bad_credentials_fail_the_build_with_one_message_and_nothing_left(
        cloud: Backend, tmp_path: Path, make_occo: MakeOcco) -> None:
    auth = cloud.auth_data(good=False)
    occo = make_occo(auth, settings_for(cloud))
    defs, infra = write_cluster(tmp_path, cloud)
    occo.import_node_definitions(defs)

    message = build_failure(occo, infra)

    endpoint = auth["resource"][0]["endpoint"]
    assert (f"{CLOUD_NAMES[cloud.type]} at {endpoint} rejected the credentials for resource "
            f"entry #1 {{type: {cloud.type}, endpoint: {endpoint}}} of auth_data.yaml: "
            in message)
    assert "rollback incomplete" not in message and "Traceback" not in message
    [execution] = occo.executions()
    for secret in _secret_values(auth):
        assert secret not in message and secret not in json.dumps(execution.report)
    assert cloud.live() == [] and occo.list_infrastructures() == []


def test_quota_refusal_fails_the_build_and_rolls_back_to_nothing(
        cloud: Backend, tmp_path: Path, make_occo: MakeOcco) -> None:
    cloud.limit(1)                               # the head fits, the worker does not
    occo = make_occo(cloud.auth_data(), settings_for(cloud))
    defs, infra = write_cluster(tmp_path, cloud)
    occo.import_node_definitions(defs)

    message = build_failure(occo, infra)

    assert f"{CLOUD_NAMES[cloud.type]} at " in message
    assert "quota exceeded" in message and "creating" in message
    assert "rollback incomplete" not in message
    assert "node 'worker'" in message            # the worker was refused, the head fitted
    assert cloud.live() == [] and occo.list_infrastructures() == []
