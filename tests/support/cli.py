"""Running occo's console scripts as a user would, against an isolated home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


class Cli:
    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "OCCOPUS_HOME": str(home)}
        self.env.pop("OCCOPUS_STORE_URL", None)

    def run(self, command: str, *args: str, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(BIN / command), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{command} {args} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def popen(self, command: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(BIN / command), *args], env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)




def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
