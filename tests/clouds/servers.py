"""Cloud backends the tests own, as fixtures any test directory can use: fake OpenStack,
moto, a Docker Engine, and fakes of CloudSigma, CloudBroker and Azure.

Registered from the root ``conftest.py`` (``pytest_plugins``), so the cloud
tests and the handler contract suite share one moto server per worker.
Heavy imports (moto, the fake's WSGI stack) happen inside the fixtures: a
run that touches no cloud never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.clouds.docker_engine import DockerEngine
    from tests.clouds.fake_azure import FakeAzure
    from tests.clouds.fake_cloudbroker import FakeCloudBroker
    from tests.clouds.fake_cloudsigma import FakeCloudSigma
    from tests.clouds.fake_openstack import FakeOpenStack
    from tests.clouds.fakehttp import FakeHttpServer
    from tests.clouds.moto_server import MotoCloud, QuotaMotoServer
    from tests.clouds.tls import TestCertificates


@pytest.fixture
def openstack() -> Iterator[FakeOpenStack]:
    """A fresh fake Keystone + Nova + Glance + Neutron for one test."""
    from tests.clouds.fake_openstack import FakeOpenStack

    cloud = FakeOpenStack().start()
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[QuotaMotoServer]:
    from moto import settings

    from tests.clouds.moto_server import QuotaMotoServer

    previous = settings.ENABLE_AMI_VALIDATION
    settings.ENABLE_AMI_VALIDATION = True      # an unknown AMI must fail, as on AWS
    server = QuotaMotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        settings.ENABLE_AMI_VALIDATION = previous


@pytest.fixture
def moto(_moto_server: QuotaMotoServer) -> MotoCloud:
    """moto with fresh state, an IAM user and authentication on."""
    from tests.clouds.moto_server import MotoCloud

    return MotoCloud(_moto_server).reset()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A dockerd of this worker's own (root only), with the busybox test image."""
    import os

    from tests.clouds.docker_engine import MISSING, NOT_ROOT, DockerEngine, available

    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT)
    if not available():
        pytest.fail(MISSING, pytrace=False)
    engine = DockerEngine().start()
    try:
        yield engine
    finally:
        engine.stop()


def _running(fake: FakeHttpServer) -> Iterator[Any]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def cloudsigma() -> Iterator[FakeCloudSigma]:
    """A fresh fake CloudSigma API 2.0 for one test."""
    from tests.clouds.fake_cloudsigma import FakeCloudSigma

    yield from _running(FakeCloudSigma())


@pytest.fixture
def cloudbroker() -> Iterator[FakeCloudBroker]:
    """A fresh fake CloudBroker platform API for one test."""
    from tests.clouds.fake_cloudbroker import FakeCloudBroker

    yield from _running(FakeCloudBroker())


@pytest.fixture(scope="session")
def azure_certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    from tests.clouds.tls import make_certificates

    return make_certificates(tmp_path_factory.mktemp("azure-tls"))


@pytest.fixture
def azure(azure_certificates: TestCertificates,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    """A fresh fake Azure (Resource Manager and token endpoint) over HTTPS, its CA
    trusted as a user trusts a private one (``REQUESTS_CA_BUNDLE``)."""
    from tests.clouds.fake_azure import FakeAzure

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure_certificates.ca))
    yield from _running(FakeAzure(azure_certificates, lro_polls=2))
