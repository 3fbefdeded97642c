"""An API object over an isolated home, with simulated node definitions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.store.records import ExecutionRecord


def defs(create: float = 0.0, boot: float = 0.0, fail: float = 0.0, name: str = "sim") -> str:
    return (f"'node_def:{name}':\n  - resource: {{type: dummy, create_delay: {create}, "
            f"boot_delay: {boot}, fail_rate: {fail}}}\n")


def max_overlap(executions: list[ExecutionRecord]) -> int:
    """The most executions ever started at once, from their recorded intervals
    (one still running counts until the end of the list's time)."""
    points = []
    for e in executions:
        if e.started_at is not None:
            points += [(e.started_at, 1), (e.ended_at or float("inf"), -1)]
    running = peak = 0
    for _, delta in sorted(points):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    api = Occo(Config(home=tmp_path / "home", concurrency=20))
    yield api
    api.close()


@pytest.fixture
def make_file(tmp_path: Path):
    counter = iter(range(10_000))

    def make(text: str) -> Path:
        path = tmp_path / f"f{next(counter)}.yaml"
        path.write_text(text)
        return path

    return make
