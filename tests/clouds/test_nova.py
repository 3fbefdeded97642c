"""The nova handler through the real openstacksdk against the fake OpenStack over HTTP."""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import NovaResource
from occo.model.states import ResourceState
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.nova import NOVA_STATE_MAP, NovaHandler, auth_url, nova_state
from tests.clouds import fake_openstack as fos
from tests.clouds.conftest import nova_auth

MakeOcco = Callable[[dict[str, Any] | None], Occo]


def nova_config(cloud: fos.FakeOpenStack, **fields: Any) -> NovaResource:
    base = {"endpoint": cloud.auth_url, "project_id": fos.PROJECT_ID,
            "image_id": fos.IMAGE_ID, "flavor_name": "m1.small",
            "network_id": fos.PRIVATE_NET_ID}
    return NovaResource(**{**base, **fields})


def handler_for(tmp_path: Path, auth: dict[str, Any] | None) -> NovaHandler:
    env = HandlerEnv(home=tmp_path, store=None, auth_data=auth)
    return NovaHandler(env)


def create(handler: NovaHandler, config: NovaResource, user_data: str | None = None,
           instance_id: str | None = None) -> ResourceRef:
    instance_id = instance_id or str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, "head", config, user_data))
    return ResourceRef(instance_id, result.resource_id, config, result.data)


def poll_until(handler: NovaHandler, ref: ResourceRef, wanted: ResourceState,
               limit: int = 10) -> list[ResourceState]:
    seen = []
    for _ in range(limit):
        seen.append(handler.state(ref).state)
        if seen[-1] == wanted:
            break
    return seen


# --------------------------------------------------------------------------- handler


def test_create_boots_a_server_with_user_data_metadata_and_floating_ip(
        openstack: fos.FakeOpenStack, tmp_path: Path) -> None:
    handler = handler_for(tmp_path, nova_auth(openstack))
    config = nova_config(openstack, key_name="operator", security_groups=["default", "web"],
                         floating_ip=True, floating_ip_pool=fos.PUBLIC_NET_NAME)
    ref = create(handler, config, "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n")

    states = poll_until(handler, ref, ResourceState.RUNNING)
    assert states[0] == ResourceState.PENDING and states[-1] == ResourceState.RUNNING

    server = openstack.live_servers()[0]
    assert server.name == ref.instance_id                     # no server_name: the instance id
    assert server.metadata["occo_instance_id"] == ref.instance_id
    assert server.key_name == "operator" and server.security_groups == ["default", "web"]
    assert openstack.user_data_received() == ["#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"]
    address = handler.address(ref)
    assert address.public and address.public.startswith("172.24.4.")   # floating first
    assert address.private == server.fixed_ip
    [fip] = openstack.floating_ips.values()
    assert fip.port_id == server.port_id

    handler.destroy(ref)
    assert handler.state(ref).state == ResourceState.GONE
    assert openstack.live_servers() == [] and openstack.floating_ips == {}


def test_server_name_and_boot_volume_kept_or_deleted_per_volume_persist(
        openstack: fos.FakeOpenStack, tmp_path: Path) -> None:
    handler = handler_for(tmp_path, nova_auth(openstack))
    kept = create(handler, nova_config(openstack, server_name="db", volume_size=40,
                                       volume_persist=True))
    dropped = create(handler, nova_config(openstack, volume_size=10))
    sizes = sorted(v.size for v in openstack.volumes.values())
    assert sizes == [10, 40]
    assert {s.name for s in openstack.live_servers()} == {"db", dropped.instance_id}
    handler.destroy(kept)
    handler.destroy(dropped)
    [left] = openstack.volumes.values()
    assert left.size == 40 and left.status == "available"


def test_application_credential_authenticates(openstack: fos.FakeOpenStack,
                                              tmp_path: Path) -> None:
    auth = nova_auth(openstack, type="application_cred", id=fos.APP_CRED_ID,
                     secret=fos.APP_CRED_SECRET)
    handler = handler_for(tmp_path, auth)
    ref = create(handler, nova_config(openstack))
    assert poll_until(handler, ref, ResourceState.RUNNING)[-1] == ResourceState.RUNNING


