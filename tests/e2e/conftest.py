"""Fixtures of the end-to-end tests: an isolated occo home per test (see helpers.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import DATA, Occopus


@pytest.fixture
def occopus(tmp_path: Path) -> Iterator[Occopus]:
    """An empty occo home of this test's own."""
    o = Occopus(tmp_path)
    try:
        yield o
    finally:
        o.close()


@pytest.fixture(scope="session")
def imported_home(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A home into which ``occopus-import`` stored one data file, made once per
    worker; tests start from a copy instead of paying for the import again."""
    homes: dict[str, Path] = {}

    def get(data_file: str) -> Path:
        if data_file not in homes:
            template = Occopus(tmp_path_factory.mktemp("template"))
            template.import_defs(DATA / data_file)
            homes[data_file] = template.home
        return homes[data_file]

    return get


def _from_template(occopus: Occopus, template: Path) -> Occopus:
    shutil.copytree(template, occopus.home)
    return occopus


@pytest.fixture
def dummy(occopus: Occopus, imported_home: Callable[[str], Path]) -> Occopus:
    """An isolated home with the dummy node types of data/dummy_nodes.yaml imported."""
    return _from_template(occopus, imported_home("dummy_nodes.yaml"))


@pytest.fixture
def local(occopus: Occopus, imported_home: Callable[[str], Path]) -> Occopus:
    """An isolated home with the local node types of data/local_nodes.yaml imported."""
    return _from_template(occopus, imported_home("local_nodes.yaml"))
