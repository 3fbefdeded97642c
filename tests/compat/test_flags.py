"""Issue 9, item 5: every flag Occopus's usage document gives each script, both spellings.

The lists below were written from Occopus's usage document (and, for the long
spellings it leaves out, from Occopus's own scripts: ``--infraid`` on maintain
and scale, ``--infra_id`` on build, ``--interval``); each script's ``--help``
must show them and its parser must accept them.
"""

from __future__ import annotations

import re

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


@pytest.mark.parametrize("script", sorted(OCCOPUS_FLAGS))
def test_version_on_every_script(script: str) -> None:
    command, _ = OCCOPUS_FLAGS[script]
    ran = CliRunner().invoke(command, ["--version"], prog_name=script)
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