def test_server_going_to_error_is_failed_with_the_fault(openstack: fos.FakeOpenStack,
                                                        tmp_path: Path) -> None:
    handler = handler_for(tmp_path, nova_auth(openstack))
    ref = create(handler, nova_config(openstack, flavor_name="m1.broken"))
    assert poll_until(handler, ref, ResourceState.FAILED)[-1] == ResourceState.FAILED
    report = handler.state(ref)
    assert report.reason == ("server is ERROR: No valid host was found. There are not enough "
                             "hosts available.")


def test_unknown_flavor_and_missing_auth_entry_are_named(openstack: fos.FakeOpenStack,
                                                         tmp_path: Path) -> None:
    handler = handler_for(tmp_path, nova_auth(openstack))
    with pytest.raises(ResourceError, match=r"has no flavor 'm9\.huge'"):
        create(handler, nova_config(openstack, flavor_name="m9.huge"))
    other = handler_for(tmp_path, {"resource": [{"type": "ec2", "auth_data": {"accesskey": "a"}}]})
    with pytest.raises(ConfigError, match=r"no resource entry matches resource \{type: nova"):
        create(other, nova_config(openstack))


def test_an_unreachable_keystone_is_named(tmp_path: Path) -> None:
    auth = {"resource": [{"type": "nova", "auth_data": {"username": "u", "password": "pw12"}}]}
    handler = handler_for(tmp_path, auth)
    config = NovaResource(endpoint="http://127.0.0.1:9/identity", project_id="p",
                          image_id="i", flavor_name="f")
    with pytest.raises(ResourceError, match=r"^cannot reach OpenStack at "
                                            r"http://127.0.0.1:9/identity while creating"):
        create(handler, config)


def test_keystone_urls_are_normalised_to_v3() -> None:
    assert auth_url("https://k.example.org:5000") == "https://k.example.org:5000/v3"
    assert auth_url("https://k.example.org/identity/v3/") == "https://k.example.org/identity/v3"
    assert auth_url("https://k.example.org:5000/v2.0") == "https://k.example.org:5000/v3"


def test_nova_statuses_map_onto_occo_states() -> None:
    assert nova_state("BUILD") == ResourceState.PENDING
    assert nova_state("active") == ResourceState.RUNNING
    assert nova_state("ERROR") == ResourceState.FAILED
    assert nova_state("SOFT_DELETED") == ResourceState.GONE
    assert nova_state("PAUSED") == ResourceState.UNKNOWN        # not mapped: unknown
    assert nova_state(None) == ResourceState.UNKNOWN
    assert set(NOVA_STATE_MAP.values()) <= set(ResourceState)


# --------------------------------------------------------------------------- through Occo

HEAD_TEMPLATE = """\
#cloud-config
write_files:
  - path: /etc/cluster/role
    content: "head of {{ infra_name }} ({{ variables.cluster }})"
"""

WORKER_TEMPLATE = """\
#cloud-config
write_files:
  - path: /etc/cluster/head
    content: "{{ getip('head') }}"
runcmd:
  - [echo, "worker {{ cut(node_id, 0, 8) }} joins {{ getip('head') }} with {{ attributes.slots }} slots"]
"""


