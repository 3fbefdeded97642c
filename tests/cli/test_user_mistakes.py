"""A user's mistake gets one ``error:`` line and exit status 2, never "internal error",
and changes nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from occo.api import Occo
from occo.config import Config
from tests.support.cli import Cli, Result, command, write

NODE_DEFS = "'node_def:sim':\n  - resource: {type: dummy}\n"
INFRA = "infra_name: m\nnodes:\n  - {name: w, type: sim, scaling: {min: 1, max: 3}}\n"


def one_error(result: Result) -> str:
    """The single line a refused command prints."""
    assert result.returncode == 2, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), str(result)
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def built(cli: Cli, tmp_path: Path) -> str:
    """An infrastructure of one worker, with a scaling request waiting for a pass."""
    with Occo(Config(home=cli.home)) as occo:
        occo.import_node_definitions(write(tmp_path / "d.yaml", NODE_DEFS))
        infra_id = occo.build(write(tmp_path / "i.yaml", INFRA)).infra_id
        occo.scale(infra_id, "w", change=1)
    return infra_id


def pending_requests(cli: Cli, infra_id: str) -> int:
    with Occo(Config(home=cli.home)) as occo:
        return sum(r.applied_at is None for r in occo.store.scaling.all(infra_id))


def test_report_to_a_path_that_cannot_be_written(cli: Cli, built: str) -> None:
    message = one_error(cli.run("occopus-maintain", "-r", "-i", built, "-o",
                                "/nonexistent/dir/report.json", check=False))
    assert "/nonexistent/dir/report.json" in message and "No such file or directory" in message


@pytest.mark.parametrize(("flags", "named"), [
    (["--json"], "--json"), (["-f", "w"], "-f"), (["-o", "report.json"], "-o"),
    (["-l", "--json"], "--json")])
def test_report_flags_without_a_report_run_no_pass(cli: Cli, built: str, flags: list[str],
                                                   named: str) -> None:
    message = one_error(cli.run("occopus-maintain", "-i", built, *flags, check=False))
    assert f"{named} only go with -r/--report" in message
    assert pending_requests(cli, built) == 1          # no maintenance pass applied it
    assert not (cli.root / "report.json").exists()


def test_home_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    home = write(tmp_path / "not-a-dir", "")
    cli.env["OCCOPUS_HOME"] = str(home)
    message = one_error(cli.run("occopus-maintain", "-l", check=False))
    assert str(home) in message and "not a directory" in message


@pytest.mark.parametrize(("url", "words"), [
    ("bogus://", ["bogus://", "unknown kind of database 'bogus'"]),
    ("mysql://occo@localhost/occo", ["unknown kind of database 'mysql'"]),
    ("::no url at all", ["not a database URL"]),
    ("postgresql://occo:S3cret-pw@no-such-host.invalid/occo",
     ["cannot open the store", "no-such-host.invalid", "resolve"]),
])
def test_store_url_that_names_no_usable_store(cli: Cli, url: str, words: list[str]) -> None:
    cli.env["OCCOPUS_STORE_URL"] = url
    message = one_error(cli.run("occopus-maintain", "-l", check=False))
    for word in words:
        assert word in message
    assert "S3cret-pw" not in message                  # the password is never shown


RESOURCE = "'node_def:web':\n  - resource: {type: dummy}\n  - resource:\n      type: %s\n"


@pytest.mark.parametrize(("kind", "words"), [
    ("azur", ["unknown resource type 'azur'", "did you mean 'azure_vm'?"]),
    ("occi", ["unknown resource type 'occi'", "OCCI"]),
    ("azure", ["unknown resource type 'azure'", "before 1.10", "azure_vm"]),
])
def test_import_refuses_a_resource_type_nothing_knows(cli: Cli, tmp_path: Path, kind: str,
                                                       words: list[str]) -> None:
    path = write(tmp_path / "defs.yaml", RESOURCE % kind)
    message = one_error(cli.run("occopus-import", path, check=False))
    assert message.startswith(f"error: {path}:4:13: ")  # where the type is written
    for word in words:
        assert word in message
    assert cli.run("occopus-maintain", "-l").stdout == ""
    with Occo(Config(home=cli.home)) as occo:
        assert occo.node_definitions() == {}                # nothing imported


def test_import_accepts_the_type_of_an_installed_third_party_handler(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A distribution on sys.path that registers a handler for "acme_cloud".
    site = tmp_path / "site"
    info = site / "acme_occo-1.0.dist-info"
    info.mkdir(parents=True)
    write(info / "METADATA", "Metadata-Version: 2.1\nName: acme-occo\nVersion: 1.0\n")
    write(info / "entry_points.txt", "[occo.resource_handlers]\n"
          "acme_cloud = tests.support.plugins:SlowToCreateHandler\n")
    monkeypatch.syspath_prepend(str(site))
    path = write(tmp_path / "defs.yaml", RESOURCE % "acme_cloud")
    imported = cli.run("occopus-import", path)
    assert "web" in imported.stderr
    with Occo(Config(home=cli.home)) as occo:
        assert occo.node_definitions()["web"][1]["resource"] == {"type": "acme_cloud"}


@pytest.mark.parametrize("script", ["occopus-executions", "occopus-groups", "occopus-triggers"])
def test_every_sub_command_says_what_it_does(cli: Cli, script: str) -> None:
    def check(path: list[str], group: click.Group) -> None:
        listing = cli.run(script, *path, "--help").stdout
        entries = dict(re.findall(r"^  (\S+) *(.*)$", listing.split("Commands:")[1], re.M))
        assert set(entries) == set(group.commands), listing
        for name, sub in group.commands.items():
            assert entries[name], f"{script} {' '.join(path)} {name} has no help text"
            silent = [p.name for p in sub.params if isinstance(p, click.Option) and not p.help]
            assert not silent, f"{script} {' '.join(path)} {name}: options without help"
            if isinstance(sub, click.Group):
                check([*path, name], sub)

    main = command(script)
    assert isinstance(main, click.Group) and main.help
    check([], main)


def test_report_to_a_file_still_works(cli: Cli, built: str) -> None:
    cli.run("occopus-maintain", "-r", "-i", built, "--json", "-o", "report.json")
    assert set(json.loads((cli.root / "report.json").read_text())) == {"w"}
