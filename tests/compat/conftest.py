"""An Occopus user's session, in-process: isolated home, files of the test's own.

Commands run through click's CliRunner (their subject is flags and output);
``files`` writes a tutorial-like folder (node definitions, templates,
infrastructure) under the test's directory.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from occo.api import Occo
from occo.config import Config


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


class Session:
    """Runs occopus-* commands in-process in an isolated home and folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(self, command: click.Command, *args: str) -> Ran:
        result = CliRunner().invoke(command, list(args), catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    def ok(self, command: click.Command, *args: str) -> Ran:
        ran = self.run(command, *args)
        assert ran.exit_code == 0, ran.stderr
        return ran


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("OCCOPUS_HOME", str(tmp_path / "user" / ".occopus"))
    for name in ("OCCOPUS_CONFIG_PATH", "OCCOPUS_STORE_URL", "OCCO_REST_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "tutorial"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return Session(folder)


@contextmanager
def occo_with(folder: Path, files: dict[str, str], **config: Any) -> Iterator[Occo]:
    """An Occo API object on a home under ``folder``, with ``files`` written there and
    ``defs.yaml`` (if among them) imported; every infrastructure left is destroyed."""
    for name, text in files.items():
        (folder / name).write_text(text)
    api = Occo(Config(home=folder / "home", **config))
    try:
        if "defs.yaml" in files:
            api.import_node_definitions(folder / "defs.yaml")
        yield api
    finally:
        for record in api.list_infrastructures():
            api.destroy(record.id)
        api.close()
