"""Exit codes a scheduler can act on: retry later (75) is not bad input (2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from tests.e2e.helpers import DATA
from tests.support.cli import Cli

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
    cli = Cli(home)
    result = cli.run("occopus-destroy", "-i", infra_id, check=False)
    assert result.returncode == 75, str(result)
    assert "try again" in result.stderr and ELSEWHERE in result.stderr
    with Occo(Config(home=home)) as api:
        assert api.store.dummy.count() == 3
        assert str(api.store.infras.get(infra_id).state) == "ready"
    bad = cli.run("occopus-scale", "-i", infra_id, "-n", "nosuchnode", "-c", "1", check=False)
    assert bad.returncode == 2, str(bad)
