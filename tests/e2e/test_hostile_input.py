"""Hostile files given to the console scripts: exit 2, one line naming a position,
nothing stored, no traceback, and never a secret from auth_data.yaml.

Run in-process (click's CliRunner): the subject is what the commands print
and their exit status.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from occo.api import Occo
from occo.cli import build, destroy, executions, groups, import_cmd, maintain, rest_service, scale
from occo.config import Config
from tests.e2e.helpers import DATA
from tests.support import hostile

CLUSTER = DATA / "cluster.yaml"


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """occopus-build installs its own handlers; give pytest its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("template") / "home"
    with Occo(Config(home=home)) as api:
        api.import_node_definitions(DATA / "dummy_nodes.yaml")
    return home


@pytest.fixture
def home(tmp_path: Path, _template: Path) -> Path:
    """A home with the dummy node types, copied from one made once."""
    return Path(shutil.copytree(_template, tmp_path / "home"))


def invoke(home: Path, command: click.Command, *args: str | Path) -> Result:
    env = {"OCCOPUS_HOME": str(home), "HOME": str(home.parent), "OCCOPUS_CONFIG_PATH": None,
           "OCCOPUS_STORE_URL": None, "OCCO_REST_TOKENS": None}
    return CliRunner().invoke(command, [str(a) for a in args], env=env)


def refused(result: Result, source: Path) -> str:
    """Exit 2 and one line on stderr, naming ``source:line:col``; nothing on stdout."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert lines[0].startswith(f"error: {source}:") and hostile.POSITION.search(lines[0]), \
        lines[0]
    return lines[0]


def nothing_stored(home: Path) -> None:
    with Occo(Config(home=home)) as api:
        assert api.list_infrastructures() == []
        assert api.store.dummy.count() == 0
        assert api.executions() == []
        assert sorted(api.node_definitions()) == ["broken", "fast", "slow"]


@pytest.mark.parametrize("name", sorted(hostile.DESCRIPTIONS))
def test_occopus_build_refuses_hostile_descriptions(home: Path, tmp_path: Path,
                                                    name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(hostile.DESCRIPTIONS[name])
    for flags in (["--dry-run"], ["--parallelize"]):
        refused(invoke(home, build.main, *flags, path), path)
    nothing_stored(home)


@pytest.mark.parametrize("name", sorted(hostile.NODE_DEFINITIONS))
def test_occopus_import_refuses_hostile_node_definitions(home: Path, tmp_path: Path,
                                                          name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(hostile.NODE_DEFINITIONS[name])
    refused(invoke(home, import_cmd.main, path), path)
    nothing_stored(home)


def test_scaling_beyond_the_bound_is_refused_and_the_bound_is_configurable(
        home: Path, tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_bytes(hostile.DESCRIPTIONS["min_hundred_million"])
    message = refused(invoke(home, build.main, path), path)
    assert f"{path}:5:20: nodes[0].scaling.min: scaling.min is 100000000" in message
    assert "at most 100000" in message and "max_instances" in message
    wide = tmp_path / "wide.yaml"
    wide.write_text("infra_name: wide\nnodes:\n" + "".join(
        f"  - {{name: n{i}, type: fast, scaling: {{min: 60000}}}}\n" for i in range(2)))
    assert "add up to 120000 instances" in refused(invoke(home, build.main, "--dry-run", wide),
                                                   wide)
    config = tmp_path / "occopus_config.yaml"
    config.write_text(f"home: {home}\nmax_instances: 3\n")
    few = tmp_path / "few.yaml"
    few.write_text("infra_name: few\nnodes:\n  - {name: a, type: fast, scaling: {min: 1, max: 4}}\n")
    assert "at most 3 instances" in refused(
        invoke(home, build.main, "--cfg", config, "--dry-run", few), few)
    nothing_stored(home)


def test_a_filter_matching_no_implementation_names_the_node(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "filtered.yaml"
    path.write_bytes(hostile.DESCRIPTIONS["filter_matching_nothing"])
    message = refused(invoke(home, build.main, "--dry-run", path), path)
    assert message.startswith(f"error: {path}:5:13: node 'a': no implementation matches")


CONFIGS = {
    "deep": f"concurrency: {hostile.nested(300)}\n".encode(),
    "bad_bytes": b"concurrency: 4\nreport_log: /tmp/caf\xe9\n",
    "alias_as_key": b"x: &m {a: 1}\nrest: {*m : 1}\n",
    "control_character": b"report_log: a\x07\n",
    "import_of_a_directory": b"report_log: !text_import {url: 'file:///'}\n",
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hostile_config_files_are_refused_at_a_position(home: Path, tmp_path: Path,
                                                        name: str) -> None:
    path = tmp_path / "occopus_config.yaml"
    path.write_bytes(CONFIGS[name])
    refused(invoke(home, maintain.main, "--cfg", path, "-l"), path)


COMMANDS: list[tuple[str, click.Command, tuple[str | Path, ...]]] = [
    ("import", import_cmd.main, (DATA / "dummy_nodes.yaml",)),
    ("build", build.main, (CLUSTER,)),
    ("build --dry-run", build.main, ("--dry-run", CLUSTER)),
    ("destroy", destroy.main, ("-i", "no-such-infra")),
    ("maintain -l", maintain.main, ("-l",)),
    ("maintain", maintain.main, ()),
    ("scale", scale.main, ("-i", "no-such-infra", "-n", "worker", "-c", "1")),
    ("rest-service", rest_service.main, ("--port", "0")),
]


@pytest.mark.parametrize("name", sorted(hostile.AUTH_DATA))
def test_malformed_auth_data_never_shows_a_secret(home: Path, tmp_path: Path,
                                                   name: str) -> None:
    auth = tmp_path / "auth_data.yaml"
    auth.write_bytes(hostile.AUTH_DATA[name])
    auth.chmod(0o600)
    outputs = []
    for label, command, args in COMMANDS:
        result = invoke(home, command, "--auth_data_path", auth, *args)
        outputs.append(result.output)
        refused(result, auth)
        assert hostile.SECRET not in result.output, label
    for group, sub in ((executions.main, "list"), (groups.main, "list")):
        result = invoke(home, group, "--auth_data_path", auth, sub)
        refused(result, auth)
        assert hostile.SECRET not in result.output
    assert len(set(outputs)) == 1           # every command says the same, once
    nothing_stored(home)
