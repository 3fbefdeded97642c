"""Progress on stderr: a live status line on a terminal, sparse lines otherwise.

stdout stays clean for the one value a command prints (the infra id).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from occo.engine.tasks import Task

PLAIN_EVERY = 2.0


class ProgressPrinter:
    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.status: dict[str, str] = {}
        self._live: Any = None
        self._last_plain = 0.0
        self._last_line = ""
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> ProgressPrinter:
        if self._tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live("", console=Console(stderr=True), refresh_per_second=8,
                              transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
        line = f"{self.verb}: {self._summary()}"
        if self.status and line != self._last_line:
            print(line, file=sys.stderr)

    def _summary(self) -> str:
        counts = Counter(self.status.values())
        return " · ".join(f"{state} {n}" for state, n in sorted(counts.items()))

    def update(self, task: Task) -> None:
        self.status[task.instance_id] = str(task.status)
        if task.error:
            print(f"{task.node_name} {task.instance_id}: {task.status}: {task.error}",
                  file=sys.stderr)
        if self._live is not None:
            self._live.update(f"{self.verb}: {self._summary()}")
        elif time.monotonic() - self._last_plain > PLAIN_EVERY:
            self._last_plain = time.monotonic()
            self._last_line = f"{self.verb}: {self._summary()}"
            print(self._last_line, file=sys.stderr)
