"""Resource sections: every Occopus type with every key, plus occo's own types."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from occo.errors import DescriptionError
from occo.model.nodedef import Implementation, load_node_definitions, parse_node_definitions
from occo.model.resource_types import (
    RESOURCE_MODELS,
    AzureAciResource,
    AzureVmResource,
    CloudBrokerResource,
    CloudSigmaResource,
    DockerResource,
    DummyResource,
    Ec2Resource,
    GenericResource,
    LocalResource,
    NovaResource,
    ResourceBase,
    resource_model,
)

DATA = Path(__file__).parent / "data"

EXPECTED_TYPES = {
    "on_nova": NovaResource,
    "on_ec2": Ec2Resource,
    "on_docker": DockerResource,
    "on_azure_vm": AzureVmResource,
    "on_azure_aci": AzureAciResource,
    "on_cloudbroker": CloudBrokerResource,
    "on_cloudsigma": CloudSigmaResource,
    "on_dummy": DummyResource,
    "on_local": LocalResource,
    "on_plugin": GenericResource,
}


@pytest.fixture(scope="module")
def all_defs() -> dict[str, list[Implementation]]:
    return load_node_definitions(DATA / "all_resources.yaml")


def _written(node_type: str) -> dict[str, Any]:
    """The resource section exactly as the fixture file writes it."""
    from occo.model.yamlio import load_yaml_file

    return load_yaml_file(DATA / "all_resources.yaml").plain[f"node_def:{node_type}"][0][
        "resource"]


def test_registry() -> None:
    assert set(RESOURCE_MODELS) == {"nova", "ec2", "docker", "azure_vm", "azure_aci",
                                    "cloudbroker", "cloudsigma", "dummy", "local"}
    for name, model in RESOURCE_MODELS.items():
        assert resource_model(name) is model
        assert issubclass(model, ResourceBase)
    assert resource_model("my_cloud") is GenericResource


@pytest.mark.parametrize("node_type", sorted(EXPECTED_TYPES))
def test_every_key_of_every_type_is_accepted(all_defs: dict[str, list[Implementation]],
                                             node_type: str) -> None:
    resource = all_defs[node_type][0].resource
    assert type(resource) is EXPECTED_TYPES[node_type]
    written = _written(node_type)
    # every written key survives
    section = all_defs[node_type][0].resource_section()
    assert set(section) == set(written)


@pytest.mark.parametrize("model", list(RESOURCE_MODELS.values()))
def test_fixture_covers_every_field(all_defs: dict[str, list[Implementation]],
                                   model: type[ResourceBase]) -> None:
    node_type = next(k for k, v in EXPECTED_TYPES.items() if v is model)
    assert set(_written(node_type)) == {f.alias or n for n, f in model.model_fields.items()}


def test_field_values(all_defs: dict[str, list[Implementation]]) -> None:
    nova = all_defs["on_nova"][0].resource
    assert isinstance(nova, NovaResource)
    assert (nova.volume_size, nova.volume_persist, nova.security_groups) == (20, True, ["default"])
    aci = all_defs["on_azure_aci"][0].resource
    assert isinstance(aci, AzureAciResource)
    assert (aci.memory, aci.cpu_cores, aci.ports) == (2, 4, [8080, 8081])
    broker = all_defs["on_cloudbroker"][0].resource
    assert isinstance(broker, CloudBrokerResource)
    assert broker.description.deployment_id == "dep-1"
    assert broker.description.model_extra == {"disk_size": 30}   # passed on as written
    sigma = all_defs["on_cloudsigma"][0].resource
    assert isinstance(sigma, CloudSigmaResource)
    assert (sigma.description.cpu, sigma.description.mem) == (2000, 1073741824)
    assert sigma.description.model_extra is not None
    assert sigma.description.model_extra["nics"][0]["firewall_policy"] == "fw-uuid"
    dummy = all_defs["on_dummy"][0].resource
    assert dummy == DummyResource(name="sim", create_delay=1.5, boot_delay=2, drop_delay=0.25,
                                  jitter=0.1, fail_rate=0.05, seed=42, address="10.0.0.7")
    local = all_defs["on_local"][0].resource
    assert local == LocalResource(name="here", command=["python3", "-m", "http.server", "8080"],
                                  env={"PYTHONUNBUFFERED": "1"}, ports=[8080],
                                  workdir="/srv/web", stop_timeout=2.5)


def test_defaults() -> None:
    dummy = DummyResource()
    assert (dummy.create_delay, dummy.boot_delay, dummy.drop_delay, dummy.jitter,
            dummy.fail_rate, dummy.seed, dummy.address) == (0, 0, 0, 0, 0, None, None)
    local = LocalResource(command="sleep 60")
    assert (local.env, local.ports, local.network_namespace, local.workdir,
            local.stop_timeout) == ({}, [], False, None, 5.0)
    docker = DockerResource(endpoint="unix://s", image="busybox")
    assert docker.tag == "latest"


def test_minimal_occopus_sections() -> None:
    NovaResource(endpoint="e", image_id="i", flavor_name="f", tenant_name="t")
    Ec2Resource(endpoint="e", regionname="r", image_id="i", instance_type="t")
    AzureVmResource(endpoint="e", resource_group="g", location="l", vm_size="s",
                    publisher="p", offer="o", sku="k", version="v", username="u",
                    ssh_key_data="ssh-rsa AAA")
    CloudSigmaResource.model_validate({"type": "cloudsigma", "endpoint": "e", "libdrive_id": "d",
                                       "description": {"cpu": 1, "mem": 2,
                                                       "vnc_password": "p"}})
    CloudBrokerResource.model_validate({"type": "cloudbroker", "endpoint": "e",
                                        "description": {"deployment_id": "d",
                                                        "instance_type_id": "t"}})


def _resource_error(section: str) -> str:
    text = "'node_def:a':\n  - resource:\n" + textwrap.indent(
        textwrap.dedent(section).lstrip("\n"), "      ")
    with pytest.raises(DescriptionError) as caught:
        parse_node_definitions(text, "nodes.yaml", DATA)
    return str(caught.value)


def test_nova_needs_a_project() -> None:
    assert _resource_error("""
        type: nova
        endpoint: e
        image_id: i
        flavor_name: f
    """) == ("nodes.yaml:3:7: node_def:a[0].resource: "
             "nova needs 'project_id' (or the older 'tenant_name')")


def test_azure_vm_needs_a_credential() -> None:
    assert "needs either 'password' or 'ssh_key_data'" in _resource_error("""
        type: azure_vm
        endpoint: e
        resource_group: g
        location: l
        vm_size: s
        publisher: p
        offer: o
        sku: k
        version: v
        username: u
    """)


def test_cloudsigma_description_required_keys() -> None:
    assert _resource_error("""
        type: cloudsigma
        endpoint: e
        libdrive_id: d
        description:
          cpu: 2000
          mem: 1024
    """) == ("nodes.yaml:7:9: node_def:a[0].resource.description: "
             "missing required key 'vnc_password'")


def test_cloudbroker_description_required_keys() -> None:
    assert _resource_error("""
        type: cloudbroker
        endpoint: e
        description: {deployment_id: d}
    """) == ("nodes.yaml:5:20: node_def:a[0].resource.description: "
             "missing required key 'instance_type_id'")


def test_local_command_required_and_not_empty() -> None:
    assert _resource_error("""
        type: local
        ports: [80]
    """) == "nodes.yaml:3:7: node_def:a[0].resource: missing required key 'command'"
    assert "command must name a program" in _resource_error("""
        type: local
        command: []
    """)


def test_local_port_type() -> None:
    assert _resource_error("""
        type: local
        command: server
        ports: [http]
    """) == ("nodes.yaml:5:15: node_def:a[0].resource.ports[0]: "
             "Input should be a valid integer, unable to parse string as an integer (got 'http')")


@pytest.mark.parametrize("field, value", [
    ("jitter", -1), ("create_delay", -0.5), ("boot_delay", -1), ("drop_delay", -2),
    ("fail_rate", -0.1), ("fail_rate", 1.01),
])
def test_dummy_bounds(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        DummyResource.model_validate({field: value})


def test_dummy_unknown_key() -> None:
    assert _resource_error("""
        type: dummy
        create_dealy: 1
    """) == ("nodes.yaml:4:7: node_def:a[0].resource: unknown key 'create_dealy' "
             "(did you mean 'create_delay'?)")


def test_ec2_tags_must_be_a_mapping() -> None:
    assert _resource_error("""
        type: ec2
        endpoint: e
        regionname: r
        image_id: i
        instance_type: t
        tags: [a, b]
    """) == "nodes.yaml:8:13: node_def:a[0].resource.tags: Input should be a valid dictionary"
