"""Issue 9, item 5: every flag Occopus's usage document gives each script, both spellings.

The lists below were written from Occopus's usage document (and, for the long
spellings it leaves out, from Occopus's own scripts: ``--infraid`` on maintain
and scale, ``--infra_id`` on build, ``--interval``); each script's ``--help``
must show them and its parser must accept them. Where the usage document
itself is at hand (``shared/seeds/004_*`` beside the checkout, or
``$OCCO_USAGE_DOC``), a test walks its flags against each installed script.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import occo
from occo.cli.build import main as build
from occo.cli.destroy import main as destroy
from occo.cli.executions import main as executions
from occo.cli.groups import main as groups
from occo.cli.import_cmd import main as import_cmd
from occo.cli.maintain import main as maintain
from occo.cli.rest_service import main as rest_service
from occo.cli.scale import main as scale

COMMON = ["-h", "--help", "--cfg", "--auth_data_path", "--version"]
OCCOPUS_FLAGS: dict[str, tuple[click.Command, list[str]]] = {
    "occopus-build": (build, [*COMMON, "--parallelize", "-i", "--infra_id"]),
    "occopus-destroy": (destroy, [*COMMON, "-i", "--infraid"]),
    "occopus-maintain": (maintain, [*COMMON, "--parallelize", "-l", "--list", "-r",
                                    "--report", "-i", "--infraid", "-c", "--cyclic", "-t",
                                    "--interval", "-o", "--output", "-f", "--filter"]),
    "occopus-scale": (scale, [*COMMON, "-i", "--infraid", "-n", "--node", "-c",
                              "--changescale", "-s", "--setscale", "-f", "--filter"]),
    "occopus-import": (import_cmd, ["-h", "--help", "--cfg", "--version"]),
    "occopus-rest-service": (rest_service, [*COMMON, "--host", "--port", "--parallelize"]),
    "occopus-groups": (groups, ["-h", "--help", "--cfg", "--version"]),
    "occopus-executions": (executions, ["-h", "--help", "--cfg", "--version"]),
}


@pytest.mark.parametrize("script", sorted(OCCOPUS_FLAGS))
def test_help_shows_every_occopus_flag_and_the_parser_takes_it(script: str) -> None:
    command, flags = OCCOPUS_FLAGS[script]
    shown = CliRunner().invoke(command, ["--help"], prog_name=script)
    assert shown.exit_code == 0, shown.output
    listed = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", shown.output))
    missing = [flag for flag in flags if flag not in listed]
    assert not missing, f"{script} --help lacks {missing}:\n{shown.output}"
    parsed = {opt for param in command.params for opt in param.opts}
    parsed |= {"-h", "--help"}
    assert not [flag for flag in flags if flag not in parsed]


INSTALLED = sorted(ep.name for ep in entry_points(group="console_scripts")
                   if ep.name.startswith("occopus-"))


def test_every_installed_script_is_in_the_table() -> None:
    assert set(INSTALLED) - set(OCCOPUS_FLAGS) <= {"occopus-orchestrate", "occopus-triggers"}
    assert set(OCCOPUS_FLAGS) <= set(INSTALLED)


@pytest.mark.parametrize("script", INSTALLED)
def test_version_on_every_script(script: str) -> None:
    (point,) = entry_points(group="console_scripts", name=script)
    ran = CliRunner().invoke(point.load(), ["--version"], prog_name=script)
    assert (ran.exit_code, ran.output) == (0, f"occo {occo.__version__}\n")


@pytest.mark.parametrize(("command", "args"), [
    (maintain, ["--report", "--infraid", "x-404", "--interval", "5"]),
    (scale, ["--infraid", "x-404", "--node", "n", "--changescale", "1"]),
    (destroy, ["--infraid", "x-404"]),
])
def test_long_spellings_reach_the_same_option(command: click.Command, args: list[str],
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: object) -> None:
    monkeypatch.setenv("OCCOPUS_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OCCOPUS_CONFIG_PATH", raising=False)
    ran = CliRunner().invoke(command, args)
    # the id given with the long spelling is the one looked up (and not found)
    assert ran.exit_code == 2 and "x-404" in ran.stderr and "Usage:" not in ran.stderr, \
        ran.stderr


def _usage_document() -> Path | None:
    if os.environ.get("OCCO_USAGE_DOC"):
        return Path(os.environ["OCCO_USAGE_DOC"])
    root = Path(__file__).resolve().parents[2]
    for folder in (root, *root.parents):
        found = sorted((folder / "shared" / "seeds").glob("004_*"))
        if found:
            return found[0]
    return None


_FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_HEADING = re.compile(r"^(\S[^\n]*)\n([=*#-])\2{3,}$", re.M)


def usage_flags(text: str) -> dict[str, set[str]]:
    """Script -> the flags its section of the usage document shows: in its usage
    block and in the names of its parameter list."""
    headings = list(_HEADING.finditer(text))
    flags: dict[str, set[str]] = {}
    for heading, after in zip(headings, [*headings[1:], None], strict=True):
        script = heading.group(1).strip()
        if not script.startswith("occopus-"):
            continue
        section = text[heading.end():after.start() if after else len(text)]
        usage = re.search(r"\.\. code:: bash\n\n((?:[ \t]+\S.*\n?)+)", section)
        names = re.findall(r"^\s*\* ``([^`]*)``", section, re.M)
        flags[script] = set(_FLAG.findall(usage.group(1) if usage else ""))
        flags[script] |= {flag for name in names for flag in _FLAG.findall(name)}
    return flags


def test_the_usage_documents_flags_are_on_each_scripts_help() -> None:
    document = _usage_document()
    if document is None:
        pytest.skip("Occopus's usage document (shared/seeds/004_*) is not beside this "
                    "checkout; set OCCO_USAGE_DOC to its path")
    documented = usage_flags(document.read_text())
    scripts = {ep.name: ep for ep in entry_points(group="console_scripts")
               if ep.name.startswith("occopus-")}
    assert set(documented) == {"occopus-build", "occopus-destroy", "occopus-maintain",
                               "occopus-scale", "occopus-import", "occopus-rest-service"}
    for script, flags in sorted(documented.items()):
        assert {"-h", "--cfg"} <= flags and len(flags) >= 3, (script, flags)
        command = scripts[script].load()
        shown = CliRunner().invoke(command, ["--help"], prog_name=script)
        assert shown.exit_code == 0, shown.output
        listed = set(_FLAG.findall(shown.output))
        parsed = {opt for param in command.params for opt in param.opts} | {"-h", "--help"}
        assert not flags - listed, f"{script} --help lacks {sorted(flags - listed)}"
        assert not flags - parsed, f"{script} does not take {sorted(flags - parsed)}"
        # the hand-written table above says no less than the document
        assert flags <= set(OCCOPUS_FLAGS[script][1]), (script, flags)
