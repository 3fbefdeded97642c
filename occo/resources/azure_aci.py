"""The ``azure_aci`` handler: Azure Container Instances through Resource Manager.

Each instance is a container group ``occo-<instance id>`` holding one
container of the same name: ``image``, ``cpu_cores`` and ``memory`` (GB),
optionally ``gpu_type``/``gpu_count``, the ``ports`` it listens on (a number,
or ``"53/UDP"``), ``os_type``. The node's ``docker`` contextualisation gives
the container's ``env`` and ``command`` (a list, or a string split as a
shell would, without a shell). ``network_type: public`` gives the group a
public IP and the DNS name ``occo-<id>.<location>.azurecontainer.io``, also
passed to the container as ``_OCCOPUS_ALLOCATED_FQDN`` (as Occopus does);
``network_type: private`` puts it on a subnet delegated to container
instances: ``subnet_name`` in ``vnet_name`` when named (the subnet must be
delegated already), else one occo makes (``occo-<id>-vnet`` /
``occo-<id>-subnet``, or a new subnet in the named network).

The state is the group's provisioning state and instance state; the address
is its IP. Destroy deletes the group, then the network pieces occo made.
Example::

    'node_def:web':
      - resource:
          type: azure_aci
          endpoint: https://management.azure.com
          resource_group: cluster-rg
          location: westeurope
          image: nginx:1.27
          network_type: public
          cpu_cores: 1
          memory: 1.5
          os_type: linux
          ports: [80]
        contextualisation:
          type: docker
          env: ["GREETING=hello from {{ infra_name }}"]
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.errors import DescriptionError
from occo.model.resource_types import AzureAciResource
from occo.model.states import ResourceState
from occo.resources.azure_common import (
    AzureAccount,
    AzureHandler,
    AzureNames,
    AzureSection,
    Make,
    body,
    occo_tags,
)
from occo.resources.base import (
    Address,
    CreateRequest,
    HandlerEnv,
    ResourceRef,
    StateReport,
    config_as,
)

log = logging.getLogger(__name__)

FQDN_VARIABLE = "_OCCOPUS_ALLOCATED_FQDN"
ACI_SERVICE = "Microsoft.ContainerInstance/containerGroups"

_S = ResourceState
GROUP_STATE_MAP: dict[str, ResourceState] = {
    "pending": _S.PENDING, "creating": _S.PENDING, "updating": _S.PENDING,
    "repairing": _S.PENDING, "succeeded": _S.RUNNING, "failed": _S.FAILED,
    "canceled": _S.FAILED, "deleting": _S.GONE,
}
INSTANCE_STATE_MAP: dict[str, ResourceState] = {
    "pending": _S.PENDING, "running": _S.RUNNING, "stopped": _S.FAILED,
    "terminated": _S.FAILED, "failed": _S.FAILED,
}
"""A group's provisioning state, then (once that succeeded) its instance state -> occo's."""



def container_spec(request: CreateRequest) -> tuple[dict[str, str], list[str] | None]:
    """(env, command) from the docker contextualisation's user data."""
    if not request.user_data:
        return {}, None
    try:
        spec = json.loads(request.user_data)
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or set(spec) != {"env", "command"}:
        raise DescriptionError(f"node '{request.node_name}': azure_aci runs a container, "
                               "which takes a 'docker' contextualisation (env, command), "
                               "not cloud-init user data")
    env = {str(k): "" if v is None else str(v) for k, v in (spec["env"] or {}).items()}
    command = spec["command"]
    if isinstance(command, str):
        command = shlex.split(command)
    return env, [str(c) for c in command] if command else None


def port_list(config: AzureAciResource) -> list[dict[str, Any]]:
    out = []
    for entry in config.ports or []:
        port, _, protocol = str(entry).partition("/")
        out.append({"port": int(port), "protocol": (protocol or "TCP").upper()})
    return out


def group_state(group: dict[str, Any] | None) -> StateReport:
    """Interpret a container group's ARM JSON."""
    if group is None:
        return StateReport(ResourceState.GONE, reason="container group no longer exists")
    props = group.get("properties") or {}
    provisioning = str(props.get("provisioningState") or "")
    state = GROUP_STATE_MAP.get(provisioning.lower(), ResourceState.UNKNOWN)
    if state != ResourceState.RUNNING:
        events = [e.get("message") for e in (props.get("instanceView") or {}).get("events") or []
                  if e.get("message")]
        return StateReport(state, reason=f"provisioning state {provisioning or 'unknown'}"
                           + (f": {events[-1]}" if events and state == _S.FAILED else ""))
    running = str((props.get("instanceView") or {}).get("state") or "pending")
    state = INSTANCE_STATE_MAP.get(running.lower(), ResourceState.UNKNOWN)
    return StateReport(state, reason=None if state == ResourceState.RUNNING
                       else f"container group is {running}")


