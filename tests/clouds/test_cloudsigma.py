"""The cloudsigma handler against the fake CloudSigma API over HTTP: what a create sends,
what destroy removes (and keeps), busy answers, lost creates. The cluster scenarios
are in test_cloud_clusters.py."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Response

from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import CloudSigmaResource
from occo.model.states import ResourceState
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.cloudsigma import CloudSigmaHandler, cloudsigma_state, nic_addresses
from tests.clouds import fake_cloudsigma as fcs
from tests.clouds.backends import FAST, cloudsigma_auth, cloudsigma_resource


def handler_for(tmp_path: Path, auth: dict[str, Any] | None,
                **settings: Any) -> CloudSigmaHandler:
    env = HandlerEnv(home=tmp_path, store=None,
                     auth_data=auth, settings={"cloudsigma": {**FAST, **settings}})
    return CloudSigmaHandler(env)


def config(fake: fcs.FakeCloudSigma, **description: Any) -> CloudSigmaResource:
    section = cloudsigma_resource(fake)
    section["description"].update(description)
    return CloudSigmaResource.model_validate(section)


def create(handler: CloudSigmaHandler, cfg: CloudSigmaResource,
           user_data: str | None = None) -> ResourceRef:
    instance_id = str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, "head", cfg, user_data))
    return ResourceRef(instance_id, result.resource_id, cfg, result.data)


@pytest.fixture
def handler(cloudsigma: fcs.FakeCloudSigma, tmp_path: Path) -> CloudSigmaHandler:
    return handler_for(tmp_path, cloudsigma_auth(cloudsigma))


def test_create_clones_the_library_drive_and_boots_a_server_from_the_description(
        cloudsigma: fcs.FakeCloudSigma, handler: CloudSigmaHandler) -> None:
    cfg = config(cloudsigma, pubkeys=["2c7ca6bd-0000-4000-8000-00000000cafe"],
                 meta={"owner": "ops"})
    ref = create(handler, cfg, "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n")

    [server] = cloudsigma.servers.values()
    [drive] = cloudsigma.drives.values()
    definition = server.definition
    assert drive.name == f"occo-{ref.instance_id}" and ref.data == {"drive": drive.uuid}
    assert definition["drives"] == [{"boot_order": 1, "dev_channel": "0:0", "device": "virtio",
                                     "drive": drive.uuid}]
    assert (definition["cpu"], definition["mem"], definition["pubkeys"]) == \
        (2000, 2**30, ["2c7ca6bd-0000-4000-8000-00000000cafe"])
    meta = definition["meta"]
    assert meta["owner"] == "ops" and meta["occo_instance_id"] == ref.instance_id
    assert meta["base64_fields"] == "cloudinit-user-data"
    assert base64.b64decode(meta["cloudinit-user-data"]).decode() == \
        "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"
    assert definition["name"] == f"occo-head-{ref.instance_id[:8]}"
    assert handler.state(ref).state == ResourceState.RUNNING
    assert handler.address(ref).public == server.ips[0]


def test_destroy_stops_then_deletes_the_server_and_its_clone_only(
        cloudsigma: fcs.FakeCloudSigma, handler: CloudSigmaHandler) -> None:
    own = cloudsigma.add_drive("data-of-the-user")
    ref = create(handler, config(cloudsigma, drives=[
        {"boot_order": 2, "dev_channel": "0:1", "device": "virtio", "drive": own}]))
    clone = ref.data["drive"]

    handler.destroy(ref)

    calls = [(m, p.split("/api/2.0")[-1]) for m, p in cloudsigma.requests if m != "GET"]
    handler.destroy(ref)                                   # a second destroy is harmless
    assert calls[-3:] == [("POST", f"/servers/{ref.resource_id}/action/?do=stop"),
                          ("DELETE", f"/servers/{ref.resource_id}/"),
                          ("DELETE", f"/drives/{clone}/")]
    assert list(cloudsigma.drives) == [own]               # the user's drive stays
    assert cloudsigma.servers == {} and handler.state(ref).state == ResourceState.GONE


def test_busy_answers_are_sent_again_and_other_errors_are_one_message(
        cloudsigma: fcs.FakeCloudSigma, handler: CloudSigmaHandler) -> None:
    busy = json.dumps([{"error_point": None, "error_type": "backend",
                        "error_message": "Try again"}])
    cloudsigma.inject(lambda: Response(busy, status=503), count=2, method="POST",
                      path="/servers/$")
    ref = create(handler, config(cloudsigma))
    assert len(cloudsigma.requests_to("POST", r"/servers/$")) == 3
    assert handler.state(ref).state == ResourceState.RUNNING

    with pytest.raises(ResourceError) as caught:
        create(handler, config(cloudsigma, cpu=-1).model_copy(
            update={"libdrive_id": "00000000-0000-4000-8000-000000000000"}))
    assert str(caught.value) == (
        f"CloudSigma at {cloudsigma.endpoint}: cloning library drive "
        "00000000-0000-4000-8000-000000000000 for node 'head' failed: Library drive "
        "00000000-0000-4000-8000-000000000000 does not exist (HTTP 404)")


def test_recover_removes_a_clone_whose_server_was_never_made(
        cloudsigma: fcs.FakeCloudSigma, handler: CloudSigmaHandler) -> None:
    cfg = config(cloudsigma)
    kept = create(handler, cfg)
    orphan = str(uuid.uuid4())                       # occo died between clone and server
    clone = cloudsigma.add_drive(f"occo-{orphan}")
    assert handler.recover(orphan, cfg) is None
    assert clone not in cloudsigma.drives
    assert list(cloudsigma.servers) == [kept.resource_id]


def test_missing_credentials_and_bad_settings_are_named(cloudsigma: fcs.FakeCloudSigma,
                                                        tmp_path: Path) -> None:
    auth = {"resource": [{"type": "cloudsigma", "auth_data": {"email": fcs.EMAIL}}]}
    with pytest.raises(ConfigError, match=r"resource entry #1 \{type: cloudsigma\}: "
                                          r"cloudsigma needs 'email' and 'password'"):
        create(handler_for(tmp_path, auth), config(cloudsigma))
    with pytest.raises(ConfigError, match=r"handlers\.cloudsigma\.poll_interval: Input should "
                                          r"be greater than 0"):
        handler_for(tmp_path, auth, poll_interval=0)


def test_statuses_and_nics_map_onto_occo_states_and_addresses() -> None:
    assert cloudsigma_state("starting") == ResourceState.PENDING
    assert cloudsigma_state("running") == ResourceState.RUNNING
    assert cloudsigma_state("stopped") == ResourceState.FAILED
    assert cloudsigma_state("unavailable") == ResourceState.UNKNOWN
    server = {"runtime": {"nics": [
        {"interface_type": "private", "ip_v4": {"uuid": "10.0.0.5"}},
        {"interface_type": "public", "ip_v4": None},
        {"interface_type": "public", "ip_v4": {"uuid": "185.12.5.9"}}]}}
    assert nic_addresses(server) == ("185.12.5.9", "10.0.0.5")
    assert nic_addresses({"runtime": None}) == (None, None)


def test_handler_settings_come_from_the_config_files_handlers_section(tmp_path: Path) -> None:
    from occo.api import Occo
    from occo.config import load_config

    path = tmp_path / "occopus_config.yaml"
    path.write_text(f"home: {tmp_path / 'home'}\n"
                    "handlers:\n  cloudsigma: {poll_interval: 0.5, operation_timeout: 30}\n")
    occo = Occo(load_config(path))
    try:
        handler = occo.registry.handler("cloudsigma")
        assert isinstance(handler, CloudSigmaHandler)
        assert (handler.settings.poll_interval, handler.settings.operation_timeout,
                handler.settings.retries) == (0.5, 30.0, 3)
    finally:
        occo.close()
