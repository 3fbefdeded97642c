"""The cloudbroker handler against the fake CloudBroker platform over HTTP: the
``<instance>`` document a create sends, statuses, stop on destroy, busy and refused
answers. The cluster scenarios are in test_cloud_clusters.py."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Response

from occo.errors import ResourceError
from occo.model.resource_types import CloudBrokerResource
from occo.model.states import ResourceState
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.cloudbroker import (
    CloudBrokerHandler,
    cloudbroker_state,
    error_message,
    instance_document,
)
from tests.clouds import fake_cloudbroker as fcb
from tests.clouds.backends import FAST, cloudbroker_auth, cloudbroker_resource


@pytest.fixture
def handler(cloudbroker: fcb.FakeCloudBroker, tmp_path: Path) -> CloudBrokerHandler:
    env = HandlerEnv(home=tmp_path, store=None,
                     auth_data=cloudbroker_auth(cloudbroker),
                     settings={"cloudbroker": FAST})
    return CloudBrokerHandler(env)


def config(fake: fcb.FakeCloudBroker, **fields: Any) -> CloudBrokerResource:
    return CloudBrokerResource.model_validate({**cloudbroker_resource(fake), **fields})


def create(handler: CloudBrokerHandler, cfg: CloudBrokerResource,
           user_data: str | None = None) -> ResourceRef:
    instance_id = str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, "head", cfg, user_data))
    return ResourceRef(instance_id, result.resource_id, cfg, result.data)


def test_create_posts_the_description_with_cloud_init_and_the_instance_runs(
        cloudbroker: fcb.FakeCloudBroker, handler: CloudBrokerHandler) -> None:
    cfg = config(cloudbroker, start_in_vpc="vpc-1234")
    ref = create(handler, cfg, "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n")

    instance = cloudbroker.instances[ref.resource_id]
    assert {k: instance.fields[k] for k in ("deployment_id", "instance_type_id", "key_pair_id",
                                            "opened_port", "disable_autostop", "isolated",
                                            "start_in_vpc")} == {
        "deployment_id": fcb.DEPLOYMENT_ID, "instance_type_id": fcb.INSTANCE_TYPE_ID,
        "key_pair_id": fcb.KEY_PAIR_ID, "opened_port": "22,80", "disable_autostop": "true",
        "isolated": "true", "start_in_vpc": "vpc-1234"}
    assert instance.user_data == "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"
    assert instance.fields["name"] == f"occo-{ref.instance_id}"      # how recover finds it
    states = [handler.state(ref).state for _ in range(2)]
    assert states == [ResourceState.PENDING, ResourceState.RUNNING]
    address = handler.address(ref)
    assert (address.public, address.private) == (instance.external_ip, instance.internal_ip)

    handler.destroy(ref)
    assert cloudbroker.requests_to("PUT", rf"/instances/{ref.resource_id}/stop$")
    assert handler.state(ref).state == ResourceState.GONE and cloudbroker.live() == []
    handler.destroy(ref)                                  # stopping twice is harmless


def test_a_description_may_override_the_defaults_and_add_keys() -> None:
    cfg = CloudBrokerResource.model_validate({
        "endpoint": "https://cb.example.org", "description": {
            "deployment_id": "d", "instance_type_id": "t", "isolated": "false",
            "disk_size": 20, "tags": {"project": "x"}}})
    root = ET.fromstring(instance_document(cfg, None, "1234"))
    assert [(e.tag, e.text) for e in root if not len(e)] == [
        ("disable_autostop", "true"), ("isolated", "false"), ("name", "occo-1234"),
        ("deployment_id", "d"), ("instance_type_id", "t"), ("disk_size", "20")]
    assert root.findtext("tags/project") == "x"
    with pytest.raises(ResourceError, match="'bad key' cannot be an XML element name"):
        instance_document(cfg.model_copy(update={"description": cfg.description.model_copy(
            update={"bad key": 1})}), None, "1234")


def test_busy_answers_are_sent_again_and_a_refusal_is_one_message(
        cloudbroker: fcb.FakeCloudBroker, handler: CloudBrokerHandler) -> None:
    cloudbroker.inject(lambda: Response("Service Unavailable", status=503), count=1,
                       method="POST")
    ref = create(handler, config(cloudbroker))
    assert len(cloudbroker.requests_to("POST", "/instances.xml")) == 2
    assert ref.resource_id in cloudbroker.instances

    bad = config(cloudbroker, description={"deployment_id": "no-such-deployment",
                                           "instance_type_id": fcb.INSTANCE_TYPE_ID})
    with pytest.raises(ResourceError) as caught:
        create(handler, bad)
    assert str(caught.value) == (
        f"CloudBroker at {cloudbroker.endpoint}: creating an instance for node 'head' failed: "
        "Deployment 'no-such-deployment' not found (HTTP 422)")


def test_statuses_and_errors_are_read_as_the_platform_writes_them() -> None:
    assert cloudbroker_state("initializing") == ResourceState.PENDING
    assert cloudbroker_state("running") == ResourceState.RUNNING
    assert cloudbroker_state("halted") == ResourceState.GONE
    assert cloudbroker_state("archived") == ResourceState.UNKNOWN
    assert error_message("<errors><error>a</error><error>b</error></errors>") == "a; b"
    assert error_message("HTTP Basic: Access denied.\n") == "HTTP Basic: Access denied."
