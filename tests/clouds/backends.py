"""The contract-suite backends of the cloudsigma, cloudbroker, azure_vm and azure_aci
handlers, each on the fake of its cloud (see tests/resources/backends.py for the
contract).

``live()`` is the set of instance resources (server, instance, VM, container group)
plus one entry for every piece occo made that outlived its instance (a cloned drive, a
network interface...), so "nothing left" covers the pieces too. Each backend can also
hand a message to an instance through its contextualisation (:meth:`greeting`) and
read back what every create received (:meth:`received`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from occo.resources.base import ResourceRef
from tests.clouds import fake_azure as fa
from tests.clouds import fake_cloudbroker as fcb
from tests.clouds import fake_cloudsigma as fcs
from tests.resources.backends import Backend, Failing, Refusal

#: handler settings that keep the handlers' own waits short (the fakes answer at once)
FAST = {"poll_interval": 0.01, "operation_timeout": 20.0, "request_timeout": 10.0,
        "retries": 2}


def cloud_init(message: str) -> dict[str, Any]:
    """A cloud-init contextualisation that writes ``message`` (a template) to a file."""
    template = ("#cloud-config\nwrite_files:\n  - path: /etc/occo-test/message\n"
                f'    content: "{message}"\n')
    return {"type": "cloudinit", "context_template": template}


def message_of(user_data: str | None) -> str | None:
    """The message :func:`cloud_init` delivered, read back from the user data."""
    if not user_data:
        return None
    document = YAML(typ="safe", pure=True).load(user_data)
    return str(document["write_files"][0]["content"])


def cloudsigma_auth(fake: fcs.FakeCloudSigma, password: str = fcs.PASSWORD) -> dict[str, Any]:
    return {"resource": [{"type": "cloudsigma", "endpoint": fake.endpoint,
                          "auth_data": {"email": fcs.EMAIL, "password": password}}]}


def cloudsigma_resource(fake: fcs.FakeCloudSigma) -> dict[str, Any]:
    return {"type": "cloudsigma", "endpoint": fake.endpoint, "libdrive_id": fcs.LIBDRIVE_ID,
            "description": {"cpu": 2000, "mem": 2**30, "vnc_password": "vnc-secret-1",
                            "nics": [{"ip_v4_conf": {"conf": "dhcp"}, "model": "virtio"}]}}


def cloudbroker_auth(fake: fcb.FakeCloudBroker,
                     password: str = fcb.PASSWORD) -> dict[str, Any]:
    return {"resource": [{"type": "cloudbroker", "endpoint": fake.endpoint,
                          "auth_data": {"email": fcb.EMAIL, "password": password}}]}


def cloudbroker_resource(fake: fcb.FakeCloudBroker) -> dict[str, Any]:
    return {"type": "cloudbroker", "endpoint": fake.endpoint,
            "description": {"deployment_id": fcb.DEPLOYMENT_ID,
                            "instance_type_id": fcb.INSTANCE_TYPE_ID,
                            "key_pair_id": fcb.KEY_PAIR_ID, "opened_port": "22,80"}}


AZURE_RESOURCE_GROUP = "cluster-rg"


def azure_auth(fake: fa.FakeAzure, kind: str, secret: str = fa.CLIENT_SECRET) -> dict[str, Any]:
    return {"resource": [{"type": kind, "endpoint": fake.base, "auth_data": {
        "tenant_id": fa.TENANT, "client_id": fa.CLIENT_ID, "client_secret": secret,
        "subscription_id": fa.SUBSCRIPTION, "authority": fake.base}}]}


def azure_vm_resource(fake: fa.FakeAzure) -> dict[str, Any]:
    publisher, offer, sku = fa.IMAGE
    return {"type": "azure_vm", "endpoint": fake.base, "resource_group": AZURE_RESOURCE_GROUP,
            "location": fa.LOCATION, "vm_size": "Standard_B2s", "publisher": publisher,
            "offer": offer, "sku": sku, "version": "latest", "username": "operator",
            "ssh_key_data": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest operator@test",
            "public_ip_needed": True}


def azure_aci_resource(fake: fa.FakeAzure) -> dict[str, Any]:
    return {"type": "azure_aci", "endpoint": fake.base, "resource_group": AZURE_RESOURCE_GROUP,
            "location": fa.LOCATION, "image": "registry.example.org/cluster-node:1",
            "network_type": "public", "cpu_cores": 1, "memory": 1.5, "os_type": "linux",
            "ports": [8080]}


class FakeCloudBackend(Backend):
    """What the four backends share: fast handler settings, a cloud-init greeting."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)

    @property
    def settings(self) -> dict[str, dict[str, Any]]:
        return {self.name: dict(FAST)}

    def greeting(self, message: str) -> dict[str, Any]:
        """A contextualisation that hands ``message`` (a template) to the instance."""
        return cloud_init(message)

    def contextualisation(self) -> dict[str, Any] | None:
        return self.greeting("hello from {{ infra_name }}")

    def received(self) -> list[str | None]:
        """The greeting each create received, in order."""
        raise NotImplementedError


