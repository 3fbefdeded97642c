"""Every example shipped in examples/ and node_defs/ is valid and fits together."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.model.description import load_infra_description

ROOT = Path(__file__).resolve().parents[2]
NODE_DEFS = sorted((ROOT / "node_defs").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def occo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Occo]:
    api = Occo(Config(home=tmp_path_factory.mktemp("home")))
    for path in NODE_DEFS:
        api.import_node_definitions(path)
    yield api
    api.close()


def test_there_are_examples() -> None:
    assert NODE_DEFS and EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_dry_run_plans_min_instances_of_every_node(occo: Occo, example: Path) -> None:
    result = occo.build(example, dry_run=True)
    desc = load_infra_description(example)
    assert result.plan.create == {n.name: n.scaling.min for n in desc.nodes if n.scaling.min}
    assert not occo.list_infrastructures(), "a dry run must create nothing"
