"""Issue 3's scaling walk-through, through the real console scripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import Cli, write

NODE_DEFS = """
'node_def:sim':
  - resource: {type: dummy, create_delay: 0.01, boot_delay: 0.01}
"""

INFRA = """
infra_name: scaling
nodes:
  - &H {name: head, type: sim}
  - &W {name: worker, type: sim, scaling: {min: 2, max: 5}}
dependencies:
  - [*W, *H]
"""


def _workers(cli: Cli, infra_id: str) -> dict[str, dict[str, str]]:
    report = json.loads(cli.run("occopus-maintain", "-r", "-i", infra_id, "--json").stdout)
    assert report["worker"]["scaling"]["actual"] == len(report["worker"]["instances"])
    return report["worker"]["instances"]


def _build(cli: Cli, tmp_path: Path) -> str:
    cli.run("occopus-import", str(write(tmp_path / "defs.yaml", NODE_DEFS)))
    return cli.run("occopus-build", str(write(tmp_path / "infra.yaml", INFRA))).stdout.strip()


def test_scale_requests_walkthrough(cli: Cli, tmp_path: Path) -> None:
    infra_id = _build(cli, tmp_path)
    assert len(_workers(cli, infra_id)) == 2

    def scale_and_pass(*args: str) -> dict[str, dict[str, str]]:
        cli.run("occopus-scale", "-i", infra_id, "-n", "worker", *args)
        cli.run("occopus-maintain", "-i", infra_id)
        return _workers(cli, infra_id)

    assert len(scale_and_pass("-c", "2")) == 4
    assert len(scale_and_pass("-c", "5")) == 5
    three = scale_and_pass("-s", "3")
    assert len(three) == 3
    victim = sorted(three)[1]
    two = scale_and_pass("-f", victim)
    assert len(two) == 2 and victim not in two
    assert set(two) <= set(three)
    assert len(scale_and_pass("-c", "-5")) == 2
    assert all(i["state"] == "ready" for i in _workers(cli, infra_id).values())

    events = cli.run("occopus-maintain", "-r", "-i", infra_id).stdout
    assert "clamped" in events


def test_scale_rejects_bad_requests_and_touches_nothing(cli: Cli, tmp_path: Path) -> None:
    infra_id = _build(cli, tmp_path)
    before = _workers(cli, infra_id)
    cases = [
        (["-i", "no-such-infra", "-n", "worker", "-c", "1"], "unknown infrastructure id"),
        (["-i", infra_id, "-n", "nope", "-c", "1"], "no node 'nope'"),
        (["-i", infra_id, "-n", "worker", "-f", "10.9.9.9"], "no instance with id or address"),
        (["-i", infra_id, "-n", "worker", "-c", "0"], "changes nothing"),
        (["-i", infra_id, "-n", "worker", "-s", "-1"], "0 or more"),
        (["-i", infra_id, "-n", "worker"], "nothing to do"),
    ]
    for args, message in cases:
        proc = cli.run("occopus-scale", *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("error:") == 1
    cli.run("occopus-maintain", "-i", infra_id)
    assert _workers(cli, infra_id) == before


def test_out_of_bounds_request_is_accepted_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    infra_id = _build(cli, tmp_path)
    proc = cli.run("occopus-scale", "-i", infra_id, "-n", "worker", "-s", "9")
    assert "clamped to 5" in proc.stderr
    cli.run("occopus-maintain", "-i", infra_id)
    assert len(_workers(cli, infra_id)) == 5


def test_scale_by_ip_address(cli: Cli, tmp_path: Path) -> None:
    infra_id = _build(cli, tmp_path)
    cli.run("occopus-scale", "-i", infra_id, "-n", "worker", "-s", "3")
    cli.run("occopus-maintain", "-i", infra_id)
    workers = _workers(cli, infra_id)
    victim_id, victim = sorted(workers.items())[0]
    cli.run("occopus-scale", "-i", infra_id, "-n", "worker", "-f", victim["resource_address"])
    cli.run("occopus-maintain", "-i", infra_id)
    after = _workers(cli, infra_id)
    assert len(after) == 2 and victim_id not in after
