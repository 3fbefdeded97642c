"""Transports: how a job step reaches a running instance, and running one step.

A transport runs an argument vector in a directory with an environment,
uploads a file, and is closed after the instance's last job. Paths are POSIX
strings relative to the transport's start directory (a local instance's
directory, an SSH login's home or configured ``workdir``, a container's
working directory) unless absolute. :func:`run_step` turns a planned step
(see :mod:`occo.configure.orchestration`) into those calls.

:class:`ProcessTransport` runs commands on this machine (local nodes), in a
new session so a timeout kills the job's whole process group.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

OUTPUT_TAIL = 2000            # characters of a job's output kept with its task
_CHUNK = 65536
START_DIR = "."           # the transport's own start directory


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

    def drain(self, stream: IO[bytes]) -> None:
        """Read ``stream`` to its end (run in a thread beside the process)."""
        while chunk := stream.read1(_CHUNK) if hasattr(stream, "read1") else stream.read(_CHUNK):
            self.write(chunk)

    def text(self) -> str:
        data = b"".join(self._chunks).decode(errors="replace")
        if self.truncated or len(data) > OUTPUT_TAIL:
            return "..." + data[-OUTPUT_TAIL:]
        return data


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

class ProcessTransport:
    """Runs jobs as processes of this machine, below ``root``.

    ``env`` is the base environment (the instance's, as at creation); ``wrap``
    puts the command into the instance's network namespace. The PID of the
    job in flight is written to ``marker``, so destroying the instance kills it.
    """

    def __init__(self, root: Path, env: Mapping[str, str], *,
                 wrap: Callable[[list[str]], list[str]] | None = None,
                 marker: Path | None = None) -> None:
        self.root = root
        self.env = dict(env)
        self.wrap = wrap or (lambda argv: argv)
        self.marker = marker

    def _path(self, path: str) -> Path:
        return Path(posixpath.join(str(self.root), path))

    def run(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
            timeout: float) -> tuple[int | None, str]:
        tail = TailBuffer()
        proc = subprocess.Popen(self.wrap(list(argv)), cwd=self._path(cwd),
                                env={**self.env, **env}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if self.marker is not None:
            self.marker.parent.mkdir(parents=True, exist_ok=True)
            self.marker.write_text(str(proc.pid))
        assert proc.stdout is not None
        reader = threading.Thread(target=tail.drain, args=(proc.stdout,), daemon=True)
        reader.start()
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        finally:
            if self.marker is not None:
                self.marker.unlink(missing_ok=True)
        reader.join(timeout=5)
        proc.stdout.close()
        return code, tail.text()

    def put(self, source: Path, dest: str, mode: int) -> None:
        target = self._path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.occo-tmp")
        shutil.copyfile(source, tmp)
        os.chmod(tmp, mode)
        tmp.replace(target)

    def close(self) -> None:
        pass

