"""Fixtures for maintenance tests: an isolated occo home and the API over it
(the ``cli`` fixture of tests/conftest.py runs the commands against the same home)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def occo(home: Path) -> Iterator[Occo]:
    api = Occo(Config(home=home, concurrency=10))
    yield api
    api.close()
