"""One fixture per backend of the handler contract suite (see backends.py).

Each returns a :class:`~tests.resources.backends.Backend` on a backend of
this test's own (or on a shared server, seen through this test's resources
only), and closes it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.clouds.backends import (
    AzureAciBackend,
    AzureVmBackend,
    CloudBrokerBackend,
    CloudSigmaBackend,
)
from tests.clouds.docker_engine import DockerEngine
from tests.clouds.fake_azure import FakeAzure
from tests.clouds.fake_cloudbroker import FakeCloudBroker
from tests.clouds.fake_cloudsigma import FakeCloudSigma
from tests.clouds.fake_openstack import FakeOpenStack
from tests.clouds.moto_server import MotoCloud
from tests.resources.backends import (
    Backend,
    DockerBackend,
    DummyBackend,
    Ec2Backend,
    LocalBackend,
    NovaBackend,
)

B = TypeVar("B", bound=Backend)


def _closing(backend: B) -> Iterator[B]:
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def dummy_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from _closing(DummyBackend(tmp_path / "home"))


@pytest.fixture
def local_backend(tmp_path: Path) -> Iterator[Backend]:
    yield from _closing(LocalBackend(tmp_path / "home"))


@pytest.fixture
def nova_backend(tmp_path: Path, openstack: FakeOpenStack) -> Iterator[Backend]:
    yield from _closing(NovaBackend(tmp_path / "home", openstack))


@pytest.fixture
def ec2_backend(tmp_path: Path, moto: MotoCloud) -> Iterator[Backend]:
    yield from _closing(Ec2Backend(tmp_path / "home", moto))


@pytest.fixture
def docker_backend(tmp_path: Path, docker_engine: DockerEngine) -> Iterator[Backend]:
    yield from _closing(DockerBackend(tmp_path / "home", docker_engine))


@pytest.fixture
def cloudsigma_backend(tmp_path: Path, cloudsigma: FakeCloudSigma) -> Iterator[Backend]:
    yield from _closing(CloudSigmaBackend(tmp_path / "home", cloudsigma))


@pytest.fixture
def cloudbroker_backend(tmp_path: Path, cloudbroker: FakeCloudBroker) -> Iterator[Backend]:
    yield from _closing(CloudBrokerBackend(tmp_path / "home", cloudbroker))


@pytest.fixture
def azure_vm_backend(tmp_path: Path, azure: FakeAzure) -> Iterator[Backend]:
    yield from _closing(AzureVmBackend(tmp_path / "home", azure))


@pytest.fixture
def azure_aci_backend(tmp_path: Path, azure: FakeAzure) -> Iterator[Backend]:
    yield from _closing(AzureAciBackend(tmp_path / "home", azure))
