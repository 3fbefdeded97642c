"""Helpers of the cloud tests: auth_data for the fakes, each fake of the REST and Azure
handlers behind one face, and an occo API object whose home is the test's tmp_path. The
fakes themselves are fixtures of tests/clouds/servers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.config import Config
from tests.clouds import backends
from tests.clouds import fake_openstack as fos
from tests.clouds.moto_server import MotoCloud


def nova_auth(cloud: fos.FakeOpenStack, **auth_data: Any) -> dict[str, Any]:
    """auth_data.yaml content for the fake cloud (the right password by default)."""
    return {"resource": [{"type": "nova", "endpoint": cloud.auth_url,
                          "auth_data": auth_data or {"username": fos.USER,
                                                     "password": fos.PASSWORD}}]}


def ec2_auth(cloud: MotoCloud, **auth_data: Any) -> dict[str, Any]:
    return {"resource": [{"type": "ec2", "endpoint": cloud.url,
                          "auth_data": auth_data or {"accesskey": cloud.access_key,
                                                     "secretkey": cloud.secret_key}}]}


@pytest.fixture(params=["cloudsigma", "cloudbroker", "azure_vm", "azure_aci"])
def cloud(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[backends.FakeCloudBackend]:
    """Each fake cloud of the REST and Azure handlers in turn, as its contract backend."""
    home, name = tmp_path / "home", request.param
    backend: backends.FakeCloudBackend
    if name == "cloudsigma":
        backend = backends.CloudSigmaBackend(home, request.getfixturevalue("cloudsigma"))
    elif name == "cloudbroker":
        backend = backends.CloudBrokerBackend(home, request.getfixturevalue("cloudbroker"))
    elif name == "azure_vm":
        backend = backends.AzureVmBackend(home, request.getfixturevalue("azure"))
    else:
        backend = backends.AzureAciBackend(home, request.getfixturevalue("azure"))
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def make_occo(tmp_path: Path) -> Iterator[Callable[..., Occo]]:
    """Occo objects on a store under tmp_path, with the given auth data (and handler
    settings); closed afterwards."""
    made: list[Occo] = []

    def make(auth_data: dict[str, Any] | None = None,
             handlers: dict[str, dict[str, Any]] | None = None) -> Occo:
        occo = Occo(Config(home=tmp_path / "home", auth_data=auth_data,
                           create_timeout=30, destroy_timeout=30, handlers=handlers or {}))
        made.append(occo)
        return occo

    yield make
    for occo in made:
        occo.close()
