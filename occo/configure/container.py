"""The container transport: orchestration jobs through a container engine's exec.

Docker's API runs a command in a running container (``exec``) and takes files
as a tar archive (``put_archive``); nothing is installed in the container.
Relative paths are relative to the container's working directory. A job over
its timeout is reported as timed out; the Engine offers no way to stop an
exec'd process, so it may run on in the container.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from occo.configure.transport import TailBuffer

_EXIT_WAIT = 10.0
_EXIT_POLL = 0.05


class ContainerTransport:
    """Jobs in one container, through a docker SDK low-level client (``client.api``)."""

    def __init__(self, api: Any, container_id: str) -> None:
        self.api = api
        self.container_id = container_id
        self._base: str | None = None

    def _root(self) -> str:
        if self._base is None:
            config = self.api.inspect_container(self.container_id).get("Config") or {}
            self._base = str(config.get("WorkingDir") or "/")
        return self._base

    def _path(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self._root(), path))

    def run(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
            timeout: float) -> tuple[int | None, str]:
        exec_id = self.api.exec_create(self.container_id, list(argv), stdout=True, stderr=True,
                                       environment=dict(env) or None,
                                       workdir=self._path(cwd))["Id"]
        tail = TailBuffer()
        stream = self.api.exec_start(exec_id, stream=True)

        def drain() -> None:
            try:
                for chunk in stream:
                    tail.write(chunk)
            except (OSError, ValueError):
                pass            # the stream was closed under it, after a timeout

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        reader.join(timeout)
        timed_out = reader.is_alive()
        stream.close()          # interrupts the reader after a timeout
        # The SDK's stream leaves its HTTP response (and the Engine's socket) open.
        response = getattr(stream, "_response", None)
        if response is not None:
            response.close()
        if timed_out:
            reader.join(1.0)
            return None, tail.text()
        deadline = time.monotonic() + _EXIT_WAIT
        while True:           # the output has ended; the exit code follows at once
            info = self.api.exec_inspect(exec_id)
            if not info.get("Running") or time.monotonic() > deadline:
                return info.get("ExitCode"), tail.text()
            time.sleep(_EXIT_POLL)

    def put(self, source: Path, dest: str, mode: int) -> None:
        path = self._path(dest)
        code, output = self.run(["mkdir", "-p", "--", posixpath.dirname(path)], "/", {}, 60.0)
        if code != 0:
            raise OSError(f"cannot make the directory of {path}: {output.strip()}")
        data = source.read_bytes()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(posixpath.basename(path))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        if not self.api.put_archive(self.container_id, posixpath.dirname(path),
                                    archive.getvalue()):
            raise OSError(f"the engine refused to write {path}")

    def close(self) -> None:
        pass