# --------------------------------------------------------------------------- cloudsigma


class CloudSigmaBackend(FakeCloudBackend):
    name = "cloudsigma"

    def __init__(self, home: Path, fake: fcs.FakeCloudSigma) -> None:
        super().__init__(home)
        self.fake = fake

    @property
    def auth_data(self) -> dict[str, Any]:
        return cloudsigma_auth(self.fake)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (fcs.PASSWORD, "vnc-secret-1")

    def resource(self) -> dict[str, Any]:
        return cloudsigma_resource(self.fake)

    def failing(self) -> Failing:
        return Failing({**self.resource(), "libdrive_id": fcs.BROKEN_LIBDRIVE_ID},
                       "server is stopped")

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        where = f"CloudSigma at {self.fake.endpoint}"
        if kind == "bad_credentials":
            return Refusal(cloudsigma_auth(self.fake, "not-the-sigma-password"), self.resource(), (
                f"{where} rejected the credentials for resource entry #1 {{type: cloudsigma, "
                f"endpoint: {self.fake.endpoint}}} of auth_data.yaml: Invalid username or "
                "password"))
        if kind == "quota":
            quota = len(self.fake.servers) + allow
            self.fake.quota_servers = quota
            return Refusal(self.auth_data, self.resource(), (
                f"{where}: quota exceeded while creating a server for node '{{node}}': Not "
                f"enough funds: the subscription allows {quota} servers"))
        return super().refuse(kind, allow=allow)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.user_data_received()]

    def live(self) -> set[str]:
        with self.fake.lock:
            return set(self.fake.servers) | {
                f"orphan drive {d.uuid}" for d in self.fake.drives.values()
                if d.name.startswith("occo-") and not d.mounted_on}

    def vanish(self, ref: ResourceRef) -> None:
        with self.fake.lock:
            server = self.fake.servers.pop(ref.resource_id)
            for drive in self.fake.drives.values():
                if server.uuid in drive.mounted_on:
                    drive.mounted_on.remove(server.uuid)

    def address_of(self, resource_id: str) -> str:
        return str(self.fake.servers[resource_id].ips[0])


# --------------------------------------------------------------------------- cloudbroker


class CloudBrokerBackend(FakeCloudBackend):
    name = "cloudbroker"

    def __init__(self, home: Path, fake: fcb.FakeCloudBroker) -> None:
        super().__init__(home)
        self.fake = fake

    @property
    def auth_data(self) -> dict[str, Any]:
        return cloudbroker_auth(self.fake)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (fcb.PASSWORD,)

    def resource(self) -> dict[str, Any]:
        return cloudbroker_resource(self.fake)

    def failing(self) -> Failing:
        resource = self.resource()
        resource["description"]["deployment_id"] = fcb.BROKEN_DEPLOYMENT_ID
        return Failing(resource, "instance is halted")

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        where = f"CloudBroker at {self.fake.endpoint}"
        if kind == "bad_credentials":
            return Refusal(cloudbroker_auth(self.fake, "not-the-broker-password"),
                           self.resource(), (
                f"{where} rejected the credentials for resource entry #1 {{type: cloudbroker, "
                f"endpoint: {self.fake.endpoint}}} of auth_data.yaml: HTTP Basic: Access "
                "denied."))
        if kind == "quota":
            quota = len(self.live()) + allow
            self.fake.quota_instances = quota
            return Refusal(self.auth_data, self.resource(), (
                f"{where}: quota exceeded while creating an instance for node '{{node}}': "
                f"Instance quota exceeded: at most {quota} instances may run at once"))
        return super().refuse(kind, allow=allow)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.user_data_received()]

    def live(self) -> set[str]:
        with self.fake.lock:
            return {i.id for i in self.fake.instances.values()
                    if i.status not in ("stopping", "halted")}

    def vanish(self, ref: ResourceRef) -> None:
        with self.fake.lock:
            del self.fake.instances[ref.resource_id]

    def address_of(self, resource_id: str) -> str:
        return self.fake.instances[resource_id].external_ip


# --------------------------------------------------------------------------- azure


