"""The fake clouds of the cloudsigma, cloudbroker, azure_vm and azure_aci handlers,
behind one face, so that one test can run on each of them.

A backend knows its fake: the ``auth_data.yaml`` that gets in (or not), a
resource section, a contextualisation that hands a message to the instance
(cloud-init on the VM clouds, an environment variable on container
instances), what each create received, how to make the cloud refuse for
quota, and what is left on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ruamel.yaml import YAML

from tests.clouds import fake_azure as fa
from tests.clouds import fake_cloudbroker as fcb
from tests.clouds import fake_cloudsigma as fcs

#: handler settings that make the handlers' own waits short (the fakes answer at once)
FAST = {"poll_interval": 0.01, "operation_timeout": 20.0, "request_timeout": 10.0,
        "retries": 2}


class Backend(Protocol):
    type: str

    def auth_data(self, *, good: bool = True) -> dict[str, Any]: ...
    def resource(self, **fields: Any) -> dict[str, Any]: ...
    def contextualisation(self, message: str) -> dict[str, Any]: ...
    def received(self) -> list[str | None]: ...
    def limit(self, instances: int) -> None: ...
    def live(self) -> list[str]: ...


def settings_for(backend: Backend) -> dict[str, dict[str, Any]]:
    return {backend.type: dict(FAST)}


def cloud_init(message: str) -> dict[str, Any]:
    template = ("#cloud-config\nwrite_files:\n  - path: /etc/occo-test/message\n"
                f'    content: "{message}"\n')
    return {"type": "cloudinit", "context_template": template}


def message_of(user_data: str | None) -> str | None:
    """The message :func:`cloud_init` delivered, read back from the user data."""
    if not user_data:
        return None
    document = YAML(typ="safe", pure=True).load(user_data)
    return str(document["write_files"][0]["content"])


@dataclass
class CloudSigmaBackend:
    fake: fcs.FakeCloudSigma
    type: str = "cloudsigma"

    def auth_data(self, *, good: bool = True) -> dict[str, Any]:
        password = fcs.PASSWORD if good else "not-the-sigma-password"
        return {"resource": [{"type": "cloudsigma", "endpoint": self.fake.endpoint,
                              "auth_data": {"email": fcs.EMAIL, "password": password}}]}

    def resource(self, **fields: Any) -> dict[str, Any]:
        return {"type": "cloudsigma", "endpoint": self.fake.endpoint,
                "libdrive_id": fcs.LIBDRIVE_ID,
                "description": {"cpu": 2000, "mem": 2**30, "vnc_password": "vnc-secret-1",
                                "nics": [{"ip_v4_conf": {"conf": "dhcp"}, "model": "virtio"}]},
                **fields}

    def contextualisation(self, message: str) -> dict[str, Any]:
        return cloud_init(message)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.user_data_received()]

    def limit(self, instances: int) -> None:
        self.fake.quota_servers = instances

    def live(self) -> list[str]:
        return self.fake.live()


@dataclass
class CloudBrokerBackend:
    fake: fcb.FakeCloudBroker
    type: str = "cloudbroker"

    def auth_data(self, *, good: bool = True) -> dict[str, Any]:
        password = fcb.PASSWORD if good else "not-the-broker-password"
        return {"resource": [{"type": "cloudbroker", "endpoint": self.fake.endpoint,
                              "auth_data": {"email": fcb.EMAIL, "password": password}}]}

    def resource(self, **fields: Any) -> dict[str, Any]:
        return {"type": "cloudbroker", "endpoint": self.fake.endpoint,
                "description": {"deployment_id": fcb.DEPLOYMENT_ID,
                                "instance_type_id": fcb.INSTANCE_TYPE_ID,
                                "key_pair_id": fcb.KEY_PAIR_ID, "opened_port": "22,80"},
                **fields}

    def contextualisation(self, message: str) -> dict[str, Any]:
        return cloud_init(message)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.user_data_received()]

    def limit(self, instances: int) -> None:
        self.fake.quota_instances = instances

    def live(self) -> list[str]:
        return self.fake.live()


def azure_auth(fake: fa.FakeAzure, kind: str, *, good: bool = True) -> dict[str, Any]:
    secret = fa.CLIENT_SECRET if good else "not-the-client-secret"
    return {"resource": [{"type": kind, "endpoint": fake.base, "auth_data": {
        "tenant_id": fa.TENANT, "client_id": fa.CLIENT_ID, "client_secret": secret,
        "subscription_id": fa.SUBSCRIPTION, "authority": fake.base}}]}


@dataclass
class AzureVmBackend:
    fake: fa.FakeAzure
    type: str = "azure_vm"
    resource_group: str = "occo-test-rg"

    def auth_data(self, *, good: bool = True) -> dict[str, Any]:
        return azure_auth(self.fake, self.type, good=good)

    def resource(self, **fields: Any) -> dict[str, Any]:
        publisher, offer, sku = fa.IMAGE
        return {"type": "azure_vm", "endpoint": self.fake.base,
                "resource_group": self.resource_group, "location": fa.LOCATION,
                "vm_size": "Standard_B2s", "publisher": publisher, "offer": offer, "sku": sku,
                "version": "latest", "username": "operator",
                "ssh_key_data": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest operator@test",
                "public_ip_needed": True, **fields}

    def contextualisation(self, message: str) -> dict[str, Any]:
        return cloud_init(message)

    def received(self) -> list[str | None]:
        return [message_of(u) for u in self.fake.custom_data_received()]

    def limit(self, instances: int) -> None:
        self.fake.quota_vms = instances

    def live(self) -> list[str]:
        return self.fake.live()


@dataclass
class AzureAciBackend:
    fake: fa.FakeAzure
    type: str = "azure_aci"
    resource_group: str = "occo-test-rg"

    def auth_data(self, *, good: bool = True) -> dict[str, Any]:
        return azure_auth(self.fake, self.type, good=good)

    def resource(self, **fields: Any) -> dict[str, Any]:
        return {"type": "azure_aci", "endpoint": self.fake.base,
                "resource_group": self.resource_group, "location": fa.LOCATION,
                "image": "registry.example.org/cluster-node:1", "network_type": "public",
                "cpu_cores": 1, "memory": 1.5, "os_type": "linux", "ports": [8080], **fields}

    def contextualisation(self, message: str) -> dict[str, Any]:
        return {"type": "docker", "env": [f"MESSAGE={message}"],
                "command": ["/bin/node", "--serve"]}

    def received(self) -> list[str | None]:
        out = []
        for request in self.fake.group_requests:
            container = request["properties"]["containers"][0]["properties"]
            env = {e["name"]: e["value"] for e in container.get("environmentVariables", [])}
            out.append(env.get("MESSAGE"))
        return out

    def limit(self, instances: int) -> None:
        self.fake.quota_container_groups = instances

    def live(self) -> list[str]:
        return self.fake.live()
