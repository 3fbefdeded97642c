"""A stateful fake of Azure Resource Manager and its token endpoint, for azure_vm and azure_aci.

One HTTPS server (the Azure SDK sends bearer tokens over TLS only; see
:mod:`tests.clouds.tls`) plays both parts:

* the identity platform: ``GET /{tenant}/v2.0/.well-known/openid-configuration``
  and ``POST /{tenant}/oauth2/v2.0/token`` (client credentials grant). A
  wrong tenant, client id or secret gets the identity platform's error JSON
  (``AADSTS...``), and no token.
* Resource Manager: every ``/subscriptions/...`` request needs a token the
  fake issued (else 401 ``InvalidAuthenticationToken``). Resource groups,
  virtual networks and subnets, public IPs, network interfaces, virtual
  machines with their managed OS disk, and container groups are kept as ARM
  JSON. Writes are long-running operations answered as ARM answers them: a
  PUT is 201 with an ``Azure-AsyncOperation`` header to poll, a DELETE is 202
  with a ``Location`` to poll (202 until done, then 204); an operation
  completes after ``lro_polls`` looks (at the operation, or at the resource
  it changes), and only then does the resource read ``Succeeded`` (or
  disappear).

ARM's rules that catch a wrong order or a leak are enforced: a NIC attached to
a VM, a public IP on a NIC, a subnet in use or a disk attached to a VM cannot
be deleted; a VM needs an existing, unattached NIC and a known image; a
container group on a subnet needs the subnet delegated to container
instances. Over ``quota_vms`` VMs or ``quota_container_groups`` groups a PUT
is refused with ARM's quota error (409). A VM whose size is in
``failing_sizes`` fails provisioning (``AllocationFailed``), and so does a
container group whose image is in ``failing_images`` (it cannot be pulled).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from tests.clouds.fakehttp import FakeHttpServer
from tests.clouds.tls import TestCertificates

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "c1d2e3f4-0000-4000-8000-0000000000c1"
CLIENT_SECRET = "azure-client-secret-value"
SUBSCRIPTION = "8f1c2a3b-0000-4000-8000-00000000a2e0"
LOCATION = "westeurope"
IMAGE = ("Canonical", "ubuntu-24_04-lts", "server")

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG_PATH = SUB + r"/resource[gG]roups/(?P<rg>[^/]+)"
RESOURCE_PATH = RG_PATH + r"/providers/(?P<ns>[^/]+)/(?P<rest>.+)"
OPERATION_PATH = SUB + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/" \
                       r"(?P<kind>operations|operationResults)/(?P<op>[^/]+)"

VM = "microsoft.compute/virtualmachines"
DISK = "microsoft.compute/disks"
VNET = "microsoft.network/virtualnetworks"
SUBNET = "microsoft.network/virtualnetworks/subnets"
PIP = "microsoft.network/publicipaddresses"
NIC = "microsoft.network/networkinterfaces"
GROUP = "microsoft.containerinstance/containergroups"
ACI_DELEGATION = "Microsoft.ContainerInstance/containerGroups"


def arm_error(status: int, code: str, message: str,
              headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status=status,
                    content_type="application/json", headers=headers)


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json",
                    headers=headers)


class Refused(Exception):
    """An ARM error answer, raised from deep inside a validation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = arm_error(status, code, message)


@dataclass
class Operation:
    id: str
    method: str                   # PUT or DELETE
    key: str                      # the resource's lower-case id
    polls_left: int
    status: str = "InProgress"
    error: dict[str, str] | None = None


def _key(resource_id: str) -> str:
    return resource_id.rstrip("/").lower()


def _type_of(ns: str, rest: str) -> tuple[str, str]:
    """(lower-case resource type, name) of ``{ns}/{type}/{name}[/{sub}/{name}]``."""
    parts = rest.strip("/").split("/")
    kinds, names = parts[0::2], parts[1::2]
    return "/".join([ns.lower(), *[k.lower() for k in kinds]]), names[-1]


