"""Bad orchestration input: one clear message, exit 2, nothing recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from occo.api import Occo
from occo.cli.orchestrate import main as orchestrate

DEFS = "'node_def:sim':\n  - resource: {type: dummy}\n"
INFRA = "infra_name: sims\nnodes:\n  - {name: sim, type: sim, scaling: {min: 2}}\n"


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[tuple[Occo, str, Path]]:
    cfg = tmp_path / "occopus_config.yaml"
    cfg.write_text(f"home: {tmp_path / 'home'}\n")
    occo = Occo.from_files(str(cfg))
    (tmp_path / "defs.yaml").write_text(DEFS)
    (tmp_path / "infra.yaml").write_text(INFRA)
    occo.import_node_definitions(tmp_path / "defs.yaml")
    infra_id = occo.build(tmp_path / "infra.yaml").infra_id
    yield occo, infra_id, cfg
    occo.close()


CASES = [
    ("- jobs:\n    - RUN: echo\n      SHOUT: hi\n", [], "orchestration.yaml:2:7",
     "unknown key(s) SHOUT"),
    ("- jobs:\n    - {RUN: echo, timeout: -1}\n", [], "orchestration.yaml:2:28",
     "timeout must be a positive number"),
    ("{jobs: []}\n", [], "orchestration.yaml:1:1", "non-empty list"),
    ("- targets: [sim, simm]\n  jobs: [{RUN: 'true'}]\n", [], "'simm'",
     "neither a node"),
    ("- jobs: [{RUN: 'echo {{ variables.missing }}'}]\n", [], "job orchestration[0].jobs[0]",
     "missing"),
    ("- jobs: [{RUN: 'true'}]\n", ["--restrict", "0123456789ab"], "'0123456789ab'",
     "job ids:"),
    ("- jobs: [{RUN: 'true'}]\n", [], "node 'sim' is reached over SSH",
     "add a 'ssh:' entry"),
]


@pytest.mark.parametrize(("text", "flags", "where", "what"), CASES,
                         ids=["unknown-key", "timeout", "not-a-list", "target", "template",
                              "restrict", "no-ssh-credentials"])
def test_bad_orchestration_input_exits_2_and_records_nothing(
        sims: tuple[Occo, str, Path], tmp_path: Path, text: str, flags: list[str], where: str,
        what: str) -> None:
    occo, infra_id, cfg = sims
    path = tmp_path / "orchestration.yaml"
    path.write_text(text)
    before = occo.executions(infra_id)
    result = CliRunner().invoke(orchestrate, ["--cfg", str(cfg), "-i", infra_id, *flags,
                                              str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and where in line and what in line, line
    assert occo.executions(infra_id) == before


def test_unknown_infrastructure_exits_2(sims: tuple[Occo, str, Path], tmp_path: Path) -> None:
    _occo, _infra_id, cfg = sims
    path = tmp_path / "o.yaml"
    path.write_text("- jobs: [{RUN: 'true'}]\n")
    result = CliRunner().invoke(orchestrate, ["--cfg", str(cfg), "-i", "nope", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown infrastructure id 'nope'"
