"""Shared set-up for the benchmarks: a throwaway occo home with dummy nodes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from occo.api import Occo
from occo.config import Config


def fresh_occo(concurrency: int = 100) -> tuple[Occo, Path]:
    home = Path(tempfile.mkdtemp(prefix="occo-bench-"))
    return Occo(Config(home=home, concurrency=concurrency)), home


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
