"""A running infrastructure of three local workers to orchestrate, and a CLI runner.

Workers run ``sleep`` in their own network namespace (root only, as CI runs),
so jobs see the instance's own address, environment and directory. Every
test builds its own infrastructure and destroys it, whatever happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from occo.api import Occo
from tests.support.sshd import Sshd, running_sshd

WORKER_DEFS = """\
'node_def:box':
  - resource:
      type: local
      command: [sh, -c, 'exec sleep 100000']
      network_namespace: {netns}
    health_check: {{ping: false}}
"""

INFRA = """\
infra_name: day2
variables: {greeting: hello}
nodes:
  - name: worker
    type: box
    scaling: {min: 3}
"""


@dataclass
class Running:
    """An API object over an isolated home, a built infrastructure, and a CLI."""

    occo: Occo
    infra_id: str
    home: Path
    cfg: Path
    auth: Path | None = None

    @property
    def instances(self) -> list[str]:
        return sorted(i.id for i in self.occo.store.instances.for_infra(self.infra_id))

    def instance_dir(self, instance_id: str) -> Path:
        return self.home / "instances" / instance_id

    def cli(self, command: click.Command, *args: str) -> Result:
        """Run a console script in-process, against this home."""
        auth = ["--auth_data_path", str(self.auth)] if self.auth else []
        return CliRunner().invoke(command, ["--cfg", str(self.cfg), *auth, *args],
                                  catch_exceptions=False)


def build(tmp_path: Path, defs: str, auth_data: str | None = None) -> Iterator[Running]:
    home = tmp_path / "home"
    cfg = tmp_path / "occopus_config.yaml"
    cfg.write_text(f"home: {home}\n")
    auth = None
    if auth_data is not None:
        auth = tmp_path / "auth_data.yaml"
        auth.write_text(auth_data)
        auth.chmod(0o600)
    occo = Occo.from_files(str(cfg), str(auth) if auth else None)
    defs_file = tmp_path / "defs.yaml"
    defs_file.write_text(defs)
    infra_file = tmp_path / "infra.yaml"
    infra_file.write_text(INFRA)
    occo.import_node_definitions(defs_file)
    infra_id = ""
    try:
        infra_id = occo.build(infra_file, parallelize=True).infra_id
        yield Running(occo, infra_id, home, cfg, auth)
    finally:
        for infra in occo.list_infrastructures():
            occo.destroy(infra.id)
        occo.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Running]:
    """Three ready workers, each in its own network namespace."""
    if os.geteuid() != 0:
        pytest.fail("orchestration tests run local nodes in network namespaces: run as root",
                    pytrace=False)
    yield from build(tmp_path, WORKER_DEFS.format(netns="true"))


@pytest.fixture
def plain_workers(tmp_path: Path) -> Iterator[Running]:
    """Three local workers sharing this machine's network (no root needed)."""
    yield from build(tmp_path, WORKER_DEFS.format(netns="false"))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """This worker's OpenSSH server (one per pytest worker, shared by its tests)."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
