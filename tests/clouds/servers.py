"""Cloud backends the tests own, as fixtures any test directory can use.

Registered from the root ``conftest.py`` (``pytest_plugins``), so the cloud
tests and the handler contract suite share one moto server per worker.
Heavy imports (moto, the fake's WSGI stack) happen inside the fixtures: a
run that touches no cloud never pays for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.clouds.docker_engine import DockerEngine
    from tests.clouds.fake_openstack import FakeOpenStack
    from tests.clouds.moto_server import MotoCloud, QuotaMotoServer


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
