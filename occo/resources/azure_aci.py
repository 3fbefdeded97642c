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
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.errors import DescriptionError
from occo.model.resource_types import AzureAciResource
from occo.model.states import ResourceState
from occo.resources.azure_common import (
    TAG_INSTANCE,
    AzureAccount,
    AzureHandler,
    AzureNames,
    body,
    occo_tags,
)
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    HandlerEnv,
    ResourceRef,
    StateReport,
)

log = logging.getLogger(__name__)

FQDN_VARIABLE = "_OCCOPUS_ALLOCATED_FQDN"
ACI_SERVICE = "Microsoft.ContainerInstance/containerGroups"
VNET_PREFIX = "10.0.0.0/16"
SUBNET_PREFIX = "10.0.0.0/24"

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


def to_azure_aci_config(config: BaseModel) -> AzureAciResource:
    if isinstance(config, AzureAciResource):
        return config
    return AzureAciResource.model_validate(config.model_dump())


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

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env, log)

    # -- create ---------------------------------------------------------------------
    def create(self, request: CreateRequest) -> CreateResult:
        config = to_azure_aci_config(request.config)
        names = AzureNames.of(request.instance_id)
        try:
            account, entry = self._account(config)
            env, command = container_spec(request)
            private = self._network_type(config, request) == "private"
            ports = port_list(config)
            if not private and not ports:
                raise DescriptionError(f"node '{request.node_name}': azure_aci with a public "
                                       "network needs at least one of 'ports'")
        except Exception:
            self._not_created.add(request.instance_id)
            raise
        doing = f"creating a container group for node '{request.node_name}'"
        made = False
        try:
            self._ensure_group(account, config.resource_group, config.location)
            made = True
            address: dict[str, Any] = {"ports": ports, "type": "Private" if private else "Public"}
            group_props: dict[str, Any] = {}
            if private:
                group_props["subnetIds"] = [{"id": self._subnet(account, config, names,
                                                                request)}]
            else:
                address["dnsNameLabel"] = names.group
                env[FQDN_VARIABLE] = f"{names.group}.{config.location.lower()}" \
                                     ".azurecontainer.io"
            requests: dict[str, Any] = {"cpu": config.cpu_cores, "memoryInGB": config.memory}
            if config.gpu_type:
                requests["gpu"] = {"count": config.gpu_count or 1, "sku": config.gpu_type}
            container: dict[str, Any] = {
                "image": config.image, "ports": [{"port": p["port"], "protocol": p["protocol"]}
                                                 for p in ports],
                "environmentVariables": [{"name": k, "value": v} for k, v in env.items()],
                "resources": {"requests": requests}}
            if command:
                container["command"] = command
            group_props.update({
                "osType": config.os_type.capitalize(), "ipAddress": address,
                "containers": [{"name": names.group, "properties": container}]})
            account.containers.container_groups.begin_create_or_update(
                config.resource_group, names.group,
                body({"location": config.location, "tags": occo_tags(request),
                      "properties": group_props}),
                polling=False)
        except Exception as exc:  # noqa: BLE001 - undone, then reported as one message
            error = self._error(exc, doing, config, entry)
            if not made or self._undo(account, config, names):
                self._not_created.add(request.instance_id)
            raise error from None
        log.debug("azure container group %s created for instance %s", names.group,
                  request.instance_id)
        return CreateResult(resource_id=names.group,
                            data={"resource_group": config.resource_group})

    @staticmethod
    def _network_type(config: AzureAciResource, request: CreateRequest) -> str:
        kind = config.network_type.lower()
        if kind not in ("public", "private"):
            raise DescriptionError(f"node '{request.node_name}': azure_aci network_type must "
                                   f"be 'public' or 'private', not {config.network_type!r}")
        return kind

    def _subnet(self, account: AzureAccount, config: AzureAciResource, names: AzureNames,
                request: CreateRequest) -> str:
        """The id of the delegated subnet a private group joins (made when not named)."""
        rg, network = config.resource_group, account.network
        delegated = {"addressPrefix": SUBNET_PREFIX, "delegations": [
            {"name": "aci", "properties": {"serviceName": ACI_SERVICE}}]}
        subnet_name = config.subnet_name or names.subnet
        if config.vnet_name:
            vnet_name = config.vnet_name
            if config.subnet_name is None:
                self._finish(network.subnets.begin_create_or_update(
                    rg, vnet_name, subnet_name, body({"properties": delegated})),
                    f"creating subnet {subnet_name}")
        else:
            vnet_name = names.vnet
            self._finish(network.virtual_networks.begin_create_or_update(rg, vnet_name, body({
                "location": config.location, "tags": occo_tags(request),
                "properties": {"addressSpace": {"addressPrefixes": [VNET_PREFIX]},
                               "subnets": [{"name": subnet_name, "properties": delegated}]}})),
                f"creating virtual network {vnet_name}")
        return account.id_of(rg, f"Microsoft.Network/virtualNetworks/{vnet_name}/subnets/"
                                 f"{subnet_name}")

    def _undo(self, account: AzureAccount, config: AzureAciResource, names: AzureNames) -> bool:
        try:
            self._remove_all(account, config, names)
        except Exception as exc:  # noqa: BLE001 - the create's error is the one reported
            log.warning("%s", self._error(exc, "removing a half-created container group",
                                          config))
            return False
        return True

    # -- inspect --------------------------------------------------------------------
    def _group(self, ref: ResourceRef) -> dict[str, Any] | None:
        config = to_azure_aci_config(ref.config)
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

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """The container group made for ``instance_id``, or the network made for it."""
        if instance_id in self._not_created:
            return None
        aci = to_azure_aci_config(config)
        account, entry = self._account(aci)
        names, rg = AzureNames.of(instance_id), aci.resource_group
        try:
            found = [self._get(account.containers.container_groups.get, rg, names.group),
                     self._get(account.network.virtual_networks.get, rg, names.vnet)]
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "looking for a lost container group", aci, entry) from None
        if any(r is not None and (r.get("tags") or {}).get(TAG_INSTANCE) == instance_id
               for r in found):
            return CreateResult(resource_id=names.group, data={"resource_group": rg})
        return None

    # -- destroy --------------------------------------------------------------------
    def destroy(self, ref: ResourceRef) -> None:
        config = to_azure_aci_config(ref.config)
        account, entry = self._account(config)
        try:
            self._remove_all(account, config, AzureNames.of(ref.instance_id))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"deleting container group {ref.resource_id}", config,
                              entry) from None
        log.debug("azure container group %s deleted (instance %s)", ref.resource_id,
                  ref.instance_id)

    def _remove_all(self, account: AzureAccount, config: AzureAciResource,
                    names: AzureNames) -> None:
        rg, network = config.resource_group, account.network
        groups = account.containers.container_groups
        self._delete(lambda: groups.begin_delete(rg, names.group),
                     f"deleting container group {names.group}")
        if config.network_type.lower() != "private":
            return
        if not config.vnet_name:
            self._delete(lambda: network.virtual_networks.begin_delete(rg, names.vnet),
                         f"deleting virtual network {names.vnet}")
        elif not config.subnet_name:
            vnet = config.vnet_name
            self._delete(lambda: network.subnets.begin_delete(rg, vnet, names.subnet),
                         f"deleting subnet {names.subnet} of {vnet}")
