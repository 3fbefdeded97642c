"""The documentation builds cleanly and says what the code does.

The build runs Sphinx as a user would (``python -m sphinx -W``: a warning
fails it); the other tests hold the reference pages to the code they
describe, so a new flag or state cannot go undocumented.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

from occo.errors import OccoError
from occo.model.states import ExecutionStatus, InfraState, InstanceState, ResourceState

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCUMENTED_COMMANDS = ("occopus-import", "occopus-build", "occopus-destroy",
                       "occopus-maintain", "occopus-scale", "occopus-orchestrate")


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(source), str(out)],
        capture_output=True, text=True, timeout=240, check=False)


def test_docs_build_with_warnings_as_errors(tmp_path: Path) -> None:
    proc = sphinx_build(DOCS, tmp_path / "html")
    assert proc.returncode == 0, proc.stderr
    index = (tmp_path / "html" / "index.html").read_text()
    for page in ("installation", "tutorial", "concepts", "infra_description",
                 "node_definitions", "templating", "configuration", "commands",
                 "maintenance", "python_api", "handlers/local", "handlers/dummy",
                 "handlers/writing", "differences", "day2"):
        assert f'href="{page}.html"' in index, f"{page} is not in the table of contents"


def test_docs_build_without_the_pages_other_parts_add(tmp_path: Path) -> None:
    """The REST and cloud pages are globbed in; the build must not depend on them."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build"))
    for page in source.glob("rest*.rst"):
        page.unlink()
    shutil.rmtree(source / "clouds", ignore_errors=True)
    proc = sphinx_build(source, tmp_path / "html")
    assert proc.returncode == 0, proc.stderr


def _section(page: str, title: str) -> str:
    """The text of one ``***``-underlined section of a docs page."""
    text = (DOCS / page).read_text()
    match = re.search(rf"^{re.escape(title)}\n\*+\n(.*?)(?=^\S[^\n]*\n\*+\n|\Z)", text,
                      re.S | re.M)
    assert match, f"{page} has no section {title!r}"
    return match.group(1)


def _command(name: str) -> click.Command:
    (point,) = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    command = point.load()
    assert isinstance(command, click.Command)
    return command


@pytest.mark.parametrize("name", DOCUMENTED_COMMANDS)
def test_every_flag_of_a_command_is_documented(name: str) -> None:
    text = _section("commands.rst", name)
    common = (DOCS / "commands.rst").read_text().split("occopus-import\n")[0]
    missing = [opt for param in _command(name).params if isinstance(param, click.Option)
               for opt in param.opts + param.secondary_opts
               if f"``{opt}" not in text and f"``{opt}" not in common]
    assert not missing, f"commands.rst does not document {name} {missing}"


def test_exit_codes_table_matches_the_error_hierarchy() -> None:
    codes = {0}
    pending: list[type[OccoError]] = [OccoError]
    while pending:
        cls = pending.pop()
        codes.add(cls.exit_code)
        pending.extend(cls.__subclasses__())
    table = _section("commands.rst", "Conventions").split("Exit status")[1]
    documented = {int(m) for m in re.findall(r"^(\d+)\s{2,}", table, re.M)}
    assert documented == codes


@pytest.mark.parametrize("states", [InstanceState, InfraState, ExecutionStatus, ResourceState],
                         ids=lambda s: s.__name__)
def test_every_state_is_documented(states: type[StrEnum]) -> None:
    text = (DOCS / "concepts.rst").read_text()
    missing = [s.value for s in states if f"``{s.value}``" not in text]
    assert not missing, f"concepts.rst does not name {missing}"
