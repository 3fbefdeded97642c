"""Transports: how a job step reaches a running instance, and running one step.

A transport runs an argument vector in a directory with an environment,
uploads a file, and is closed after the instance's last job. Paths are POSIX
strings relative to the transport's start directory (a local instance's
directory, an SSH login's home or configured ``workdir``, a container's
working directory) unless absolute. :func:`run_step` turns a planned step
(see :mod:`occo.configure.orchestration`) into those calls.

:class:`ProcessTransport` runs commands on this machine (local nodes) through
:func:`run_process`, which creation-time jobs use too (:mod:`occo.configure.runner`).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

OUTPUT_TAIL = 2000            # characters of a job's output kept with its task
START_DIR = "."           # the transport's own start directory
JOB_LOG_LIMIT = 1 << 20   # bytes a local instance's day-2 job log may reach before the
                          # next job starts it afresh


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended: ``exit_code`` None means it timed out or could not start."""

    ok: bool
    exit_code: int | None = None
    output: str = ""
    error: str | None = None


@runtime_checkable
class Transport(Protocol):
    """What running a job on an instance needs; one per instance and orchestration."""

    def run(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
            timeout: float) -> tuple[int | None, str]:
        """Exit status (None on timeout) and the tail of stdout+stderr."""

    def put(self, source: Path, dest: str, mode: int) -> None:
        """Upload one local file to ``dest`` (parent directories made as needed)."""

    def close(self) -> None: ...


class TailBuffer:
    """Keeps the last ``limit`` bytes written to it (a job's output may be endless)."""

    def __init__(self, limit: int = OUTPUT_TAIL * 4) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self.truncated = False

    def write(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size - len(self._chunks[0]) >= self._limit:
            self._size -= len(self._chunks.popleft())
            self.truncated = True

    def text(self) -> str:
        return tail_text(b"".join(self._chunks), self.truncated)


def tail_text(data: bytes, truncated: bool) -> str:
    """The last :data:`OUTPUT_TAIL` characters of ``data``, marked when some are left out."""
    text = data.decode(errors="replace")
    if truncated or len(text) > OUTPUT_TAIL:
        return "..." + text[-OUTPUT_TAIL:]
    return text


def run_step(transport: Transport, step: Mapping[str, Any],
             redact: Callable[[str], str] = lambda text: text) -> StepOutcome:
    """Run one planned step; never raises for what the instance did (an OSError, a
    timeout, a non-zero exit are outcomes, with their message redacted)."""
    verb = step["verb"]
    try:
        if verb == "RUN":
            code, output = transport.run(step["argv"], step["cwd"], step["env"],
                                         float(step["timeout"]))
            output = redact(output)
            if code is None:
                return StepOutcome(False, None, output,
                                   f"timed out after {float(step['timeout']):g} s")
            return StepOutcome(code == 0, code, output,
                               None if code == 0 else f"exited with status {code}")
        if verb == "WORKDIR":
            code, output = transport.run(["mkdir", "-p", "--", step["path"]], START_DIR, {},
                                         60.0)
            return StepOutcome(code == 0, code, redact(output),
                               None if code == 0 else f"cannot make directory {step['path']}")
        if verb == "ADD":
            for item in step["files"]:
                transport.put(Path(item["source"]), item["dest"], int(item["mode"]))
            if step.get("chown"):
                dests = [item["dest"] for item in step["files"]]
                code, output = transport.run(["chown", "--", step["chown"], *dests],
                                             START_DIR, {}, 60.0)
                if code != 0:
                    return StepOutcome(False, code, redact(output), "chown failed")
            return StepOutcome(True, 0, f"{len(step['files'])} file(s) uploaded")
        return StepOutcome(True, 0)     # ENV, ARG: they shape later steps only
    except (OSError, EOFError, ValueError, KeyError) as exc:
        return StepOutcome(False, None, "", redact(f"{type(exc).__name__}: {exc}"))



# --------------------------------------------------------------------------- local processes

def run_process(argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float,
                output: IO[bytes], marker: Path | None = None) -> tuple[int | None, str]:
    """Run ``argv`` in a new session, its stdout and stderr appended to ``output``.

    Returns the exit status (None when it ran over ``timeout``: its whole
    process group is killed) and the tail of what it wrote. ``output`` is a
    file opened for reading too, not a pipe: a job that starts a daemon leaves
    it holding the job's stdout, and reading a pipe would wait for the daemon
    to end. The PID is in ``marker`` while the job runs (destroying the
    instance kills it).
    """
    output.flush()
    start = os.fstat(output.fileno()).st_size
    proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(proc.pid))
        code: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)
    end = os.fstat(output.fileno()).st_size
    first = max(start, end - OUTPUT_TAIL * 4)
    return code, tail_text(os.pread(output.fileno(), end - first, first), first > start)


class ProcessTransport:
    """Runs jobs as processes of this machine, below ``root``.

    ``env`` is the base environment (the instance's, as at creation); ``wrap``
    puts the command into the instance's network namespace. The PID of the
    job in flight is written to ``marker``, so destroying the instance kills it.
    Every job's output is appended to ``log``, a file the user can find and that
    goes with the instance: a daemon a job starts keeps writing there, so it is
    started afresh by the first job after it outgrows :data:`JOB_LOG_LIMIT`.
    """

    def __init__(self, root: Path, env: Mapping[str, str], *, log: Path,
                 wrap: Callable[[list[str]], list[str]] | None = None,
                 marker: Path | None = None) -> None:
        self.root = root
        self.env = dict(env)
        self.log = log
        self.wrap = wrap or (lambda argv: argv)
        self.marker = marker

    def _path(self, path: str) -> Path:
        return Path(posixpath.join(str(self.root), path))

    def run(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
            timeout: float) -> tuple[int | None, str]:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        # Appending (O_APPEND, shared with any daemon) keeps a truncated file dense.
        with open(self.log, "a+b") as output:
            if os.fstat(output.fileno()).st_size > JOB_LOG_LIMIT:
                output.truncate(0)
            return run_process(self.wrap(list(argv)), self._path(cwd), {**self.env, **env},
                               timeout, output, self.marker)

    def put(self, source: Path, dest: str, mode: int) -> None:
        target = self._path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.occo-tmp")
        shutil.copyfile(source, tmp)
        os.chmod(tmp, mode)
        tmp.replace(target)

    def close(self) -> None:
        pass