def write_cluster(tmp_path: Path, cloud: fos.FakeOpenStack, *,
                  worker_flavor: str = "m1.small") -> tuple[Path, Path]:
    (tmp_path / "head.yaml").write_text(HEAD_TEMPLATE)
    (tmp_path / "worker.yaml").write_text(WORKER_TEMPLATE)
    defs = tmp_path / "nodes.yaml"
    defs.write_text(textwrap.dedent(f"""\
        'node_def:cluster_head':
          - resource:
              type: nova
              endpoint: {cloud.auth_url}
              project_id: {fos.PROJECT_ID}
              image_id: {fos.IMAGE_ID}
              flavor_name: m1.medium
              network_id: {fos.PRIVATE_NET_ID}
              floating_ip: yes
              floating_ip_pool: {fos.PUBLIC_NET_NAME}
            contextualisation:
              type: cloudinit
              context_template: !text_import {{url: file://head.yaml}}
            health_check: {{ping: false}}
        'node_def:cluster_worker':
          - resource:
              type: nova
              endpoint: {cloud.auth_url}
              project_id: {fos.PROJECT_ID}
              image_id: {fos.IMAGE_ID}
              flavor_name: {worker_flavor}
              network_id: {fos.PRIVATE_NET_ID}
            contextualisation:
              type: cloudinit
              context_template: !text_import {{url: file://worker.yaml}}
              attributes: {{slots: 4}}
            health_check: {{ping: false}}
        """))
    infra = tmp_path / "infra.yaml"
    infra.write_text(textwrap.dedent("""\
        infra_name: openstack-cluster
        variables: {cluster: alpha}
        nodes:
          - &H {name: head, type: cluster_head}
          - &W {name: worker, type: cluster_worker, scaling: {min: 1, max: 3}}
        dependencies:
          - [*W, *H]
        """))
    return defs, infra


def instance_states(occo: Occo, infra_id: str) -> dict[str, list[tuple[str, str | None]]]:
    report = occo.report(infra_id)
    return {node: [(i["state"], i["resource_address"]) for i in entry["instances"].values()]
            for node, entry in report.items()}


def test_cluster_user_data_carries_the_heads_floating_ip(openstack: fos.FakeOpenStack,
                                                         tmp_path: Path,
                                                         make_occo: MakeOcco) -> None:
    """Building, scaling and destroying in general: tests/resources/test_contract.py."""
    occo = make_occo(nova_auth(openstack))
    defs, infra = write_cluster(tmp_path, openstack)
    occo.import_node_definitions(defs)

    result = occo.build(infra, parallelize=True)

    states = instance_states(occo, result.infra_id)
    [(head_state, head_ip)] = states["head"]
    [(worker_state, worker_ip)] = states["worker"]
    assert head_state == worker_state == "ready"
    assert head_ip and head_ip.startswith("172.24.4.")          # the head's floating IP
    assert worker_ip and worker_ip.startswith("10.0.0.")
    head_data, worker_data = openstack.user_data_received()
    assert head_data == HEAD_TEMPLATE.replace(
        "{{ infra_name }} ({{ variables.cluster }})", "openstack-cluster (alpha)")
    worker_server = next(s for s in openstack.live_servers() if s.fixed_ip == worker_ip)
    worker_id = worker_server.metadata["occo_instance_id"]
    assert worker_data == (
        "#cloud-config\nwrite_files:\n  - path: /etc/cluster/head\n"
        f'    content: "{head_ip}"\nruncmd:\n'
        f'  - [echo, "worker {worker_id[:8]} joins {head_ip} with 4 slots"]\n')

    occo.scale(result.infra_id, "worker", change=1)
    [scaled] = occo.maintain([result.infra_id])
    assert scaled.created == 1
    assert len(openstack.live_servers()) == 3
    assert f"joins {head_ip} with 4 slots" in (openstack.user_data_received()[-1] or "")
    assert [s for s, _ in instance_states(occo, result.infra_id)["worker"]] == ["ready", "ready"]

    occo.destroy(result.infra_id)
    assert openstack.live_servers() == [] and openstack.floating_ips == {}
    assert occo.list_infrastructures() == []


def test_a_node_without_credentials_is_refused_and_nothing_is_left(
        openstack: fos.FakeOpenStack, tmp_path: Path, make_occo: MakeOcco) -> None:
    occo = make_occo({"resource": [{"type": "nova", "endpoint": "https://elsewhere/v3",
                                    "auth_data": {"username": "u", "password": "p"}}]})
    defs, infra = write_cluster(tmp_path, openstack)
    occo.import_node_definitions(defs)
    with pytest.raises(ConfigError) as caught:     # refused before anything is recorded
        occo.build(infra)
    assert str(caught.value).startswith(
        f"{defs}:2:5: node 'head' (type 'cluster_head'): auth_data.yaml: no resource entry "
        f"matches resource {{type: nova, endpoint: {openstack.auth_url}}}")
    assert openstack.requests == [] and occo.list_infrastructures() == []


# --------------------------------------------------------------------------- console links