class FakeAzure(FakeHttpServer):
    """The fake; ``start()`` it, use :attr:`base` as both endpoint and authority."""

    name = "fake-azure"

    def __init__(self, certificates: TestCertificates, *, lro_polls: int = 1,
                 quota_vms: int = 10, quota_container_groups: int = 10) -> None:
        super().__init__(certificates.server_context())
        self.lro_polls = lro_polls
        self.quota_vms = quota_vms
        self.quota_container_groups = quota_container_groups
        self.failing_sizes: set[str] = set()
        self.failing_images: set[str] = set()         # container images that fail to pull
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.preexisting: set[str] = set()
        self.vm_requests: list[dict[str, Any]] = []
        self.group_requests: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self._ips = itertools.count(10)
        self.route("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration",
                   self._openid)
        self.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self._token)
        for method in ("HEAD", "GET", "PUT"):
            self.route(method, RG_PATH, self._group)
        self.route("GET", OPERATION_PATH, self._operation)
        self.route("GET", RESOURCE_PATH, self._get)
        self.route("PUT", RESOURCE_PATH, self._put)
        self.route("DELETE", RESOURCE_PATH, self._delete)

    # -- what tests look at -------------------------------------------------------------
    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}"

    def live(self) -> list[str]:
        """Resources occo may have made: all but resource groups and pre-existing ones."""
        with self.lock:
            return sorted(r["id"] for k, r in self.resources.items()
                          if k not in self.preexisting and r["type"] != "resourceGroups")

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((r for r in self.resources.values()
                         if r["_kind"] == kind and r["name"] == name), None)

    def remove(self, kind: str, name: str) -> None:
        """Delete a resource at once, as someone in the portal would (and what goes with
        it: a VM's OS disk set to be deleted with it, a network's subnets)."""
        with self.lock:
            found = next(r for r in self.resources.values()
                         if r["_kind"] == kind and r["name"] == name)
            self._remove(found)

    def custom_data_received(self) -> list[str | None]:
        """The decoded customData of every VM create, in order."""
        out = []
        for body in self.vm_requests:
            data = (((body.get("properties") or {}).get("osProfile") or {}).get("customData"))
            out.append(base64.b64decode(data).decode() if data else None)
        return out

    # -- setting the scene --------------------------------------------------------------
    def add_resource_group(self, rg: str, location: str = LOCATION) -> None:
        with self.lock:
            self._store(self.rg_id(rg), "resourcegroups", rg,
                        {"location": location, "properties": {"provisioningState": "Succeeded"}})
            self.preexisting.add(_key(self.rg_id(rg)))

    def add_network(self, rg: str, vnet: str, subnet: str, prefix: str = "10.9.0.0/16",
                    delegated: bool = False) -> None:
        """A virtual network and subnet of the user's own, made outside occo."""
        base = f"{self.rg_id(rg)}/providers/Microsoft.Network/virtualNetworks/{vnet}"
        with self.lock:
            self._store(base, VNET, vnet, {"location": LOCATION, "properties": {
                "addressSpace": {"addressPrefixes": [prefix]}, "provisioningState": "Succeeded"}})
            delegations = [{"name": "aci", "properties": {"serviceName": ACI_DELEGATION}}] \
                if delegated else []
            self._store(f"{base}/subnets/{subnet}", SUBNET, subnet, {"properties": {
                "addressPrefix": prefix.replace("/16", "/24"), "delegations": delegations,
                "provisioningState": "Succeeded"}})
            self.preexisting |= {_key(base), _key(f"{base}/subnets/{subnet}")}

    def add_nic(self, rg: str, vnet: str, subnet: str, nic: str) -> None:
        """A network interface of the user's own on an existing subnet."""
        nic_id = f"{self.rg_id(rg)}/providers/Microsoft.Network/networkInterfaces/{nic}"
        subnet_id = f"{self.rg_id(rg)}/providers/Microsoft.Network/virtualNetworks/{vnet}" \
                    f"/subnets/{subnet}"
        with self.lock:
            body = {"location": LOCATION, "properties": {"ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}]}}
            self._create(nic_id, NIC, nic, body)
            self.resources[_key(nic_id)]["properties"]["provisioningState"] = "Succeeded"
            self.preexisting.add(_key(nic_id))

    # -- identity -----------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if not request.path.startswith("/subscriptions/"):
            return None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[len("Bearer "):] in self.tokens:
            return None
        with self.lock:
            self.auth_failures += 1
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.",
                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def _openid(self, request: Request, tenant: str) -> Response:
        base = f"{self.base}/{tenant}"
        return ok({"token_endpoint": f"{base}/oauth2/v2.0/token",
                   "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                   "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                   "issuer": f"{base}/v2.0", "tenant_region_scope": "EU"})

    def _token(self, request: Request, tenant: str) -> Response:
        self.token_requests += 1
        form = parse_qs(request.get_data(as_text=True))
        given = {k: v[0] for k, v in form.items()}
        if tenant != TENANT:
            return self._identity_error(400, "invalid_request", 90002,
                                        f"Tenant '{tenant}' not found.")
        if given.get("client_id") != CLIENT_ID:
            return self._identity_error(400, "unauthorized_client", 700016,
                                        f"Application with identifier "
                                        f"'{given.get('client_id')}' was not found in the "
                                        f"directory '{tenant}'.")
        if given.get("client_secret") != CLIENT_SECRET:
            return self._identity_error(401, "invalid_client", 7000215,
                                        "Invalid client secret provided.")
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return ok({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                   "access_token": token})

    def _identity_error(self, status: int, error: str, code: int, text: str) -> Response:
        self.auth_failures += 1
        return ok({"error": error, "error_description": f"AADSTS{code}: {text}",
                   "error_codes": [code], "timestamp": "2025-01-01 00:00:00Z",
                   "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())},
                  status)

    # -- resource groups ----------------------------------------------------------------
    def _group(self, request: Request, sub: str, rg: str) -> Response:
        if sub != SUBSCRIPTION:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could "
                             "not be found.")
        key = _key(self.rg_id(rg))
        found = self.resources.get(key)
        if request.method == "HEAD":
            return Response(status=204 if found else 404)
        if request.method == "GET":
            return ok(self._view(found)) if found else arm_error(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        body = request.get_json(silent=True) or {}
        if found is not None:
            return ok(self._view(found))
        self._store(self.rg_id(rg), "resourcegroups", rg,
                    {"location": body.get("location"), "tags": body.get("tags") or {},
                     "properties": {"provisioningState": "Succeeded"}})
        return ok(self._view(self.resources[key]), 201)

    # -- operations ---------------------------------------------------------------------
    def _tick(self, op: Operation) -> None:
        if op.status != "InProgress":
            return
        op.polls_left -= 1
        if op.polls_left > 0:
            return
        resource = self.resources.get(op.key)
        if op.method == "DELETE":
            op.status = "Succeeded"
            if resource is not None:
                self._remove(resource)
            return
        if resource is None:
            op.status = "Succeeded"
            return
        if resource["_kind"] == VM and \
                resource["properties"]["hardwareProfile"].get("vmSize") in self.failing_sizes:
            op.status = "Failed"
            op.error = {"code": "AllocationFailed", "message": "Allocation failed. We do not "
                        "have sufficient capacity for the requested VM size in this region."}
            resource["properties"]["provisioningState"] = "Failed"
            resource["_error"] = op.error
            return
        if resource["_kind"] == GROUP and resource["properties"]["containers"][0][
                "properties"]["image"] in self.failing_images:
            op.status = "Failed"
            op.error = {"code": "InaccessibleImage", "message": "The image is not accessible."}
            resource["properties"]["provisioningState"] = "Failed"
            resource["properties"]["instanceView"] = {"state": "Pending", "events": [
                {"name": "Failed", "type": "Warning", "message": "Failed to pull image "
                 f"\"{resource['properties']['containers'][0]['properties']['image']}\""}]}
            return
        op.status = "Succeeded"
        resource["properties"]["provisioningState"] = "Succeeded"
        if resource["_kind"] == GROUP:
            resource["properties"]["instanceView"] = {"state": "Running"}

    def _operation(self, request: Request, sub: str, ns: str, loc: str, kind: str,
                   op: str) -> Response:
        operation = self.operations.get(op)
        if operation is None:
            return arm_error(404, "OperationNotFound", f"Operation {op} not found.")
        self._tick(operation)
        if kind == "operations":
            body: dict[str, Any] = {"id": op, "name": op, "status": operation.status}
            if operation.error:
                body["error"] = operation.error
            return ok(body)
        if operation.status == "InProgress":
            return Response(status=202, headers={"Location": request.url,
                                                 "Retry-After": "0"})
        return Response(status=204)

    def _start(self, method: str, key: str, ns: str) -> tuple[Operation, dict[str, str]]:
        """A long-running operation on ``key``, and the header that says where to poll it."""
        op = Operation(str(uuid.uuid4()), method, key, self.lro_polls)
        self.operations[op.id] = op
        where = f"{self.base}/subscriptions/{SUBSCRIPTION}/providers/{ns}/locations/{LOCATION}"
        if method == "PUT":
            return op, {"Azure-AsyncOperation":
                        f"{where}/operations/{op.id}?api-version=2024-01-01"}
        return op, {"Location": f"{where}/operationResults/{op.id}?api-version=2024-01-01"}

    def _pending(self, key: str) -> Operation | None:
        return next((o for o in self.operations.values()
                     if o.key == key and o.status == "InProgress"), None)

    # -- generic resources --------------------------------------------------------------
    def _store(self, resource_id: str, kind: str, name: str, body: dict[str, Any]) -> None:
        resource = {"id": resource_id, "name": name, "_kind": kind, "type": kind,
                    "location": body.get("location"), "tags": dict(body.get("tags") or {}),
                    "properties": copy.deepcopy(body.get("properties") or {})}
        if kind == "resourcegroups":
            resource["type"] = "resourceGroups"
        self.resources[_key(resource_id)] = resource

    def _view(self, resource: dict[str, Any], expand: str | None = None) -> dict[str, Any]:
        view = {k: v for k, v in resource.items() if not k.startswith("_")}
        view["properties"] = dict(resource["properties"])
        kind = resource["_kind"]
        if kind == VNET:
            prefix = _key(resource["id"]) + "/subnets/"
            view["properties"]["subnets"] = [self._view(r) for k, r in self.resources.items()
                                             if k.startswith(prefix)]
        if kind == VM and expand == "instanceView":
            view["properties"]["instanceView"] = self._vm_instance_view(resource)
        return view

    def _vm_instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        state = vm["properties"]["provisioningState"]
        statuses = [{"code": f"ProvisioningState/{state.lower()}", "level": "Info",
                     "displayStatus": f"Provisioning {state.lower()}"}]
        if state == "Succeeded":
            statuses.append({"code": "PowerState/running", "level": "Info",
                             "displayStatus": "VM running"})
        if state == "Failed" and vm.get("_error"):
            statuses[0].update({"level": "Error", "message": vm["_error"]["message"]})
        disk = vm["properties"]["storageProfile"]["osDisk"]["name"]
        return {"statuses": statuses, "disks": [{"name": disk}]}

    def _get(self, request: Request, sub: str, rg: str, ns: str, rest: str) -> Response:
        key = _key(request.path)
        resource = self.resources.get(key)
        op = self._pending(key)
        if op is not None:
            self._tick(op)
            resource = self.resources.get(key)
        if resource is None:
            return arm_error(404, "ResourceNotFound", f"The Resource '{ns}/{rest}' under "
                             f"resource group '{rg}' was not found.")
        return ok(self._view(resource, request.args.get("$expand")))

    def _put(self, request: Request, sub: str, rg: str, ns: str, rest: str) -> Response:
        if _key(self.rg_id(rg)) not in self.resources:
            return arm_error(404, "ResourceGroupNotFound",
                             f"Resource group '{rg}' could not be found.")
        kind, name = _type_of(ns, rest)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return arm_error(400, "InvalidRequestContent", "The request content is not JSON.")
        key = _key(request.path)
        if key in self.resources:
            return arm_error(409, "Conflict", f"{name} exists; occo never updates")
        try:
            self._create(request.path, kind, name, body)
        except Refused as refused:
            self.resources.pop(key, None)
            return refused.response
        self.resources[key]["properties"]["provisioningState"] = "Creating" \
            if kind in (VM, GROUP) else "Updating"
        _, headers = self._start("PUT", key, ns)
        return ok(self._view(self.resources[key]), 201, headers)

    def _delete(self, request: Request, sub: str, rg: str, ns: str, rest: str) -> Response:
        key = _key(request.path)
        resource = self.resources.get(key)
        if resource is None:
            return Response(status=204)
        try:
            self._check_delete(resource)
        except Refused as refused:
            return refused.response
        resource["properties"]["provisioningState"] = "Deleting"
        _, headers = self._start("DELETE", key, ns)
        return Response(status=202, headers={**headers, "Retry-After": "0"})

    # -- per type -----------------------------------------------------------------------
    def _create(self, resource_id: str, kind: str, name: str, body: dict[str, Any]) -> None:
        self._store(resource_id, kind, name, body)
        resource = self.resources[_key(resource_id)]
        props = resource["properties"]
        if kind == VNET:
            for subnet in props.pop("subnets", None) or []:
                self._store(f"{resource_id}/subnets/{subnet['name']}", SUBNET, subnet["name"],
                            {"properties": {**subnet.get("properties", {}),
                                            "provisioningState": "Succeeded"}})
        elif kind == SUBNET:
            parent = _key(resource_id).rsplit("/subnets/", 1)[0]
            if parent not in self.resources:
                raise Refused(404, "ResourceNotFound", "The virtual network does not exist.")
        elif kind == PIP:
            props["ipAddress"] = f"20.50.0.{next(self._ips)}"
        elif kind == NIC:
            self._create_nic(resource)
        elif kind == VM:
            self._create_vm(resource, body)
        elif kind == GROUP:
            self._create_group(resource, body)

    def _ref(self, ref: dict[str, Any] | None, kind: str, what: str) -> dict[str, Any]:
        found = self.resources.get(_key(str((ref or {}).get("id") or "")))
        if found is None or found["_kind"] != kind:
            raise Refused(400, "InvalidResourceReference",
                          f"Resource {(ref or {}).get('id')} referenced by {what} was not found.")
        return found

    def _create_nic(self, nic: dict[str, Any]) -> None:
        for config in nic["properties"].get("ipConfigurations") or []:
            props = config.setdefault("properties", {})
            subnet = self._ref(props.get("subnet"), SUBNET, "the network interface")
            props["privateIPAddress"] = f"10.0.0.{next(self._ips)}"
            props["privateIPAllocationMethod"] = "Dynamic"
            subnet["properties"].setdefault("ipConfigurations", []).append(
                {"id": nic["id"] + "/ipConfigurations/" + config.get("name", "ipconfig")})
            if props.get("publicIPAddress"):
                pip = self._ref(props["publicIPAddress"], PIP, "the network interface")
                if pip["properties"].get("ipConfiguration"):
                    raise Refused(400, "PublicIPAddressInUse",
                                  f"Public IP address {pip['name']} is already in use.")
                pip["properties"]["ipConfiguration"] = {"id": nic["id"]}

    def _create_vm(self, vm: dict[str, Any], body: dict[str, Any]) -> None:
        self.vm_requests.append(body)
        props = vm["properties"]
        if sum(1 for r in self.resources.values() if r["_kind"] == VM) > self.quota_vms:
            raise Refused(409, "OperationNotAllowed", "Operation could not be completed as it "
                          "results in exceeding approved Total Regional Cores quota. Location: "
                          f"{LOCATION}, Current Limit: {2 * self.quota_vms}, Current Usage: "
                          f"{2 * self.quota_vms}, Additional Required: 2.")
        image = props.get("storageProfile", {}).get("imageReference") or {}
        if (image.get("publisher"), image.get("offer"), image.get("sku")) != IMAGE:
            raise Refused(404, "PlatformImageNotFound", "The platform image "
                          f"'{image.get('publisher')}:{image.get('offer')}:{image.get('sku')}:"
                          f"{image.get('version')}' is not available.")
        nics = props.get("networkProfile", {}).get("networkInterfaces") or []
        for ref in nics:
            nic = self._ref(ref, NIC, "the virtual machine")
            if nic["properties"].get("virtualMachine"):
                raise Refused(400, "NicInUse", f"Network interface {nic['name']} is attached "
                              "to another virtual machine.")
        for ref in nics:
            self._ref(ref, NIC, "the virtual machine")["properties"]["virtualMachine"] = \
                {"id": vm["id"]}
        profile = props.setdefault("osProfile", {})
        profile.pop("adminPassword", None)                  # never returned by ARM
        profile.pop("customData", None)
        disk = props["storageProfile"].setdefault("osDisk", {})
        disk.setdefault("name", f"{vm['name']}_OsDisk_1_{uuid.uuid4().hex}")
        disk_id = vm["id"].rsplit("/providers/", 1)[0] + \
            f"/providers/Microsoft.Compute/disks/{disk['name']}"
        self._store(disk_id, DISK, disk["name"], {"location": vm["location"], "properties": {
            "diskState": "Attached", "provisioningState": "Succeeded"}})
        self.resources[_key(disk_id)]["managedBy"] = vm["id"]
        disk["managedDisk"] = {"id": disk_id}
        props["vmId"] = str(uuid.uuid4())

    def _create_group(self, group: dict[str, Any], body: dict[str, Any]) -> None:
        self.group_requests.append(body)
        props = group["properties"]
        if sum(1 for r in self.resources.values() if r["_kind"] == GROUP) > \
                self.quota_container_groups:
            raise Refused(409, "ContainerGroupQuotaReached", "Resource type "
                          "'Microsoft.ContainerInstance/containerGroups' container group quota "
                          f"'StandardCores' exceeded in region '{LOCATION}'. Limit: "
                          f"'{self.quota_container_groups}'.")
        address = props.get("ipAddress") or {}
        if address.get("type") == "Public":
            if not address.get("ports"):
                raise Refused(400, "InvalidIpAddressPorts",
                              "The IP address type 'Public' needs at least one port.")
            address["ip"] = f"20.60.0.{next(self._ips)}"
            if address.get("dnsNameLabel"):
                address["fqdn"] = f"{address['dnsNameLabel']}.{LOCATION}.azurecontainer.io"
        for ref in props.get("subnetIds") or []:
            subnet = self._ref(ref, SUBNET, "the container group")
            services = [d.get("properties", {}).get("serviceName")
                        for d in subnet["properties"].get("delegations") or []]
            if ACI_DELEGATION not in services:
                raise Refused(400, "SubnetMissingRequiredDelegation",
                              f"Subnet {subnet['name']} is not delegated to {ACI_DELEGATION}.")
            subnet["properties"].setdefault("serviceAssociationLinks", []).append(
                {"id": group["id"]})
            address["ip"] = f"10.1.0.{next(self._ips)}"
        props["ipAddress"] = address
        props["instanceView"] = {"state": "Pending"}

    def _check_delete(self, resource: dict[str, Any]) -> None:
        kind, props = resource["_kind"], resource["properties"]
        if kind == NIC and props.get("virtualMachine"):
            raise Refused(400, "NicInUse", f"Network interface {resource['name']} is used by "
                          f"virtual machine {props['virtualMachine']['id']}.")
        if kind == PIP and props.get("ipConfiguration"):
            raise Refused(400, "PublicIPAddressCannotBeDeleted", f"Public IP address "
                          f"{resource['name']} can not be deleted since it is still allocated "
                          f"to resource {props['ipConfiguration']['id']}.")
        if kind == DISK and resource.get("managedBy"):
            raise Refused(409, "OperationNotAllowed", f"Disk {resource['name']} is attached "
                          f"to VM {resource['managedBy']}.")
        subnets = [resource] if kind == SUBNET else [
            r for k, r in self.resources.items() if k.startswith(_key(resource["id"]) + "/")
        ] if kind == VNET else []
        for subnet in subnets:
            used = subnet["properties"].get("ipConfigurations") or \
                subnet["properties"].get("serviceAssociationLinks")
            if used:
                raise Refused(400, "InUseSubnetCannotBeDeleted", f"Subnet {subnet['name']} is "
                              f"in use by {used[0]['id']} and cannot be deleted.")

    def _remove(self, resource: dict[str, Any]) -> None:
        key = _key(resource["id"])
        kind, props = resource["_kind"], resource["properties"]
        for child in [k for k in self.resources if k.startswith(key + "/")]:
            del self.resources[child]
        self.resources.pop(key, None)
        self.deleted.append(resource["id"])
        if kind == VM:
            for ref in props.get("networkProfile", {}).get("networkInterfaces") or []:
                nic = self.resources.get(_key(ref["id"]))
                if nic is not None:
                    nic["properties"].pop("virtualMachine", None)
            os_disk = props["storageProfile"]["osDisk"]
            disk = self.resources.get(_key(os_disk["managedDisk"]["id"]))
            if disk is not None:
                disk.pop("managedBy", None)
                disk["properties"]["diskState"] = "Unattached"
                if os_disk.get("deleteOption") == "Delete":
                    self._remove(disk)
        elif kind == NIC:
            for config in props.get("ipConfigurations") or []:
                cprops = config.get("properties") or {}
                subnet = self.resources.get(_key(cprops.get("subnet", {}).get("id", "")))
                if subnet is not None:
                    subnet["properties"]["ipConfigurations"] = [
                        c for c in subnet["properties"].get("ipConfigurations", [])
                        if not c["id"].lower().startswith(key)]
                pip = self.resources.get(_key((cprops.get("publicIPAddress") or {})
                                              .get("id", "")))
                if pip is not None:
                    pip["properties"].pop("ipConfiguration", None)
        elif kind == GROUP:
            for ref in props.get("subnetIds") or []:
                subnet = self.resources.get(_key(ref["id"]))
                if subnet is not None:
                    subnet["properties"]["serviceAssociationLinks"] = [
                        link for link in subnet["properties"].get("serviceAssociationLinks", [])
                        if _key(link["id"]) != key]