class AzureAciHandler(AzureHandler):
    """Azure container groups of one container each."""

    name: ClassVar[str] = "azure_aci"
    config_model: ClassVar[type[BaseModel]] = AzureAciResource
    kind: ClassVar[str] = "container group"

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env, log)

    def _section(self, config: BaseModel) -> AzureAciResource:
        return config_as(AzureAciResource, config)

    # -- create ---------------------------------------------------------------------
    def _plan(self, config: AzureSection, names: AzureNames, request: CreateRequest) -> Make:
        aci = self._section(config)
        env, command = container_spec(request)
        private = self._network_type(aci, request) == "private"
        ports = port_list(aci)
        if not private and not ports:
            raise DescriptionError(f"node '{request.node_name}': azure_aci with a public "
                                   "network needs at least one of 'ports'")
        address: dict[str, Any] = {"ports": ports, "type": "Private" if private else "Public"}
        if not private:
            address["dnsNameLabel"] = names.group
            env[FQDN_VARIABLE] = f"{names.group}.{aci.location.lower()}.azurecontainer.io"
        requests: dict[str, Any] = {"cpu": aci.cpu_cores, "memoryInGB": aci.memory}
        if aci.gpu_type:
            requests["gpu"] = {"count": aci.gpu_count or 1, "sku": aci.gpu_type}
        container: dict[str, Any] = {
            "image": aci.image, "ports": ports,
            "environmentVariables": [{"name": k, "value": v} for k, v in env.items()],
            "resources": {"requests": requests}}
        if command:
            container["command"] = command
        properties: dict[str, Any] = {
            "osType": aci.os_type.capitalize(), "ipAddress": address,
            "containers": [{"name": names.group, "properties": container}]}

        def make(account: AzureAccount) -> None:
            if private:
                properties["subnetIds"] = [{"id": self._subnet(
                    account, aci.resource_group, aci.location, names, aci.vnet_name,
                    aci.subnet_name, request, {"delegations": [
                        {"name": "aci", "properties": {"serviceName": ACI_SERVICE}}]})}]
            account.containers.container_groups.begin_create_or_update(
                aci.resource_group, names.group,
                body({"location": aci.location, "tags": occo_tags(request),
                      "properties": properties}), polling=False)

        return make

    @staticmethod
    def _network_type(config: AzureAciResource, request: CreateRequest) -> str:
        kind = config.network_type.lower()
        if kind not in ("public", "private"):
            raise DescriptionError(f"node '{request.node_name}': azure_aci network_type must "
                                   f"be 'public' or 'private', not {config.network_type!r}")
        return kind

    # -- inspect --------------------------------------------------------------------
    def _group(self, ref: ResourceRef) -> dict[str, Any] | None:
        config = config_as(AzureAciResource, ref.config)
        account, entry = self._account(config)
        try:
            return self._get(account.containers.container_groups.get, config.resource_group,
                             ref.resource_id)
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading container group {ref.resource_id}", config,
                              entry) from None

    def state(self, ref: ResourceRef) -> StateReport:
        return group_state(self._group(ref))

    def address(self, ref: ResourceRef) -> Address:
        group = self._group(ref)
        address = ((group or {}).get("properties") or {}).get("ipAddress") or {}
        ip = address.get("ip")
        if not ip:
            return Address(public=None)
        if str(address.get("type")).lower() == "private":
            return Address(public=None, private=str(ip))
        return Address(public=str(ip))

    def _lookups(self, account: AzureAccount, config: AzureSection,
                 names: AzureNames) -> list[Callable[[], dict[str, Any] | None]]:
        rg = config.resource_group
        return [lambda: self._get(account.containers.container_groups.get, rg, names.group),
                lambda: self._get(account.network.virtual_networks.get, rg, names.vnet)]

    # -- destroy --------------------------------------------------------------------
    def _remove_all(self, account: AzureAccount, config: AzureSection,
                    names: AzureNames) -> None:
        """The container group, then the network occo made for it."""
        aci = self._section(config)
        rg, groups = aci.resource_group, account.containers.container_groups
        self._delete(lambda: groups.begin_delete(rg, names.group),
                     f"deleting container group {names.group}")
        if aci.network_type.lower() == "private":
            self._remove_network(account, rg, names, aci.vnet_name, aci.subnet_name)
