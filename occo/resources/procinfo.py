"""Reading processes from ``/proc``: pure parsers first, thin readers after.

The local handler identifies a process by PID *and* start time (field 22 of
``/proc/<pid>/stat``, clock ticks since boot), because a PID alone may have
been reused by an unrelated process since it was recorded.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that occo cares about."""

    pid: int
    comm: str
    state: str
    ppid: int
    pgid: int
    sid: int
    start_time: int

    @property
    def is_zombie(self) -> bool:
        """Dead but not yet reaped (``Z``) or being torn down (``X``)."""
        return self.state in ("Z", "X", "x")


# ---------------------------------------------------------------- pure parsing

def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line.

    ``comm`` is in parentheses and may itself contain spaces and ``)``, so
    the fixed fields are taken after the *last* closing parenthesis.
    """
    head, sep, rest = text.rpartition(")")
    if not sep or "(" not in head:
        raise ValueError(f"not a /proc stat line: {text[:80]!r}")
    pid_text, _, comm = head.partition("(")
    fields = rest.split()
    # fields[0] is field 3 (state), so field n is fields[n - 3].
    if len(fields) < 20:
        raise ValueError(f"truncated /proc stat line: {text[:80]!r}")
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        start_time=int(fields[19]),
    )


def group_members(stats: Iterable[ProcStat], pgid: int, leader_start: int) -> list[ProcStat]:
    """The processes of process group ``pgid`` whose leader started at ``leader_start``.

    A PID is not reused while a process group still carries it, so when a
    *different* process (other start time) now owns the leader's PID, the
    recorded group ended long ago and nothing found with that pgid is ours.
    """
    members: list[ProcStat] = []
    for stat in stats:
        if stat.pid == pgid and stat.start_time != leader_start:
            return []
        if stat.pgid == pgid and stat.start_time >= leader_start:
            members.append(stat)
    return members


def describe_exit(code: int) -> str:
    """Words for :func:`os.waitstatus_to_exitcode`'s result (negative = signal)."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"killed by {name}"


def last_lines(data: bytes, count: int) -> str:
    """The last ``count`` non-empty lines of ``data``, decoded leniently."""
    lines = [ln for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "\n".join(lines[-count:])


# ---------------------------------------------------------------- reads

def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The stat of ``pid``, or None when no such process exists."""
    try:
        text = (proc / str(pid) / "stat").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    return parse_stat(text)


def iter_stats(proc: Path = PROC) -> Iterator[ProcStat]:
    """Every process currently visible in ``proc`` (vanishing ones skipped)."""
    for entry in os.listdir(proc):
        if entry.isdigit():
            stat = read_stat(int(entry), proc)
            if stat is not None:
                yield stat


def live_group_members(pgid: int, leader_start: int, proc: Path = PROC) -> list[ProcStat]:
    """Members of the recorded group that are still running (zombies excluded)."""
    return [s for s in group_members(iter_stats(proc), pgid, leader_start) if not s.is_zombie]


def read_tail(path: Path, count: int = 10, max_bytes: int = 8192) -> str:
    """The last lines of a (possibly large) log file; empty when it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return last_lines(data, count)