def report_links(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Instance id -> links of every instance in an execution report."""
    assert report is not None
    return {inst_id: inst["links"] for node in report["nodes"].values()
            for inst_id, inst in node["instances"].items()}


def server_of(cloud: fos.FakeOpenStack, instance_id: str) -> fos.FakeServer:
    return next(s for s in cloud.live_servers() if s.metadata["occo_instance_id"] == instance_id)


def test_build_and_maintain_reports_link_each_server_console(
        openstack: fos.FakeOpenStack, tmp_path: Path, make_occo: MakeOcco) -> None:
    occo = make_occo(nova_auth(openstack))
    defs, infra = write_cluster(tmp_path, openstack)
    occo.import_node_definitions(defs)

    result = occo.build(infra, parallelize=True)

    links = report_links(result.report)
    assert len(links) == 2
    for instance_id, link in links.items():
        url = openstack.consoles[server_of(openstack, instance_id).id]
        assert url.startswith(f"{openstack.base}/vnc_auto.html?token=")
        assert link["console"] == url
        assert link["rest"].endswith(f"/{instance_id}")
    assert report_links(occo.execution(result.execution_id).report) == links   # as stored

    occo.scale(result.infra_id, "worker", change=1)
    [scaled] = occo.maintain([result.infra_id])
    assert scaled.execution_id is not None
    maintained = report_links(occo.execution(scaled.execution_id).report)
    assert len(maintained) == 3
    assert {link["console"] for link in maintained.values()} == set(openstack.consoles.values())
    occo.destroy(result.infra_id)


def test_a_console_api_error_leaves_the_link_null_and_the_build_succeeds(
        openstack: fos.FakeOpenStack, tmp_path: Path, make_occo: MakeOcco) -> None:
    openstack.console_error = 501                        # a cloud without consoles
    occo = make_occo(nova_auth(openstack))
    defs, infra = write_cluster(tmp_path, openstack)
    occo.import_node_definitions(defs)

    result = occo.build(infra)

    assert result.report is not None and result.report["status"] == "terminated"
    links = report_links(result.report)
    assert len(links) == 2 and all(link["console"] is None for link in links.values())
    assert len(openstack.live_servers()) == 2
    assert any("/remote-consoles" in path for _, path in openstack.requests)   # it was asked
    occo.destroy(result.infra_id)


def test_console_url_of_a_vanished_server_is_none(openstack: fos.FakeOpenStack,
                                                  tmp_path: Path) -> None:
    handler = handler_for(tmp_path, nova_auth(openstack))
    ref = create(handler, nova_config(openstack))
    assert handler.console_url(ref) == openstack.consoles[ref.resource_id]
    handler.destroy(ref)
    assert handler.console_url(ref) is None


def test_dummy_builds_have_no_console_link(tmp_path: Path, make_occo: MakeOcco) -> None:
    occo = make_occo(None)
    (tmp_path / "defs.yaml").write_text("'node_def:basic':\n  - resource: {type: dummy}\n")
    (tmp_path / "infra.yaml").write_text(
        "infra_name: plain\nnodes:\n  - {name: n, type: basic, scaling: {min: 2}}\n")
    occo.import_node_definitions(tmp_path / "defs.yaml")

    result = occo.build(tmp_path / "infra.yaml")

    links = report_links(result.report)
    assert len(links) == 2 and all(link["console"] is None for link in links.values())


def test_a_slow_console_api_does_not_hold_up_the_report(
        openstack: fos.FakeOpenStack, tmp_path: Path, make_occo: MakeOcco) -> None:
    from occo.engine.consoles import gather_consoles

    occo = make_occo(nova_auth(openstack))
    defs, infra = write_cluster(tmp_path, openstack)
    occo.import_node_definitions(defs)
    result = occo.build(infra)
    instances = occo.store.instances.for_infra(result.infra_id)

    openstack.console_delay = 1.0
    started = time.monotonic()
    assert gather_consoles(occo.registry, instances, budget=0.2) == {}
    assert time.monotonic() - started < 0.8
    openstack.console_delay = 0.0
    assert len(gather_consoles(occo.registry, instances)) == 2
