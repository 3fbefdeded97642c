"""README's quick start does what README says, with real processes.

The commands are taken from README.rst itself, so the test fails when the
README and the demo files drift apart. Creating the virtualenv and
installing are left out (the test runs inside an installed environment);
everything after them runs as written, with ``.venv/bin/`` standing for the
directory of this interpreter's console scripts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docutils.core
import docutils.nodes
import pytest

from tests.e2e.helpers import describe_processes, processes_under
from tests.support.cli import BIN, Cli, Result
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ".venv/bin/"


def readme_blocks() -> list[str]:
    doctree = docutils.core.publish_doctree(
        (ROOT / "README.rst").read_text(), settings_overrides={"report_level": 4})
    return [block.astext() for block in doctree.findall(docutils.nodes.literal_block)]


def block_with(word: str) -> str:
    (block,) = [b for b in readme_blocks() if word in b]
    return block


def commands(block: str) -> list[list[str]]:
    """README shell lines as argument lists: one per line and ``&&``, comments dropped."""
    out: list[list[str]] = []
    for line in block.splitlines():
        out.append([])
        for word in shlex.split(line, comments=True):
            if word == "&&":
                out.append([])
            else:
                out[-1].append(word)
    return [c for c in out if c]


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when no such process runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rpartition(")")[2].split()
    return None if fields[0] == "Z" else int(fields[19])


class Home:
    """An occo home of the test's own; runs README commands against it (in-process,
    from the top of the repository, as README's ``.venv/bin/`` commands)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cli = Cli(path, root=ROOT)

    def run(self, argv: list[str]) -> Result:
        assert argv[0].startswith(VENV_BIN), argv
        name = argv[0][len(VENV_BIN):]
        assert (BIN / name).is_file(), f"{name} is not installed next to {BIN}"
        return self.cli.run(name, *argv[1:])

    def report(self, infra_id: str) -> dict:
        return json.loads(self.cli.run("occopus-maintain", "-r", "-i", infra_id,
                                       "--json").stdout)

    def processes(self) -> dict[str, tuple[int, int]]:
        """Instance id -> (pid, start time) as the local handler recorded them."""
        out = {}
        for record in (self.path / "instances").glob("*/process.json"):
            data = json.loads(record.read_text())
            out[record.parent.name] = (int(data["pid"]), int(data["start_time"]))
        return out

    def destroy_all(self) -> None:
        """Leave no process behind, whatever the test did."""
        listing = self.cli.run("occopus-maintain", "-l", check=False)
        for line in listing.stdout.splitlines():
            self.cli.run("occopus-destroy", "-i", line.split("\t")[0], check=False)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path / "occopus")
    try:
        yield h
    finally:
        h.destroy_all()


def test_quick_start_commands_are_single_lines() -> None:
    demo, tests = block_with("occopus-build"), block_with("pytest")
    assert "\n" not in demo and "\n" not in tests
    steps = commands(demo)
    assert steps[0] == ["python3", "-m", "venv", ".venv"]
    assert steps[1][:3] == [".venv/bin/pip", "install", "-q"] and steps[1][-2:] == ["-e", "."]


def test_readme_test_command_is_the_one_ci_runs() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert block_with("pytest") in ci_lines


def test_readme_demo_builds_real_processes_and_destroy_stops_them(home: Home) -> None:
    steps = commands(block_with("occopus-build"))[2:]      # after venv + pip install
    assert steps[-1][0] == VENV_BIN + "occopus-build"
    for step in steps[:-1]:
        home.run(step)
    infra_id = home.run(steps[-1]).stdout.strip()
    assert str(uuid.UUID(infra_id)) == infra_id, "stdout must carry only the infra id"

    report = home.report(infra_id)
    assert {n: e["scaling"]["actual"] for n, e in report.items()} == {"store": 1, "worker": 2}
    for node, entry in report.items():
        for inst in entry["instances"].values():
            assert inst == {"state": "ready", "resource_address": "127.0.0.1"}, node

    # The store answers on the port occo gave it; each worker keeps fetching from it.
    (store_id,) = report["store"]["instances"]
    store_env = json.loads((home.path / "instances" / store_id / "process.json").read_text())
    port = store_env["ports"]["8080"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/", timeout=5) as response:
        assert response.read().decode().startswith(f"store {store_id[:8]} answers request")
    for worker_id in report["worker"]["instances"]:
        log = home.path / "instances" / worker_id / "fetched.log"
        wait_until(lambda log=log: log.is_file() and log.read_text().count(
                   f"store {store_id[:8]} answers request") >= 2,
                   what=f"worker {worker_id} to write two answers")

    # README's follow-up commands, with the printed id.
    processes = home.processes()
    assert len(processes) == 3
    follow_up = commands(block_with("occopus-destroy").replace("ID", infra_id))
    assert [step[0] for step in follow_up] == [VENV_BIN + "occopus-maintain",
                                               VENV_BIN + "occopus-destroy"]
    text = home.run(follow_up[0]).stdout
    rows = re.findall(r"^ +([0-9a-f-]{36}) +ready +127\.0\.0\.1$", text, re.M)
    assert sorted(rows) == sorted(processes), text
    home.run(follow_up[1])

    alive = [iid for iid, (pid, start) in processes.items()
             if process_start_time(pid) == start]
    assert alive == [], f"processes of {alive} still run after destroy"
    left = processes_under(home.path)
    assert left == [], describe_processes(left)
    assert not any((home.path / "instances").iterdir())
    listing = home.run([VENV_BIN + "occopus-maintain", "-l"]).stdout
    assert infra_id not in listing


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_netns_demo_gives_each_instance_its_own_address(home: Home) -> None:
    home.run([VENV_BIN + "occopus-import", "node_defs/local_demo.yaml"])
    infra_id = home.run([VENV_BIN + "occopus-build", "--parallelize",
                         "examples/local_demo_netns.yaml"]).stdout.strip()
    report = home.report(infra_id)
    addresses = [inst["resource_address"] for entry in report.values()
                 for inst in entry["instances"].values()]
    assert len(set(addresses)) == 3 and all(a.startswith("10.213.") for a in addresses)
    (store_id,) = report["store"]["instances"]
    store_ip = report["store"]["instances"][store_id]["resource_address"]
    for worker_id in report["worker"]["instances"]:
        out = (home.path / "instances" / worker_id / "stdout.log").read_text()
        assert f"http://{store_ip}:8080/" in out     # the port as written: no mapping
        log = home.path / "instances" / worker_id / "fetched.log"
        wait_until(lambda log=log: log.is_file() and f"store {store_id[:8]}" in log.read_text(),
                   what=f"worker {worker_id} to reach the store")
    processes = home.processes()
    home.run([VENV_BIN + "occopus-destroy", "-i", infra_id])
    assert not [pid for pid, start in processes.values() if process_start_time(pid) == start]
