"""The ``azure_vm`` handler: Azure virtual machines through Resource Manager.

For each instance occo makes, in the node's ``resource_group`` (created when
missing) and ``location``:

* unless ``vnet_name`` names an existing virtual network: a network
  ``occo-<id>-vnet`` (10.0.0.0/16) with a subnet (10.0.0.0/24) named
  ``subnet_name`` or ``occo-<id>-subnet``; with ``vnet_name`` but no
  ``subnet_name``, that subnet is added to the named network;
* with ``public_ip_needed``: a Standard, static public IPv4 ``occo-<id>-ip``;
* unless ``nic_name`` names an existing network interface: ``occo-<id>-nic``
  on that subnet (with the public IP);
* the VM ``occo-<id>`` (computer name ``server_name``, or ``occo-`` and the
  first 8 characters of the instance id), from the marketplace image
  ``publisher``/``offer``/``sku``/``version``, size ``vm_size``, admin
  ``username`` with ``password`` and/or ``ssh_key_data``, OS disk
  ``occo-<id>-osdisk``, and the instance's cloud-init user data (or the
  resource's ``customdata``) as custom data.

Create waits for the network pieces and returns once Azure accepted the VM;
the state is the VM's provisioning state and power state. The address is the
NIC's public IP, else its private one. Destroy deletes the VM, its OS disk,
then the NIC, public IP and network occo made, in that order, and nothing
the node definition named. Example::

    'node_def:worker':
      - resource:
          type: azure_vm
          endpoint: https://management.azure.com
          resource_group: cluster-rg
          location: westeurope
          vm_size: Standard_B2s
          publisher: Canonical
          offer: ubuntu-24_04-lts
          sku: server
          version: latest
          username: operator
          ssh_key_data: ssh-ed25519 AAAA... operator@example.org
          public_ip_needed: true
        contextualisation:
          type: cloudinit
          context_template: !text_import {url: file://worker.yaml}
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel

from occo.context.auth import AuthEntry
from occo.errors import ConfigError, ResourceError
from occo.model.resource_types import AzureVmResource
from occo.model.states import ResourceState
from occo.resources.azure_common import (
    AzureAccount,
    AzureHandler,
    AzureNames,
    AzureSection,
    Make,
    body,
    occo_tags,
    parse_id,
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

MAX_CUSTOM_DATA = 65_535       # bytes Azure takes as custom data, before base64

_S = ResourceState
PROVISIONING_STATE_MAP: dict[str, ResourceState] = {
    "creating": _S.PENDING, "updating": _S.PENDING, "migrating": _S.PENDING,
    "succeeded": _S.RUNNING, "failed": _S.FAILED, "canceled": _S.FAILED,
    "deleting": _S.GONE,
}
POWER_STATE_MAP: dict[str, ResourceState] = {
    "running": _S.RUNNING, "starting": _S.PENDING,
    "stopping": _S.FAILED, "stopped": _S.FAILED, "deallocating": _S.FAILED,
    "deallocated": _S.FAILED,
}
"""A VM's provisioning state, then (once that succeeded) its power state -> occo's."""



def vm_state(vm: dict[str, Any] | None) -> StateReport:
    """Interpret a VM's ARM JSON (with its instance view)."""
    if vm is None:
        return StateReport(ResourceState.GONE, reason="virtual machine no longer exists")
    props = vm.get("properties") or {}
    provisioning = str(props.get("provisioningState") or "")
    state = PROVISIONING_STATE_MAP.get(provisioning.lower(), ResourceState.UNKNOWN)
    statuses = (props.get("instanceView") or {}).get("statuses") or []
    if state == ResourceState.FAILED:
        detail = next((s.get("message") for s in statuses if s.get("message")), None)
        return StateReport(state, reason=f"provisioning {provisioning.lower()}"
                           + (f": {detail}" if detail else ""))
    if state != ResourceState.RUNNING:
        return StateReport(state, reason=f"provisioning state {provisioning or 'unknown'}")
    power = next((str(s["code"]).split("/", 1)[1] for s in statuses
                  if str(s.get("code", "")).startswith("PowerState/")), None)
    if power is None:
        return StateReport(ResourceState.PENDING, reason="no power state yet")
    state = POWER_STATE_MAP.get(power.lower(), ResourceState.UNKNOWN)
    return StateReport(state, reason=None if state == ResourceState.RUNNING else f"VM {power}")


