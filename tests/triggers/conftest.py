"""An API object over an isolated store with one small dummy infrastructure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config

DEFS = "'node_def:sim':\n  - resource: {type: dummy}\n"
INFRA = "infra_name: sims\nnodes:\n  - {name: worker, type: sim, scaling: {min: 1, max: 20}}\n"


@dataclass
class Sims:
    occo: Occo
    infra_id: str
    tmp_path: Path


def make_sims(tmp_path: Path, store_url: str | None = None) -> Iterator[Sims]:
    occo = Occo(Config(home=tmp_path / "home", store_url=store_url))
    (tmp_path / "defs.yaml").write_text(DEFS)
    (tmp_path / "infra.yaml").write_text(INFRA)
    occo.import_node_definitions(tmp_path / "defs.yaml")
    try:
        yield Sims(occo, occo.build(tmp_path / "infra.yaml").infra_id, tmp_path)
    finally:
        occo.close()


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[Sims]:
    yield from make_sims(tmp_path)
