"""Fixtures for maintenance tests: an isolated occo home, the CLI and the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from tests.support.cli import Cli


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


@pytest.fixture
def occo(home: Path) -> Iterator[Occo]:
    api = Occo(Config(home=home, concurrency=10))
    yield api
    api.close()
