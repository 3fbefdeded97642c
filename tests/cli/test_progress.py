"""Progress as a user watching a terminal sees it: the nodes being worked on, done of
total, time elapsed, and one summary line at the end; a rollback says it is one."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
from pathlib import Path

from occo.api import Occo
from occo.config import Config
from tests.support.cli import Cli, kill_group, write

NODE_DEFS = """
'node_def:slow':
  - resource: {type: dummy, create_delay: 0.15, boot_delay: 0.1, drop_delay: 0.1}
'node_def:broken':
  - resource: {type: dummy, create_delay: 0.15, fail_rate: 1}
"""
# db -> app (x2) -> lb: four instances of three nodes
CHAIN = """
infra_name: shop
nodes:
  - &D {name: db, type: slow}
  - &A {name: app, type: slow, scaling: {min: 2, max: 2}}
  - &L {name: lb, type: %s}
dependencies:
  - [*A, *D]
  - [*L, *A]
"""
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
CURSOR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def on_a_terminal(cli: Cli, *args: str | Path) -> tuple[int, list[str]]:
    """Run a command with stdout and stderr on a pseudo-terminal; its exit status
    and the lines the terminal received (cursor movements stripped)."""
    controller, terminal = pty.openpty()
    proc = cli.popen(*args, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    received = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(controller, 65536)
            except OSError:            # the terminal closed: the command has ended
                break
            if not chunk:
                break
            received += chunk
        status = proc.wait(30)
    finally:
        os.close(controller)
        if proc.poll() is None:
            kill_group(proc)
    text = CURSOR.sub("\n", COLOUR.sub("", received.decode(errors="replace")))
    return status, [line.strip() for line in text.splitlines() if line.strip()]


def build_on_a_terminal(cli: Cli, tmp_path: Path, lb_type: str) -> tuple[int, list[str]]:
    """``occopus-build`` of the shop (its lb of ``lb_type``) watched on a terminal."""
    with Occo(Config(home=cli.home)) as occo:
        occo.import_node_definitions(write(tmp_path / "d.yaml", NODE_DEFS))
    return on_a_terminal(cli, "occopus-build", "--parallelize",
                         write(tmp_path / "shop.yaml", CHAIN % lb_type))


def test_a_build_on_a_terminal_shows_progress_and_one_summary(cli: Cli, tmp_path: Path) -> None:
    status, lines = build_on_a_terminal(cli, tmp_path, "slow")
    assert status == 0, lines
    shown = [line for line in lines if line.startswith("building ")]
    assert shown, lines
    for line in shown:
        assert re.fullmatch(r"building [0-4]/4 ready · \d+\.\d s( · .+)?", line), line
    doing = " ".join(shown)
    assert all(f"{verb} {node}" in doing for verb, node in
               [("creating", "db"), ("creating", "app (2)"), ("booting", "lb")]), shown
    summaries = [line for line in lines if line.startswith("built ")]
    assert len(summaries) == 1, lines
    assert re.fullmatch(r"built 4 instances of 3 nodes in \d+\.\d s; "
                        r"critical path db → app → lb", summaries[0]), summaries


def test_a_rollback_on_a_terminal_is_labelled_as_one(cli: Cli, tmp_path: Path) -> None:
    status, lines = build_on_a_terminal(cli, tmp_path, "broken")
    assert status == 1, lines
    # db, both apps and the lb that failed (its resource exists) are dropped
    assert any(re.fullmatch(r"rolling back [0-3]/4 dropped · \d+\.\d s · dropping .+", line)
               for line in lines), lines
    assert re.fullmatch(r"rolled back: dropped 4 instances of 3 nodes in \d+\.\d s",
                        lines[-2]), lines
    assert lines[-1].startswith("error: ") and "'lb'" in lines[-1]
    assert not [line for line in lines if line.startswith("built ")]


def test_without_a_terminal_only_the_summary_is_left(cli: Cli, tmp_path: Path) -> None:
    cli.run("occopus-import", write(tmp_path / "d.yaml", NODE_DEFS))
    built = cli.run("occopus-build", write(tmp_path / "shop.yaml", CHAIN % "slow"))
    summary = [line for line in built.stderr.splitlines() if line.startswith("built ")]
    assert len(summary) == 1 and summary[0].endswith("critical path db → app → lb")
    destroyed = cli.run("occopus-destroy", "-i", built.stdout.strip())
    assert re.search(r"^destroyed 4 instances of 3 nodes in \d+\.\d s$", destroyed.stderr,
                     re.M), destroyed.stderr
