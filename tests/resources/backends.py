"""What the handler contract suite needs to know about each backend.

A :class:`Backend` is one handler on one backend the tests own (the store for
``dummy``, this machine for ``local``, the fake OpenStack for ``nova``, moto
for ``ec2``, the tests' own Docker Engine for ``docker``...). It answers the
questions the suite cannot ask through the handler itself: which resource
section works, what exists on the backend right now, how to delete a
resource behind occo's back, and how to make the backend refuse a create.

Adding a cloud to the suite: subclass :class:`Backend` (usually next to the
cloud's fake), add a ``<name>_backend`` fixture in ``tests/resources/conftest.py``
and one line to ``CLOUDS`` in ``tests/resources/test_contract.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import select

from occo.registry import PluginRegistry
from occo.resources import procinfo
from occo.resources.base import HandlerEnv, ResourceHandler, ResourceRef
from occo.store.store import Store
from occo.store.tables import dummy_resources
from tests.clouds import docker_engine as dk
from tests.clouds import fake_openstack as fos
from tests.clouds.moto_server import REGION, MotoCloud
from tests.support.wait import wait_until

AuthData = dict[str, Any] | None


@dataclass(frozen=True)
class Refusal:
    """A create the backend refuses: the auth_data and resource section that provoke
    it, and the one message occo must give for it."""

    auth_data: AuthData
    resource: dict[str, Any]
    message: str


@dataclass(frozen=True)
class Failing:
    """A resource section whose create succeeds but whose resource then fails."""

    resource: dict[str, Any]
    reason: str                         # part of the reason the handler reports
    contextualisation: dict[str, Any] | None = None     # instead of the backend's


class Backend(ABC):
    """One handler on one backend, as the contract suite drives it."""

    name: ClassVar[str]                 # the handler's entry point name

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.store = Store(f"sqlite:///{home / 'occopus.db'}")
        self.infra_id = f"contract-{uuid.uuid4().hex[:12]}"

    def close(self) -> None:
        self.store.close()

    # -- what a test hands to occo ----------------------------------------------------
    @property
    def auth_data(self) -> AuthData:
        """Working credentials as ``auth_data.yaml`` holds them (None: none needed)."""
        return None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error or a log line."""
        return ()

    @property
    def settings(self) -> dict[str, dict[str, Any]]:
        """Handler settings (the config's ``handlers:`` section) the backend wants."""
        return {}

    @abstractmethod
    def resource(self) -> dict[str, Any]:
        """A ``resource`` section whose resources come up and run."""

    def contextualisation(self) -> dict[str, Any] | None:
        """The node definition's ``contextualisation`` section for :meth:`resource`."""
        return None

    @abstractmethod
    def failing(self) -> Failing:
        """A section whose resource is created and then fails."""

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        """Make the backend refuse a create of ``kind`` (after ``allow`` more that fit)."""
        raise NotImplementedError(f"{self.name} refuses no '{kind}'")

    def handler(self, refusal: Refusal | None = None) -> ResourceHandler:
        """A fresh handler found through its entry point, with working credentials
        (or with those of a refusal)."""
        auth = refusal.auth_data if refusal else self.auth_data
        env = HandlerEnv(self.home, self.store, auth, settings=self.settings)
        return PluginRegistry(env).handler(self.name)

    # -- what a test looks at on the backend -----------------------------------------
    @abstractmethod
    def live(self) -> set[str]:
        """Ids of the resources of this test that exist on the backend now."""

    @abstractmethod
    def vanish(self, ref: ResourceRef) -> None:
        """Delete a resource behind occo's back."""

    @abstractmethod
    def address_of(self, resource_id: str) -> str:
        """The resource's address as the backend itself records it."""


# --------------------------------------------------------------------------- dummy


class DummyBackend(Backend):
    """The simulated cloud: its resources are rows of the store."""

    name = "dummy"

    def resource(self) -> dict[str, Any]:
        return {"type": "dummy"}

    def failing(self) -> Failing:
        return Failing({"type": "dummy", "fail_rate": 1}, "simulated failure (fail_rate)")

    def live(self) -> set[str]:
        with self.store.read() as conn:
            return set(conn.execute(select(dummy_resources.c.id)).scalars())

    def vanish(self, ref: ResourceRef) -> None:
        assert self.store.dummy.remove(ref.resource_id)

    def address_of(self, resource_id: str) -> str:
        return self.store.dummy.get_many([resource_id])[resource_id][2]


# --------------------------------------------------------------------------- local


