"""Exit codes a scheduler can act on: retry later (75) is not bad input (2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from occo.api import Occo
from occo.cli import destroy, scale
from occo.config import Config
from tests.e2e.helpers import DATA

ELSEWHERE = "another-machine:4242:cafe0001"      # a live holder this machine cannot check


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    with Occo(Config(home=home)) as api:
        api.import_node_definitions(DATA / "dummy_nodes.yaml")
        infra_id = api.build(DATA / "cluster.yaml").infra_id
        assert api.store.leases.acquire(infra_id, ELSEWHERE, 600)
    return home, infra_id


def test_a_lease_held_elsewhere_is_exit_75_and_changes_nothing(built: tuple[Path, str]) -> None:
    home, infra_id = built
    runner = CliRunner()
    result = runner.invoke(destroy.main, ["-i", infra_id], env={"OCCOPUS_HOME": str(home)})
    assert result.exit_code == 75, result.output
    assert "try again" in result.output and ELSEWHERE in result.output
    with Occo(Config(home=home)) as api:
        assert api.store.dummy.count() == 3
        assert str(api.store.infras.get(infra_id).state) == "ready"
    bad = runner.invoke(scale.main, ["-i", infra_id, "-n", "nosuchnode", "-c", "1"],
                        env={"OCCOPUS_HOME": str(home)})
    assert bad.exit_code == 2, bad.output
