"""The ``resource`` section of a node definition, one model per resource type.

The Occopus types (nova, ec2, docker, azure_vm, azure_aci, cloudbroker,
cloudsigma) accept every key the Occopus 1.10 resource plugins accept; where
Occopus versions disagreed on whether a key is required, the more lenient
rule is used, so that any section one of them accepted is accepted here.
occo adds ``dummy`` (a simulated cloud) and ``local`` (a process on this
machine). A type not listed here belongs to a third-party plugin: its section
is kept as given (:class:`GenericResource`), and the plugin checks it.

Example::

    resource:
      type: nova
      endpoint: https://keystone.example.org:5000/v3
      project_id: 0123456789abcdef
      image_id: 3c9f5b1e-0000-4000-8000-000000000000
      flavor_name: m1.small
      network_id: 7d1d7a1e-0000-4000-8000-000000000000
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from occo.model.values import Seconds, StrictText

__all__ = [
    "RESOURCE_MODELS",
    "AzureAciResource",
    "AzureVmResource",
    "CloudBrokerDescription",
    "CloudBrokerResource",
    "CloudSigmaDescription",
    "CloudSigmaResource",
    "DockerResource",
    "DummyResource",
    "Ec2Resource",
    "GenericResource",
    "LocalResource",
    "NovaResource",
    "ResourceBase",
    "resource_model",
]


class ResourceBase(BaseModel):
    """Common to every resource section: its ``type`` and an optional ``name``.

    ``name`` tells apart resources of one type, e.g. in ``auth_data.yaml``.
    """

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    type: str
    name: str | None = None


# --------------------------------------------------------------------------- Occopus


class NovaResource(ResourceBase):
    """OpenStack Nova. Either ``project_id`` or the older ``tenant_name`` is needed."""

    type: Literal["nova"] = "nova"
    endpoint: str                       # Keystone URL; a /vN suffix selects the API version
    image_id: str
    flavor_name: str
    project_id: str | None = None
    tenant_name: str | None = None      # deprecated by OpenStack, still accepted
    user_domain_name: str | None = None  # Occopus default: "Default"
    region_name: str | None = None
    network_id: str | None = None
    server_name: str | None = None
    key_name: str | None = None
    security_groups: list[str] | None = None
    floating_ip: Any = None             # any value asks for a floating IP
    floating_ip_pool: str | None = None
    volume_size: int | None = Field(default=None, ge=0)   # 0: let OpenStack choose
    volume_persist: bool | None = None

    @model_validator(mode="after")
    def _needs_project(self) -> NovaResource:
        if self.project_id is None and self.tenant_name is None:
            raise ValueError("nova needs 'project_id' (or the older 'tenant_name')")
        return self


class Ec2Resource(ResourceBase):
    """Amazon EC2 or an EC2-compatible cloud."""

    type: Literal["ec2"] = "ec2"
    endpoint: str
    regionname: str
    image_id: str
    instance_type: str
    key_name: str | None = None
    security_group_ids: list[str] | None = None
    subnet_id: str | None = None
    tags: dict[str, str] | None = None


class DockerResource(ResourceBase):
    """A Docker (or Swarm) container.

    ``origin``: ``dockerhub`` (pull), ``local`` (already on the Engine) or the
    URL of an image tarball to import; ``network_mode``: ``bridge``, ``host``,
    ``none`` or a network's name. Occopus required both; occo takes the image
    on the Engine (pulled if missing) and the Engine's default network.
    ``stop_timeout`` (occo's) is the grace a container gets on destroy.
    """

    type: Literal["docker"] = "docker"
    endpoint: str                       # unix:///var/run/docker.sock, tcp://host:2376...
    image: str
    tag: str = "latest"
    origin: str | None = None
    network_mode: str | None = None
    stop_timeout: int = Field(default=10, ge=0, le=3600)


class AzureVmResource(ResourceBase):
    """An Azure virtual machine; needs ``password`` or ``ssh_key_data``."""

    type: Literal["azure_vm"] = "azure_vm"
    endpoint: str
    resource_group: str
    location: str
    vm_size: str
    publisher: str
    offer: str
    sku: str
    version: str
    username: str
    password: str | None = None
    ssh_key_data: str | None = None
    server_name: str | None = None
    vnet_name: str | None = None
    subnet_name: str | None = None
    nic_name: str | None = None
    public_ip_needed: bool | None = None
    customdata: str | None = None

    @model_validator(mode="after")
    def _needs_credential(self) -> AzureVmResource:
        if self.password is None and self.ssh_key_data is None:
            raise ValueError("azure_vm needs either 'password' or 'ssh_key_data'")
        return self


class AzureAciResource(ResourceBase):
    """An Azure Container Instance."""

    type: Literal["azure_aci"] = "azure_aci"
    endpoint: str
    resource_group: str
    location: str
    image: str
    network_type: str                   # "public" or "private"
    memory: float
    cpu_cores: float
    os_type: str                        # "linux" or "windows"
    gpu_type: str | None = None
    gpu_count: int | None = None
    vnet_name: str | None = None
    subnet_name: str | None = None
    ports: list[int | str] | None = None  # 80, or "53/UDP" as Occopus allows

    @field_validator("ports")
    @classmethod
    def _ports_valid(cls, value: list[int | str] | None) -> list[int | str] | None:
        for entry in value or []:
            port, _, protocol = str(entry).partition("/")
            if not port.isdigit() or not 0 < int(port) < 65536 or \
                    protocol.upper() not in ("", "TCP", "UDP"):
                raise ValueError(f"a port is a number within 1..65535, optionally with /TCP or "
                                 f"/UDP, not {entry!r}")
        return value


class CloudBrokerDescription(BaseModel):
    """The ``description`` of a CloudBroker VM; any platform key is passed on."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    deployment_id: str
    instance_type_id: str
    key_pair_id: str | None = None
    opened_port: str | None = None      # comma-separated port numbers


class CloudBrokerResource(ResourceBase):
    """A VM through the CloudBroker platform."""

    type: Literal["cloudbroker"] = "cloudbroker"
    endpoint: str
    description: CloudBrokerDescription
    start_in_vpc: Any = None


class CloudSigmaDescription(BaseModel):
    """A CloudSigma server definition; any key of CloudSigma's server schema is passed on."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    cpu: int
    mem: int
    vnc_password: str


class CloudSigmaResource(ResourceBase):
    """A CloudSigma server booted from a library drive."""

    type: Literal["cloudsigma"] = "cloudsigma"
    endpoint: str
    libdrive_id: str
    description: CloudSigmaDescription


# --------------------------------------------------------------------------- occo


class DummyResource(ResourceBase):
    """A simulated resource, for tests and benchmarks; nothing is created.

    Example::

        resource: {type: dummy, create_delay: 1, boot_delay: 2, fail_rate: 0.1, seed: 7}
    """

    type: Literal["dummy"] = "dummy"
    create_delay: Seconds = 0.0
    boot_delay: Seconds = 0.0
    drop_delay: Seconds = 0.0
    jitter: Seconds = 0.0                         # +- seconds added to each delay
    fail_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int | None = None
    address: str | None = None


class LocalResource(ResourceBase):
    """A process group on this machine standing in for a virtual machine.

    Example::

        resource:
          type: local
          command: [python3, -m, http.server, "8080"]
          ports: [8080]
          network_namespace: true   # root only: own IP on the occo-br0 bridge
    """

    type: Literal["local"] = "local"
    command: StrictText | list[StrictText]
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[int] = Field(default_factory=list)          # ports the process listens on
    network_namespace: bool = False                          # own netns and IP; root only
    workdir: str | None = None
    stop_timeout: Seconds = 5.0

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: str | list[str]) -> str | list[str]:
        if not (shlex.split(value) if isinstance(value, str) else value):
            raise ValueError("command must name a program")
        return value

    @field_validator("env")
    @classmethod
    def _env_names_valid(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not k or "=" in k or "\0" in k]
        if bad:
            raise ValueError(f"invalid environment variable names: {bad}")
        return value

    @field_validator("ports")
    @classmethod
    def _ports_in_range(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 0 < p < 65536]
        if bad:
            raise ValueError(f"ports must be within 1..65535, got {bad}")
        return value

    def argv(self) -> list[str]:
        """The command as an argument vector: a string is split, never run by a shell."""
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


# --------------------------------------------------------------------------- others


class GenericResource(ResourceBase):
    """A resource type occo does not know: kept as written, for its plugin."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


RESOURCE_MODELS: dict[str, type[ResourceBase]] = {
    "nova": NovaResource,
    "ec2": Ec2Resource,
    "docker": DockerResource,
    "azure_vm": AzureVmResource,
    "azure_aci": AzureAciResource,
    "cloudbroker": CloudBrokerResource,
    "cloudsigma": CloudSigmaResource,
    "dummy": DummyResource,
    "local": LocalResource,
}
"""Every resource type whose section occo checks itself, by ``type``."""


def resource_model(type_name: str) -> type[ResourceBase]:
    """The model for a resource type; GenericResource for unknown ones."""
    return RESOURCE_MODELS.get(type_name, GenericResource)
