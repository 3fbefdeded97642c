"""Progress on stderr: a live status line on a terminal, sparse lines otherwise,
and one summary line at the end.

The status names the nodes being worked on, counts what is done of the total
and the time elapsed, e.g.::

    building 2/4 ready · 1.3 s · creating app (2), booting db
    rolling back 1/3 dropped · 4.0 s · dropping app

stdout stays clean for the one value a command prints (the infra id).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from occo.engine.tasks import Task

PLAIN_EVERY = 2.0
_DONE = {"create": "ready", "destroy": "destroyed"}
_NEVER_CREATED = "discarded"     # dropped before any resource existed: nothing to destroy
_DOING = {"creating": "creating", "booting": "booting", "destroying": "dropping"}


@dataclass
class _Seen:
    node: str
    action: str
    status: str


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


class ProgressPrinter:
    """Feed it every task update (``update``); use it as a context manager."""

    def __init__(self, verb: str, stream: TextIO | None = None) -> None:
        self.verb = verb
        self.final: str | None = None          # the summary line, if the caller knows better
        self._stream = stream
        self._tasks: dict[str, _Seen] = {}
        self._planned: dict[str, _Seen] = {}
        self._lock = threading.Lock()
        self._final_look = False      # the summary counts announced tasks that never began
        self._started = time.monotonic()
        self._live: Any = None
        self._last_plain = 0.0
        self._last_line = ""

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def __enter__(self) -> ProgressPrinter:
        self._started = self._last_plain = time.monotonic()   # a short run: summary only
        if self.stream.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self, console=Console(file=self.stream, highlight=False),
                              refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
        line = self.final or self.summary()
        if line:
            print(line, file=self.stream)

    # -- what has happened ------------------------------------------------------------
    def update(self, task: Task) -> None:
        seen = _Seen(task.node_name, str(task.action), str(task.status))
        if seen.status == "pending":
            # the plan, announced task by task: counted from the first change on, so
            # no line shows part of it
            self._planned[task.instance_id] = seen
            return
        with self._lock:    # the terminal is redrawn from another thread
            self._tasks.update(self._planned)
            self._planned.clear()
            self._tasks[task.instance_id] = seen
        if task.error:
            self._say(f"{task.node_name} {task.instance_id}: {task.status}: {task.error}")
        line = self.status()
        if self._live is not None:
            self._live.refresh()
        elif time.monotonic() - self._last_plain > PLAIN_EVERY and line != self._last_line:
            self._last_plain = time.monotonic()
            self._last_line = line
            print(line, file=self.stream)

    def __rich__(self) -> Any:
        """What the terminal shows, redrawn 8 times a second (the time goes on)."""
        from rich.text import Text

        return Text(self.status() if self._tasks else "")   # as written: no markup

    def _say(self, line: str) -> None:
        """A line that stays (above the live status on a terminal), never wrapped."""
        if self._live is not None:
            from rich.text import Text

            self._live.console.print(Text(line), soft_wrap=True)
        else:
            print(line, file=self.stream)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _snapshot(self) -> tuple[str, list[_Seen]]:
        """The action under way (creating, or dropping: a rollback during a build)
        and its tasks, taken under the lock."""
        with self._lock:
            seen = list({**self._tasks, **self._planned}.values() if self._final_look
                        else self._tasks.values())
        action = "destroy" if any(t.action == "destroy" for t in seen) else "create"
        return action, [t for t in seen if t.action == action]

    def _rollback(self, action: str) -> bool:
        return action == "destroy" and self.verb == "building"

    def status(self) -> str:
        """One line: phase, done/total, elapsed time, and the nodes being worked on."""
        action, mine = self._snapshot()
        done = sum(t.status in (_DONE[action], _NEVER_CREATED) for t in mine)
        failed = sum(t.status == "failed" for t in mine)
        busy = Counter((_DOING[t.status], t.node) for t in mine if t.status in _DOING)
        doing = ", ".join(f"{what} {node}" + (f" ({n})" if n > 1 else "")
                          for (what, node), n in sorted(busy.items()))
        label, noun = ("rolling back", "dropped") if self._rollback(action) else \
            (self.verb, _DONE[action])
        line = f"{label} {done}/{len(mine)} {noun}"
        if failed:
            line += f", {failed} failed"
        line += f" · {self.elapsed:.1f} s"
        return line + (f" · {doing}" if doing else "")

    def summary(self) -> str | None:
        """The end line when the caller gave none: what was done, of what, how long."""
        self._final_look = True
        action, mine = self._snapshot()
        if not mine:
            return None
        done = sum(t.status == _DONE[action] for t in mine)
        nodes = len({t.node for t in mine})
        what = (f"{_count(done, 'instance')} of {_count(nodes, 'node')} "
                f"in {self.elapsed:.1f} s")
        if action == "destroy":
            label = "rolled back: dropped" if self._rollback(action) else "destroyed"
            never = sum(t.status == _NEVER_CREATED for t in mine)
            left = len(mine) - done - never
            return f"{label} {what}" + (f"; {never} never created" if never else "") + \
                (f"; {left} not confirmed gone" if left else "")
        failed = sum(t.status == "failed" for t in mine)
        return f"{self.verb}: {done}/{len(mine)} ready" + \
            (f", {failed} failed" if failed else "") + f" after {self.elapsed:.1f} s"


def build_summary(report: dict[str, Any] | None, elapsed: float) -> str | None:
    """``built 4 instances of 3 nodes in 2.5 s; critical path db → app → lb``, from a
    build's report (its instances created by this run carry their task)."""
    if not report:
        return None
    built = {node: sum((i.get("task") == "ready") for i in (entry.get("instances") or {}).values())
             for node, entry in (report.get("nodes") or {}).items()}
    count = sum(built.values())
    if not count:
        return None
    nodes = sum(1 for n in built.values() if n)
    line = f"built {_count(count, 'instance')} of {_count(nodes, 'node')} in {elapsed:.1f} s"
    path: list[str] = []
    for step in report.get("critical_path") or []:
        if not path or path[-1] != step["node"]:
            path.append(step["node"])
    return line + (f"; critical path {' → '.join(path)}" if path else "")
