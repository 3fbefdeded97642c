"""End-to-end helpers: occo's console scripts run as a user runs them.

Each test gets its own ``OCCOPUS_HOME`` (and ``HOME`` and working directory, so
no config file of the machine is found) under ``tmp_path``. Commands run
in-process (tests/support/cli.py) unless a test needs a real process. The store
is opened only to look at what a user cannot see from the commands: how many
dummy resources are left, and the PIDs recorded for local instances.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

from occo.store.records import InstanceRecord
from occo.store.store import Store
from tests.support.cli import Cli, Result

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def proc_start_time(pid: int) -> int | None:
    """Start time (field 22 of /proc/<pid>/stat) of a live, non-zombie process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rpartition(")")[2].split()
    if fields[0] in ("Z", "X", "x"):
        return None
    return int(fields[19])


def process_runs(pid: int, start_time: int) -> bool:
    """True when the recorded process (not a later one reusing its PID) still runs."""
    return proc_start_time(pid) == start_time


class Occopus(Cli):
    """The occopus-* commands against one isolated home, and a look into its store."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "occopus-home", root)
        self.url = f"sqlite:///{self.home / 'occopus.db'}"
        self._store: Store | None = None

    def import_defs(self, path: Path) -> Result:
        return self.run("occopus-import", path)

    def build(self, path: Path, *flags: str) -> str:
        """Build; stdout must be exactly the new infra id and a newline."""
        result = self.run("occopus-build", *flags, path)
        assert UUID.fullmatch(result.stdout.rstrip("\n")) and result.stdout.count("\n") == 1, \
            str(result)
        return result.stdout.strip()

    def listed(self) -> dict[str, tuple[str, str]]:
        """``occopus-maintain -l`` as ``{id: (name, state)}``."""
        result = self.run("occopus-maintain", "-l")
        out = {}
        for line in result.stdout.splitlines():
            infra_id, name, state = line.split("\t")
            out[infra_id] = (name, state)
        return out

    def report(self, infra_id: str, *flags: str) -> dict[str, Any]:
        return json.loads(self.run("occopus-maintain", "-r", "-i", infra_id, "--json",
                                   *flags).stdout)

    # -- the store, read-only use ----------------------------------------------------
    @property
    def store(self) -> Store:
        if self._store is None:
            self.home.mkdir(parents=True, exist_ok=True)
            self._store = Store(self.url)
        return self._store

    def dummy_count(self) -> int:
        return self.store.dummy.count()

    def instances(self, infra_id: str) -> list[InstanceRecord]:
        return self.store.instances.for_infra(infra_id)

    def node_defs(self) -> dict[str, list[dict[str, Any]]]:
        return self.store.node_defs.all()

    def local_processes(self) -> list[tuple[int, int]]:
        """(pid, start time) of every local instance this home ever recorded on disk."""
        found = []
        for record in (self.home / "instances").glob("*/process.json"):
            data = json.loads(record.read_text())
            found.append((int(data["pid"]), int(data["start_time"])))
        return found

    def close(self) -> None:
        """End the commands started, close the store, kill any local instance a failed
        test left running."""
        super().close()
        if self._store is not None:
            self._store.close()
        for pid, start in self.local_processes():
            if process_runs(pid, start):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def processes_under(directory: Path) -> list[int]:
    """PIDs of live processes whose working directory lies inside ``directory``
    (local instances run in ``<home>/instances/<id>``)."""
    root = directory.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if (cwd == root or root in cwd.parents) and proc_start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return found


def describe_processes(pids: list[int]) -> str:
    """Which instance each leftover process belongs to, for a failing assertion."""
    out = []
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        occo = [e.decode(errors="replace") for e in environ if e.startswith(b"OCCO_")]
        out.append(f"pid {pid} in {cwd}: {' '.join(sorted(occo))}")
    return "\n".join(out)