class AzureBackend(FakeCloudBackend):
    """azure_vm and azure_aci on the fake Azure: everything occo makes for an instance is
    named ``occo-<instance id>[-suffix]``; ``live()`` groups it so."""

    kind: str                               # the instance resource's ARM type

    def __init__(self, home: Path, fake: fa.FakeAzure) -> None:
        super().__init__(home)
        self.fake = fake

    @property
    def auth_data(self) -> dict[str, Any]:
        return azure_auth(self.fake, self.name)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (fa.CLIENT_SECRET,)

    def _bad_credentials(self) -> Refusal:
        return Refusal(azure_auth(self.fake, self.name, "not-the-client-secret"),
                       self.resource(), (
            f"Azure at {self.fake.base} rejected the credentials for resource entry #1 "
            f"{{type: {self.name}, endpoint: {self.fake.base}}} of auth_data.yaml: "
            "AADSTS7000215: Invalid client secret provided."))

    def live(self) -> set[str]:
        """Instance names; a piece whose instance is gone as ``leftover <id>``."""
        with self.fake.lock:
            made = [r for k, r in self.fake.resources.items()
                    if k not in self.fake.preexisting and r["_kind"] != "resourcegroups"
                    and r["name"].startswith("occo-")]
            owners = {r["name"] for r in made if r["_kind"] == self.kind}
            return owners | {f"leftover {r['id']}" for r in made
                             if r["_kind"] != self.kind and r["name"][:41] not in owners}

    def vanish(self, ref: ResourceRef) -> None:
        self.fake.remove(self.kind, ref.resource_id)


class AzureVmBackend(AzureBackend):
    name = "azure_vm"
    kind = fa.VM

    def resource(self) -> dict[str, Any]:
        return azure_vm_resource(self.fake)

    def failing(self) -> Failing:
        self.fake.failing_sizes.add("Standard_M416ms_v2")
        return Failing({**self.resource(), "vm_size": "Standard_M416ms_v2"},
                       "provisioning failed: Allocation failed.")

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        if kind == "bad_credentials":
            return self._bad_credentials()
        if kind == "quota":
            quota = len(self.live()) + allow
            self.fake.quota_vms = quota
            return Refusal(self.auth_data, self.resource(), (
                f"Azure at {self.fake.base}: quota exceeded in {fa.LOCATION} while creating a "
                "virtual machine for node '{node}': Operation could not be completed as it "
                "results in exceeding approved Total Regional Cores quota. Location: "
                f"{fa.LOCATION}, Current Limit: {2 * quota}, Current Usage: {2 * quota}, "
                "Additional Required: 2. (OperationNotAllowed)"))
        return super().refuse(kind, allow=allow)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.custom_data_received()]

    def address_of(self, resource_id: str) -> str:
        found = self.fake.find(fa.PIP, resource_id + "-ip")
        assert found is not None
        return str(found["properties"]["ipAddress"])


class AzureAciBackend(AzureBackend):
    name = "azure_aci"
    kind = fa.GROUP

    def resource(self) -> dict[str, Any]:
        return azure_aci_resource(self.fake)

    def greeting(self, message: str) -> dict[str, Any]:
        return {"type": "docker", "env": [f"MESSAGE={message}"],
                "command": ["/bin/node", "--serve"]}

    def failing(self) -> Failing:
        image = "registry.example.org/missing:1"
        self.fake.failing_images.add(image)
        return Failing({**self.resource(), "image": image},
                       f'provisioning state Failed: Failed to pull image "{image}"')

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        if kind == "bad_credentials":
            return self._bad_credentials()
        if kind == "quota":
            quota = len(self.live()) + allow
            self.fake.quota_container_groups = quota
            return Refusal(self.auth_data, self.resource(), (
                f"Azure at {self.fake.base}: quota exceeded in {fa.LOCATION} while creating a "
                "container group for node '{node}': Resource type "
                "'Microsoft.ContainerInstance/containerGroups' container group quota "
                f"'StandardCores' exceeded in region '{fa.LOCATION}'. Limit: '{quota}'. "
                "(ContainerGroupQuotaReached)"))
        return super().refuse(kind, allow=allow)

    def received(self) -> list[str | None]:
        out = []
        for request in self.fake.group_requests:
            container = request["properties"]["containers"][0]["properties"]
            env = {e["name"]: e["value"] for e in container.get("environmentVariables", [])}
            out.append(env.get("MESSAGE"))
        return out

    def address_of(self, resource_id: str) -> str:
        found = self.fake.find(fa.GROUP, resource_id)
        assert found is not None
        return str(found["properties"]["ipAddress"]["ip"])
