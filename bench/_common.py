"""Shared set-up for the benchmarks: a throwaway occo home with dummy nodes."""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from occo.api import Occo
from occo.config import Config


def fresh_occo(concurrency: int = 100) -> tuple[Occo, Path]:
    home = Path(tempfile.mkdtemp(prefix="occo-bench-"))
    return Occo(Config(home=home, concurrency=concurrency)), home


def discard(occo: Occo, home: Path) -> None:
    """Close the store and remove the throwaway home."""
    occo.close()
    shutil.rmtree(home, ignore_errors=True)


@contextmanager
def one_node(n: int, concurrency: int) -> Iterator[tuple[Occo, Path]]:
    """A throwaway occo whose dummy type has no delays, and the description of one
    node of ``n`` instances of it; discarded afterwards."""
    occo, home = fresh_occo(concurrency)
    try:
        occo.import_node_definitions(dummy_definition(home, 0, 0))
        yield occo, chain_description(home, 1, n)
    finally:
        discard(occo, home)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def chain_description(home: Path, depth: int, width: int, node_type: str = "bench") -> Path:
    """``depth`` nodes in a chain, each with ``width`` instances."""
    lines = ["infra_name: bench", "nodes:"]
    for level in range(depth):
        lines += [f"  - &n{level}", f"    name: n{level}", f"    type: {node_type}",
                  f"    scaling: {{min: {width}, max: {width}}}"]
    if depth > 1:
        lines.append("dependencies:")
        lines += [f"  - [*n{level}, *n{level - 1}]" for level in range(1, depth)]
    return write(home / f"chain_{depth}x{width}.yaml", "\n".join(lines) + "\n")


def dummy_definition(home: Path, create: float, boot: float, drop: float = 0.0,
                     node_type: str = "bench") -> Path:
    return write(home / f"{node_type}.yaml",
                 f"'node_def:{node_type}':\n  - resource:\n      type: dummy\n"
                 f"      create_delay: {create}\n      boot_delay: {boot}\n"
                 f"      drop_delay: {drop}\n")


def slope(n1: int, t1: float, n2: int, t2: float) -> float:
    """Log-log slope of time against size: 1.0 is linear, 2.0 quadratic."""
    return math.log(t2 / t1) / math.log(n2 / n1)


def print_growth(label: str, rows: list[tuple[int, float, float]]) -> None:
    """One line per size (N, wall s, CPU s), then the slope between each pair of
    sizes and between the smallest and the largest."""
    print(f"{label}: one node of N instances, dummy handler, no delays")
    print(f"  {'N':>7}  {'wall s':>8}  {'CPU ms/instance':>15}  {'wall ms/instance':>16}")
    for n, wall, cpu in rows:
        print(f"  {n:>7}  {wall:8.2f}  {cpu / n * 1000:15.2f}  {wall / n * 1000:16.2f}")
    pairs = list(zip(rows[:-1], rows[1:], strict=True))
    if len(rows) > 2:
        pairs.append((rows[0], rows[-1]))
    for (n1, w1, _), (n2, w2, _) in pairs:
        print(f"  slope {n1} -> {n2}: {slope(n1, w1, n2, w2):.2f}   (target <= 1.1)")


def parse_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]