class LocalBackend(Backend):
    """Process groups on this machine, one directory each under the home."""

    name = "local"

    def resource(self) -> dict[str, Any]:
        return {"type": "local", "command": ["sleep", "300"], "stop_timeout": 2}

    def failing(self) -> Failing:
        return Failing({"type": "local", "command": ["sh", "-c", "echo broken disk >&2; exit 3"]},
                       "broken disk")

    def live(self) -> set[str]:
        instances = self.home / "instances"
        return {p.name for p in instances.iterdir()} if instances.is_dir() else set()

    def vanish(self, ref: ResourceRef) -> None:
        pid = int(ref.data["pid"])
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: (s := procinfo.read_stat(pid)) is None or s.is_zombie,
                   what=f"process {pid} to die")
        shutil.rmtree(self.home / "instances" / ref.instance_id)

    def address_of(self, resource_id: str) -> str:
        return "127.0.0.1"


# --------------------------------------------------------------------------- nova


class NovaBackend(Backend):
    """The fake OpenStack (Keystone, Nova, Glance, Neutron) over HTTP."""

    name = "nova"

    def __init__(self, home: Path, cloud: fos.FakeOpenStack) -> None:
        super().__init__(home)
        self.cloud = cloud

    def _auth(self, password: str) -> dict[str, Any]:
        return {"resource": [{"type": "nova", "endpoint": self.cloud.auth_url,
                              "auth_data": {"username": fos.USER, "password": password}}]}

    @property
    def auth_data(self) -> AuthData:
        return self._auth(fos.PASSWORD)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (fos.PASSWORD,)

    def resource(self) -> dict[str, Any]:
        return {"type": "nova", "endpoint": self.cloud.auth_url, "project_id": fos.PROJECT_ID,
                "image_id": fos.IMAGE_ID, "flavor_name": "m1.small",
                "network_id": fos.PRIVATE_NET_ID}

    def contextualisation(self) -> dict[str, Any] | None:
        return {"type": "cloudinit", "context_template": "#cloud-config\n"}

    def failing(self) -> Failing:
        return Failing({**self.resource(), "flavor_name": "m1.broken"},
                       "server is ERROR: No valid host was found")

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        url = self.cloud.auth_url
        if kind == "bad_credentials":
            return Refusal(self._auth("wrong-password-123"), self.resource(), (
                f"OpenStack at {url} rejected the credentials for resource entry #1 "
                f"{{type: nova, endpoint: {url}}} of auth_data.yaml: The request you have made "
                "requires authentication. (HTTP 401)"))
        if kind == "quota":
            used = len(self.cloud.live_servers()) + allow
            self.cloud.quota_instances = used
            return Refusal(self.auth_data, self.resource(), (
                f"OpenStack at {url}: quota exceeded in project {fos.PROJECT_ID} while creating "
                "a server for node '{node}': Quota exceeded for instances: Requested 1, but "
                f"already used {used} of {used} instances"))
        return super().refuse(kind, allow=allow)

    def live(self) -> set[str]:
        return {s.id for s in self.cloud.live_servers()}

    def vanish(self, ref: ResourceRef) -> None:
        with self.cloud.lock:
            del self.cloud.servers[ref.resource_id]

    def address_of(self, resource_id: str) -> str:
        return self.cloud.servers[resource_id].fixed_ip


# --------------------------------------------------------------------------- ec2


