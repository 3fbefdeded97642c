"""The azure_vm and azure_aci handlers through the real Azure SDK against the fake Azure
Resource Manager over HTTPS: what a create asks ARM for, what destroy removes and what it
leaves (resources the node definition names), failures that leave nothing. The cluster
scenarios are in test_cloud_clusters.py."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from occo.errors import ConfigError, DescriptionError, ResourceError
from occo.model.resource_types import AzureAciResource, AzureVmResource
from occo.model.states import ResourceState
from occo.resources.azure_aci import AzureAciHandler
from occo.resources.azure_common import AzureHandler, AzureNames
from occo.resources.azure_vm import AzureVmHandler
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from tests.clouds import fake_azure as fa
from tests.clouds.backends import (
    AZURE_RESOURCE_GROUP,
    FAST,
    azure_aci_resource,
    azure_auth,
    azure_vm_resource,
)

RG = AZURE_RESOURCE_GROUP
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest operator@test"


def vm_handler(fake: fa.FakeAzure, tmp_path: Path) -> AzureVmHandler:
    env = HandlerEnv(home=tmp_path, store=None,
                     auth_data=azure_auth(fake, "azure_vm"), settings={"azure_vm": FAST})
    return AzureVmHandler(env)


def aci_handler(fake: fa.FakeAzure, tmp_path: Path) -> AzureAciHandler:
    env = HandlerEnv(home=tmp_path, store=None,
                     auth_data=azure_auth(fake, "azure_aci"), settings={"azure_aci": FAST})
    return AzureAciHandler(env)


def vm_config(fake: fa.FakeAzure, **fields: Any) -> AzureVmResource:
    return AzureVmResource.model_validate({**azure_vm_resource(fake), **fields})


def aci_config(fake: fa.FakeAzure, **fields: Any) -> AzureAciResource:
    return AzureAciResource.model_validate({**azure_aci_resource(fake), **fields})


def create(handler: AzureHandler, cfg: Any, user_data: str | None = None) -> ResourceRef:
    instance_id = str(uuid.uuid4())
    result = handler.create(CreateRequest("infra-1", instance_id, "node", cfg, user_data))
    return ResourceRef(instance_id, result.resource_id, cfg, result.data)


def names(ref: ResourceRef) -> dict[str, str]:
    base = f"occo-{ref.instance_id}"
    return {"vm": base, "nic": base + "-nic", "ip": base + "-ip", "vnet": base + "-vnet",
            "subnet": base + "-subnet", "disk": base + "-osdisk"}


# --------------------------------------------------------------------------- azure_vm


def test_vm_create_asks_arm_for_the_vm_and_its_network_and_destroy_removes_them(
        azure: fa.FakeAzure, tmp_path: Path) -> None:
    handler = vm_handler(azure, tmp_path)
    cfg = vm_config(azure, server_name="head-1", password="Adm1n-Pa55-word")
    ref = create(handler, cfg, "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n")

    n = names(ref)
    [request] = azure.vm_requests
    props = request["properties"]
    assert request["tags"]["occo_instance_id"] == ref.instance_id
    assert props["hardwareProfile"] == {"vmSize": "Standard_B2s"}
    assert props["storageProfile"]["imageReference"] == {
        "publisher": fa.IMAGE[0], "offer": fa.IMAGE[1], "sku": fa.IMAGE[2],
        "version": "latest"}
    assert props["storageProfile"]["osDisk"]["name"] == n["disk"]
    profile = props["osProfile"]
    assert (profile["computerName"], profile["adminUsername"], profile["adminPassword"]) == \
        ("head-1", "operator", "Adm1n-Pa55-word")
    assert profile["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"] == SSH_KEY
    assert base64.b64decode(profile["customData"]).decode() == \
        "#cloud-config\nruncmd: [[touch, /tmp/ok]]\n"
    nic = azure.find(fa.NIC, n["nic"])
    assert nic is not None and props["networkProfile"]["networkInterfaces"][0]["id"] == nic["id"]
    assert [handler.state(ref).state for _ in range(2)] == [ResourceState.PENDING,
                                                            ResourceState.RUNNING]
    address = handler.address(ref)
    pip = azure.find(fa.PIP, n["ip"])
    assert pip is not None and address.public == pip["properties"]["ipAddress"]
    assert address.private == nic["properties"]["ipConfigurations"][0]["properties"][
        "privateIPAddress"]
    assert {r.rsplit("/", 1)[1] for r in azure.live()} == set(n.values())

    handler.destroy(ref)
    assert azure.live() == [] and handler.state(ref).state == ResourceState.GONE
    handler.destroy(ref)                                   # a second destroy is harmless


def test_vm_on_the_users_network_leaves_it_as_it_was(azure: fa.FakeAzure,
                                                      tmp_path: Path) -> None:
    azure.add_resource_group(RG)
    azure.add_network(RG, "shared-vnet", "shared-subnet")
    azure.add_nic(RG, "shared-vnet", "shared-subnet", "prepared-nic")
    handler = vm_handler(azure, tmp_path)
    before = dict(azure.resources)

    on_nic = create(handler, vm_config(azure, nic_name="prepared-nic", public_ip_needed=None))
    on_subnet = create(handler, vm_config(azure, vnet_name="shared-vnet",
                                          subnet_name="shared-subnet"))
    in_vnet = create(handler, vm_config(azure, vnet_name="shared-vnet", public_ip_needed=None))
    assert azure.find(fa.SUBNET, names(in_vnet)["subnet"]) is not None   # added to theirs
    assert azure.find(fa.VNET, names(on_subnet)["vnet"]) is None

    for ref in (on_nic, on_subnet, in_vnet):
        handler.destroy(ref)
    assert azure.live() == []
    assert set(azure.resources) == set(before)             # theirs all still there
    assert azure.find(fa.NIC, "prepared-nic")["properties"].get("virtualMachine") is None


def test_vm_refused_by_arm_leaves_nothing_and_says_why(azure: fa.FakeAzure,
                                                       tmp_path: Path) -> None:
    handler = vm_handler(azure, tmp_path)
    cfg = vm_config(azure, sku="no-such-sku", password="Adm1n-Pa55-word")
    with pytest.raises(ResourceError) as caught:
        create(handler, cfg)
    assert str(caught.value) == (
        f"Azure at {azure.base}: creating a virtual machine for node 'node' failed: The "
        f"platform image '{fa.IMAGE[0]}:{fa.IMAGE[1]}:no-such-sku:latest' is not available. "
        "(PlatformImageNotFound)")
    assert azure.live() == []                        # the NIC, IP and network were removed


def test_busy_arm_is_asked_again(azure: fa.FakeAzure, tmp_path: Path) -> None:
    azure.inject(lambda: fa.arm_error(503, "ServerBusy", "Try again later."), count=1,
                 method="PUT", path="/virtualMachines/")
    handler = vm_handler(azure, tmp_path)
    ref = create(handler, vm_config(azure))
    assert len(azure.requests_to("PUT", "/virtualMachines/")) == 2
    assert handler.state(ref).state in (ResourceState.PENDING, ResourceState.RUNNING)


def test_recover_finds_the_network_of_a_create_cut_short(azure: fa.FakeAzure,
                                                          tmp_path: Path) -> None:
    azure.add_resource_group(RG)
    handler = vm_handler(azure, tmp_path)
    cfg = vm_config(azure)
    # occo died after making the network, before asking for the VM
    request = CreateRequest("infra-1", str(uuid.uuid4()), "node", cfg, None)
    account, _ = handler._account(cfg)
    handler._network(account, cfg, AzureNames.of(request.instance_id), request)
    assert azure.live() != []
    found = handler.recover(request.instance_id, cfg)
    assert found is not None
    handler.destroy(ResourceRef(request.instance_id, found.resource_id, cfg, found.data))
    assert azure.live() == []


def test_plain_http_endpoints_are_refused_before_any_request(azure: fa.FakeAzure,
                                                             tmp_path: Path) -> None:
    auth = azure_auth(azure, "azure_vm")
    auth["resource"][0]["endpoint"] = "http://127.0.0.1:9"
    env = HandlerEnv(home=tmp_path, store=None,
                     auth_data=auth, settings={"azure_vm": FAST})
    with pytest.raises(ConfigError, match=r"azure_vm endpoint 'http://127.0.0.1:9': Azure "
                                          r"Resource Manager is reached over https only"):
        create(AzureVmHandler(env), vm_config(azure, endpoint="http://127.0.0.1:9"))
    assert azure.requests == []


# --------------------------------------------------------------------------- azure_aci


def test_container_group_gets_image_resources_ports_env_and_command(
        azure: fa.FakeAzure, tmp_path: Path) -> None:
    handler = aci_handler(azure, tmp_path)
    cfg = aci_config(azure, ports=[80, "53/udp"], gpu_type="V100", gpu_count=2, cpu_cores=2,
                     memory=3.5)
    ref = create(handler, cfg, json.dumps({"env": {"ROLE": "web"},
                                           "command": "serve --port 80 'a b'"}))

    [request] = azure.group_requests
    props = request["properties"]
    container = props["containers"][0]["properties"]
    group = f"occo-{ref.instance_id}"
    assert container["image"] == "registry.example.org/cluster-node:1"
    assert container["command"] == ["serve", "--port", "80", "a b"]
    assert container["resources"] == {"requests": {"cpu": 2.0, "memoryInGB": 3.5,
                                                   "gpu": {"count": 2, "sku": "V100"}}}
    assert container["environmentVariables"] == [
        {"name": "ROLE", "value": "web"},
        {"name": "_OCCOPUS_ALLOCATED_FQDN", "value": f"{group}.{fa.LOCATION}.azurecontainer.io"}]
    assert {k: props["ipAddress"][k] for k in ("type", "dnsNameLabel", "ports")} == {
        "type": "Public", "dnsNameLabel": group,
        "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}
    assert props["osType"] == "Linux"
    assert [handler.state(ref).state for _ in range(2)] == [ResourceState.PENDING,
                                                            ResourceState.RUNNING]
    live = azure.find(fa.GROUP, group)
    assert live is not None
    assert handler.address(ref).public == live["properties"]["ipAddress"]["ip"]
    handler.destroy(ref)
    assert azure.live() == []


def test_private_groups_join_a_delegated_subnet_and_only_occos_network_goes(
        azure: fa.FakeAzure, tmp_path: Path) -> None:
    azure.add_resource_group(RG)
    azure.add_network(RG, "apps-vnet", "aci-subnet", delegated=True)
    handler = aci_handler(azure, tmp_path)
    before = set(azure.resources)

    own = create(handler, aci_config(azure, network_type="private"))
    theirs = create(handler, aci_config(azure, network_type="private", vnet_name="apps-vnet",
                                        subnet_name="aci-subnet"))
    added = create(handler, aci_config(azure, network_type="private", vnet_name="apps-vnet"))

    subnets = [r["properties"]["subnetIds"][0]["id"].rsplit("/", 1)[1]
               for r in azure.group_requests]
    assert subnets == [f"occo-{own.instance_id}-subnet", "aci-subnet",
                       f"occo-{added.instance_id}-subnet"]
    assert handler.address(own).private and handler.address(own).public is None
    for ref in (own, theirs, added):
        handler.destroy(ref)
    assert azure.live() == [] and set(azure.resources) == before


def test_containers_take_a_docker_contextualisation_and_public_ones_a_port(
        azure: fa.FakeAzure, tmp_path: Path) -> None:
    handler = aci_handler(azure, tmp_path)
    with pytest.raises(DescriptionError, match=r"azure_aci runs a container, which takes a "
                                               r"'docker' contextualisation"):
        create(handler, aci_config(azure), "#cloud-config\n")
    with pytest.raises(DescriptionError, match=r"a public network needs at least one of "
                                               r"'ports'"):
        create(handler, aci_config(azure, ports=None))
    assert azure.requests_to("PUT", "containerGroups") == []


def test_the_fake_holds_occo_to_arms_ordering_rules(azure: fa.FakeAzure,
                                                   tmp_path: Path) -> None:
    """ARM refuses to delete a NIC a VM uses; so does the fake (else the tests above that
    find nothing left would prove little about the order destroy works in)."""
    from azure.core.exceptions import HttpResponseError

    handler = vm_handler(azure, tmp_path)
    cfg = vm_config(azure)
    ref = create(handler, cfg)
    account, _ = handler._account(cfg)                     # the SDK clients occo uses
    with pytest.raises(HttpResponseError) as caught:
        account.network.network_interfaces.begin_delete(RG, names(ref)["nic"]).result()
    assert caught.value.error is not None and caught.value.error.code == "NicInUse"
    handler.destroy(ref)
    assert azure.live() == []