class AzureVmHandler(AzureHandler):
    """Azure virtual machines with the network pieces they need."""

    name: ClassVar[str] = "azure_vm"
    config_model: ClassVar[type[BaseModel]] = AzureVmResource
    kind: ClassVar[str] = "virtual machine"

    def __init__(self, env: HandlerEnv) -> None:
        super().__init__(env, log)

    def _section(self, config: BaseModel) -> AzureVmResource:
        return config_as(AzureVmResource, config)

    def _secrets(self, config: AzureSection) -> tuple[str | None, ...]:
        return (self._section(config).password,)

    # -- create ---------------------------------------------------------------------
    def _plan(self, config: AzureSection, names: AzureNames, request: CreateRequest) -> Make:
        vm = self._section(config)
        custom_data = self._custom_data(vm, request)

        def make(account: AzureAccount) -> None:
            nic_id = self._network(account, vm, names, request)
            account.compute.virtual_machines.begin_create_or_update(
                vm.resource_group, names.vm,
                body(self._vm_body(vm, names, request, nic_id, custom_data)), polling=False)

        return make

    def _custom_data(self, config: AzureVmResource, request: CreateRequest) -> str | None:
        text = request.user_data or config.customdata
        if not text:
            return None
        raw = text.encode()
        if len(raw) > MAX_CUSTOM_DATA:
            raise ConfigError(f"node '{request.node_name}': the user data is {len(raw)} bytes; "
                              f"Azure takes at most {MAX_CUSTOM_DATA}")
        return base64.b64encode(raw).decode()

    def _network(self, account: AzureAccount, config: AzureVmResource, names: AzureNames,
                 request: CreateRequest) -> str:
        """The id of the VM's NIC: the named one, or a new one (with what it needs)."""
        rg, location, tags = config.resource_group, config.location, occo_tags(request)
        network = account.network
        if config.nic_name:
            nic = self._get(network.network_interfaces.get, rg, config.nic_name)
            if nic is None:
                raise ResourceError(f"Azure: resource group {rg} has no network interface "
                                    f"'{config.nic_name}' (nic_name)", handler=self.name)
            if config.public_ip_needed:
                log.warning("azure_vm: public_ip_needed is ignored with nic_name %s: occo "
                            "does not change a network interface it did not make",
                            config.nic_name)
            return str(nic["id"])
        subnet_id = self._subnet(account, rg, location, names, config.vnet_name,
                                 config.subnet_name, request, {})
        ip_config: dict[str, Any] = {"subnet": {"id": subnet_id},
                                     "privateIPAllocationMethod": "Dynamic"}
        if config.public_ip_needed:
            self._finish(network.public_ip_addresses.begin_create_or_update(
                rg, names.public_ip, body({
                    "location": location, "tags": tags, "sku": {"name": "Standard"},
                    "properties": {"publicIPAllocationMethod": "Static",
                                   "publicIPAddressVersion": "IPv4"}})),
                f"creating public IP {names.public_ip}")
            ip_config["publicIPAddress"] = {"id": account.id_of(
                rg, f"Microsoft.Network/publicIPAddresses/{names.public_ip}")}
        self._finish(network.network_interfaces.begin_create_or_update(rg, names.nic, body({
            "location": location, "tags": tags,
            "properties": {"ipConfigurations": [{"name": "ipconfig1",
                                                 "properties": ip_config}]}})),
            f"creating network interface {names.nic}")
        return account.id_of(rg, f"Microsoft.Network/networkInterfaces/{names.nic}")

    @staticmethod
    def _vm_body(config: AzureVmResource, names: AzureNames, request: CreateRequest,
                 nic_id: str, custom_data: str | None) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "computerName": config.server_name or f"occo-{request.instance_id[:8]}",
            "adminUsername": config.username}
        if config.password:
            profile["adminPassword"] = config.password
        if config.ssh_key_data:
            profile["linuxConfiguration"] = {
                "disablePasswordAuthentication": config.password is None,
                "ssh": {"publicKeys": [{"path": f"/home/{config.username}/.ssh/authorized_keys",
                                        "keyData": config.ssh_key_data}]}}
        if custom_data:
            profile["customData"] = custom_data
        return {
            "location": config.location, "tags": occo_tags(request),
            "properties": {
                "hardwareProfile": {"vmSize": config.vm_size},
                "storageProfile": {
                    "imageReference": {"publisher": config.publisher, "offer": config.offer,
                                       "sku": config.sku, "version": config.version},
                    "osDisk": {"name": names.os_disk, "createOption": "FromImage",
                               "deleteOption": "Delete"}},
                "osProfile": profile,
                "networkProfile": {"networkInterfaces": [
                    {"id": nic_id, "properties": {"primary": True, "deleteOption": "Detach"}}]},
            }}

    # -- inspect --------------------------------------------------------------------
    def _vm(self, ref: ResourceRef) -> tuple[dict[str, Any] | None, AzureAccount, AuthEntry,
                                             AzureVmResource]:
        config = config_as(AzureVmResource, ref.config)
        account, entry = self._account(config)
        try:
            vm = self._get(account.compute.virtual_machines.get, config.resource_group,
                           ref.resource_id, expand="instanceView")
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading virtual machine {ref.resource_id}", config,
                              entry) from None
        return vm, account, entry, config

    def state(self, ref: ResourceRef) -> StateReport:
        vm, *_ = self._vm(ref)
        return vm_state(vm)

    def address(self, ref: ResourceRef) -> Address:
        vm, account, entry, config = self._vm(ref)
        if vm is None:
            return Address(public=None)
        try:
            nics = vm["properties"]["networkProfile"]["networkInterfaces"]
            rg, nic_name = parse_id(nics[0]["id"])
            nic = self._get(account.network.network_interfaces.get, rg, nic_name)
            if nic is None:
                return Address(public=None)
            ip_config = nic["properties"]["ipConfigurations"][0]["properties"]
            private = ip_config.get("privateIPAddress")
            public = None
            if ip_config.get("publicIPAddress"):
                pip_rg, pip_name = parse_id(ip_config["publicIPAddress"]["id"])
                pip = self._get(account.network.public_ip_addresses.get, pip_rg, pip_name)
                public = ((pip or {}).get("properties") or {}).get("ipAddress")
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, f"reading the address of {ref.resource_id}", config,
                              entry) from None
        return Address(public=public or private, private=private)

    def _lookups(self, account: AzureAccount, config: AzureSection,
                 names: AzureNames) -> list[Callable[[], dict[str, Any] | None]]:
        rg, network = config.resource_group, account.network
        return [lambda: self._get(account.compute.virtual_machines.get, rg, names.vm),
                lambda: self._get(network.network_interfaces.get, rg, names.nic),
                lambda: self._get(network.public_ip_addresses.get, rg, names.public_ip),
                lambda: self._get(network.virtual_networks.get, rg, names.vnet)]

    # -- destroy --------------------------------------------------------------------
    def _remove_all(self, account: AzureAccount, config: AzureSection,
                    names: AzureNames) -> None:
        """The VM, its OS disk, then the NIC, public IP and network occo made."""
        vm = self._section(config)
        rg, network, compute = vm.resource_group, account.network, account.compute
        self._delete(lambda: compute.virtual_machines.begin_delete(rg, names.vm),
                     f"deleting virtual machine {names.vm}")
        self._delete(lambda: compute.disks.begin_delete(rg, names.os_disk),
                     f"deleting disk {names.os_disk}")
        if not vm.nic_name:
            self._delete(lambda: network.network_interfaces.begin_delete(rg, names.nic),
                         f"deleting network interface {names.nic}")
            self._delete(lambda: network.public_ip_addresses.begin_delete(rg, names.public_ip),
                         f"deleting public IP {names.public_ip}")
            self._remove_network(account, rg, names, vm.vnet_name, vm.subnet_name)