class Ec2Backend(Backend):
    """moto's EC2 over HTTP, with authentication on and a quota."""

    name = "ec2"

    def __init__(self, home: Path, cloud: MotoCloud) -> None:
        super().__init__(home)
        self.cloud = cloud

    def _auth(self, secret: str) -> dict[str, Any]:
        return {"resource": [{"type": "ec2", "endpoint": self.cloud.url, "auth_data": {
            "accesskey": self.cloud.access_key, "secretkey": secret}}]}

    @property
    def auth_data(self) -> AuthData:
        return self._auth(self.cloud.secret_key)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.cloud.access_key, self.cloud.secret_key)

    def resource(self) -> dict[str, Any]:
        return {"type": "ec2", "endpoint": self.cloud.url, "regionname": REGION,
                "image_id": self.cloud.image_id, "instance_type": "t3.micro"}

    def contextualisation(self) -> dict[str, Any] | None:
        return {"type": "cloudinit", "context_template": "#cloud-config\n"}

    def failing(self) -> Failing:
        self.cloud.server.failing_instance_types = {"t3.doomed"}
        return Failing({**self.resource(), "instance_type": "t3.doomed"},
                       "instance is terminated: Server.InternalError: Internal error on launch")

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        where = f"EC2 at {self.cloud.url} ({REGION})"
        if kind == "bad_credentials":
            return Refusal(self._auth("wrong-secret-key-value"), self.resource(), (
                f"{where} rejected the credentials for resource entry #1 "
                f"{{type: ec2, endpoint: {self.cloud.url}}} of auth_data.yaml: AWS was not able "
                "to validate the provided access credentials (AuthFailure)"))
        if kind == "quota":
            quota = len(self.cloud.instances()) + allow
            self.cloud.server.instance_quota = quota
            return Refusal(self.auth_data, self.resource(), (
                f"{where}: quota exceeded while launching an instance for node '{{node}}': You "
                f"have requested more instances ({quota + 1}) than your current instance limit "
                f"of {quota} allows for the specified instance type. (InstanceLimitExceeded)"))
        return super().refuse(kind, allow=allow)

    def live(self) -> set[str]:
        return {i["InstanceId"] for i in self.cloud.instances()}

    def vanish(self, ref: ResourceRef) -> None:
        self.cloud.ec2().terminate_instances(InstanceIds=[ref.resource_id])

    def address_of(self, resource_id: str) -> str:
        [inst] = [i for i in self.cloud.instances() if i["InstanceId"] == resource_id]
        return str(inst.get("PublicIpAddress") or inst["PrivateIpAddress"])


# --------------------------------------------------------------------------- docker


class DockerBackend(Backend):
    """The tests' own Docker Engine (one per worker): this test's containers only."""

    name = "docker"
    #: runs until stopped, and stops at once on SIGTERM
    COMMAND = "sh -c 'trap \"exit 0\" TERM; sleep 600 & wait'"

    def __init__(self, home: Path, engine: dk.DockerEngine) -> None:
        super().__init__(home)
        self.engine = engine
        assert engine.tls is not None
        self.tls = engine.tls
        self._before = {str(c["Id"]) for c in engine.containers()}

    def _auth(self, client: str) -> dict[str, Any]:
        """TLS material as auth_data holds it: files, and the key's PEM text itself."""
        return {"resource": [{"type": "docker", "endpoint": self.engine.tls_url, "auth_data": {
            "tls_ca_cert": self.tls.path("ca"), "tls_client_cert": self.tls.path(f"{client}-cert"),
            "tls_client_key": self.tls.text(f"{client}-key")}}]}

    @property
    def auth_data(self) -> AuthData:
        return self._auth("client")

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.tls.text("client-key"),)

    def resource(self) -> dict[str, Any]:
        """Over TCP with TLS and a client certificate (the socket: test_docker.py)."""
        return {"type": "docker", "endpoint": self.engine.tls_url, "image": dk.IMAGE,
                "tag": dk.TAG, "origin": "local", "stop_timeout": 5}

    def contextualisation(self) -> dict[str, Any] | None:
        return {"type": "docker", "env": ["GREETING=hello"], "command": self.COMMAND}

    def failing(self) -> Failing:
        return Failing(self.resource(), "container exited with code 3; output tail:\nbroken disk",
                       {"type": "docker", "command": "sh -c 'echo broken disk >&2; exit 3'"})

    def refuse(self, kind: str, *, allow: int = 0) -> Refusal:
        url = self.engine.tls_url
        if kind == "bad_credentials":
            return Refusal(self._auth("rogue"), self.resource(), (
                f"the Docker Engine at {url} rejected the TLS client certificate of resource "
                f"entry #1 {{type: docker, endpoint: {url}}} of auth_data.yaml: sslv3 alert bad "
                "certificate"))
        if kind == "missing_image":
            return Refusal(self.auth_data, {**self.resource(), "image": "occo-test/missing"}, (
                f"the Docker Engine at {url} has no image 'occo-test/missing:1' (origin: local)"))
        if kind == "unreachable":
            url = f"unix://{self.home / 'no-such.sock'}"
            return Refusal(None, {**self.resource(), "endpoint": url},
                           f"cannot reach the Docker Engine at {url} while connecting: "
                           "no such socket")
        return super().refuse(kind, allow=allow)

    def live(self) -> set[str]:
        return {str(c["Id"]) for c in self.engine.containers()} - self._before

    def vanish(self, ref: ResourceRef) -> None:
        self.engine.client().api.remove_container(ref.resource_id, force=True)

    def address_of(self, resource_id: str) -> str:
        attrs = self.engine.client().api.inspect_container(resource_id)
        return str(attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"])
