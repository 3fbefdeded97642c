"""``command: [pg_isready, -h, "{{ip}}"]`` — a program run by occo exits 0.

occo's own check, for anything the built-in ones cannot see. The command is
an argument list, or a string split like a shell would split words (quotes
respected) but never given to a shell: no pipes, globs or ``$VARS``. ``{{ip}}``
in any argument becomes the instance's address. It runs on the machine that
runs occo, with occo's environment, in its own process group, which is
killed when it outlives the probe's timeout. A non-zero exit is unhealthy;
the reason is the exit status and the last line the command wrote to stderr.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from typing import Any, ClassVar

from occo.health.base import HealthCheck, HealthResult, HealthTarget

_IP_PLACEHOLDER = re.compile(r"\{\{\s*ip\s*\}\}")
_REASON_LIMIT = 300
_DRAIN_AFTER_KILL = 1.0


def command_argv(argument: Any, ip: str | None) -> list[str]:
    """The argument list to run; TypeError/ValueError when there is none or no IP for ``{{ip}}``."""
    if isinstance(argument, str):
        try:
            argv = shlex.split(argument)
        except ValueError as exc:
            raise ValueError(f"cannot split command {argument!r}: {exc}") from None
    elif isinstance(argument, (list, tuple)):
        argv = [str(item) for item in argument]
    else:
        raise TypeError(f"command expects a list of arguments or a string, got {argument!r}")
    if not argv or not argv[0]:
        raise ValueError("command names no program")
    if any(_IP_PLACEHOLDER.search(arg) for arg in argv):
        if ip is None:
            raise ValueError("instance has no IP address yet")
        argv = [_IP_PLACEHOLDER.sub(ip, arg) for arg in argv]
    return argv


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= _REASON_LIMIT else line[:_REASON_LIMIT] + "..."


def interpret_exit(returncode: int, stderr: str) -> HealthResult:
    if returncode == 0:
        return HealthResult(True)
    status = (f"killed by signal {-returncode}" if returncode < 0
              else f"exit status {returncode}")
    tail = last_line(stderr)
    return HealthResult(False, f"{status}: {tail}" if tail else f"{status} (nothing on stderr)")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class CommandCheck(HealthCheck):
    """Run a command; healthy when it exits 0 within ``timeout``."""

    name: ClassVar[str] = "command"

    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        try:
            argv = command_argv(argument, target.ip)
        except (TypeError, ValueError) as exc:
            return HealthResult(False, str(exc))
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return HealthResult(False, f"cannot run {argv[0]!r}: {exc.strerror or exc}")
        with proc:   # closes the pipe and reaps the process on every path
            try:
                _, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)   # not yet reaped: its PID cannot have been reused
                try:   # a child that left the group may hold stderr open: do not wait for it
                    proc.communicate(timeout=_DRAIN_AFTER_KILL)
                except subprocess.TimeoutExpired:
                    proc.kill()
                return HealthResult(False, f"{argv[0]} did not finish within {timeout:g} s "
                                           f"(killed)")
            except BaseException:
                _kill_group(proc)
                raise
        return interpret_exit(proc.returncode, stderr.decode("utf-8", "replace"))
