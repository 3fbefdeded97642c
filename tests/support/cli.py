"""Running occo's console scripts as a user would, against an isolated home.

``Cli.run`` runs a command in this process with click's ``CliRunner``: the
same parsing, output and exit code as the installed script, without paying
for a new interpreter. Each invocation gets the Cli's own environment
(``OCCOPUS_HOME``, ``HOME``, no ``OCCOPUS_*``/``OCCO_*`` of the machine) and
working directory, and leaves the process as it found it (signal handlers,
environment, directory, logging).

``Cli.run_process`` and ``Cli.start`` run the real console script found next
to ``sys.executable`` (never on PATH) in its own process group, for what only
a real process shows: signals, crashes, start-up. ``Cli.close()`` kills every
group still running; the ``cli`` fixture calls it even when the test fails.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

BIN = Path(sys.executable).parent
_PRIVATE = ("OCCOPUS_", "OCCO_")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class Result:
    """A finished command: what a user sees of it."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


@functools.cache
def command(name: str) -> click.Command:
    """The click command behind console script ``name``, as setup.cfg declares it."""
    (script,) = entry_points(group="console_scripts", name=name)
    loaded = script.load()
    assert isinstance(loaded, click.Command), f"{name} is not a click command"
    return loaded


@contextlib.contextmanager
def _as_a_process() -> Iterator[None]:
    """What a fresh process would see, and nothing left behind: signal handlers and
    the logging a command configures are put back as they were."""
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    loggers = [logging.getLogger(), logging.getLogger("apscheduler")]
    saved = [(logger, list(logger.handlers), logger.level) for logger in loggers]
    try:
        with warnings.catch_warnings():
            # A user-facing warning is printed, as a real process prints it.
            warnings.filterwarnings("always", category=UserWarning)
            yield
    finally:
        for logger, before, level in saved:
            for handler in [h for h in logger.handlers if h not in before]:
                logger.removeHandler(handler)
                handler.close()
            for handler in [h for h in before if h not in logger.handlers]:
                logger.addHandler(handler)
            logger.setLevel(level)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


class Cli:
    """occo's commands against one isolated home (``OCCOPUS_HOME``), run from ``root``."""

    def __init__(self, home: Path, root: Path | None = None) -> None:
        self.home = home
        self.root = root or home.parent
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE)}
        self.env.update(OCCOPUS_HOME=str(home), HOME=str(self.root))
        self._started: list[subprocess.Popen[str]] = []

    # -- in this process ------------------------------------------------------------------
    def run(self, name: str, *args: str | Path, check: bool = True,
            input: str | None = None) -> Result:
        """Run a command in-process; with ``check``, fail the test unless it exits 0."""
        argv = [str(a) for a in args]
        changes: dict[str, str | None] = {k: None for k in os.environ
                                           if k.startswith(_PRIVATE) and k not in self.env}
        changes.update({k: v for k, v in self.env.items() if os.environ.get(k) != v})
        self.root.mkdir(parents=True, exist_ok=True)
        with _as_a_process(), contextlib.chdir(self.root):
            outcome = CliRunner(env=changes).invoke(command(name), argv, input=input,
                                                    prog_name=name, catch_exceptions=False)
        result = Result([name, *argv], outcome.exit_code, outcome.stdout, outcome.stderr)
        if check:
            assert result.returncode == 0, str(result)
        return result

    # -- as real processes ----------------------------------------------------------------
    def argv(self, name: str, *args: str | Path) -> list[str]:
        return [str(BIN / name), *map(str, args)]

    def run_process(self, name: str, *args: str | Path, check: bool = True,
                    timeout: float = 120) -> Result:
        """Run the installed script to its end (killed with its group at the timeout)."""
        proc = self.popen(name, *args)
        stdout, stderr = self.finish(proc, timeout)
        result = Result(self.argv(name, *args), proc.returncode, stdout, stderr)
        if check:
            assert result.returncode == 0, str(result)
        return result

    def popen(self, name: str, *args: str | Path, **kwargs: Any) -> subprocess.Popen[str]:
        """Start the installed script in its own process group; ended by :meth:`close`."""
        options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        options.update(kwargs)
        self.root.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(self.argv(name, *args), env=self.env, cwd=self.root, text=True,
                                start_new_session=True, **options)
        self._started.append(proc)
        return proc

    start = popen

    @staticmethod
    def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
        """Wait for ``proc`` and return its output; kill its group if it overstays."""
        try:
            return proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                kill_group(proc)

    def close(self) -> None:
        """Kill the process group of every command started here that still runs."""
        for proc in self._started:
            if proc.poll() is None:
                kill_group(proc)
            else:
                proc.communicate()


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL ``proc``'s process group (it leads one: start_new_session) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
