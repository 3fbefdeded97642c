"""Issue 9, item 3: chef as Occopus's chef config manager does it.

Nothing is added to cloud-init (the node's own template runs chef-client);
the node is registered on the Chef server beforehand with Occopus's names
(environment <infra_id>, role <infra_id>_<node>, node <node_id>, run list
role + recipe[connect] + run_list), becomes ready once chef-client reported
back and exported what others synchronise on, and is removed on destroy.
Dependency mappings reach the dependent node as its ``connections`` attribute;
where no chef node reads them, a dry run says so. Tested against a stateful
fake Chef server that checks every request's signature.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from occo.api import Occo
from occo.cli.build import main as build
from occo.cli.import_cmd import main as import_defs
from occo.configure.base import Configured, ManagedNode
from tests.clouds.fake_chef import FakeChef
from tests.compat.conftest import Session, occo_with
from tests.support.wait import wait_until

TEMPLATE = """\
chef:
  server_url: "https://chef.example.org/organizations/lab"
  environment: "{{ infra_id }}"
  node_name: "{{ node_id }}"
runcmd:
  - [sh, -xc, /usr/bin/chef-client]
"""


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def chef(key: rsa.RSAPrivateKey) -> Iterator[FakeChef]:
    server = FakeChef({"occo": key.public_key()})
    try:
        yield server
    finally:
        server.stop()


def _defs(endpoint: str) -> str:
    return f"""
'node_def:db':
  - resource: {{type: dummy}}
    contextualisation:
      type: cloudinit
      context_template: !yaml_import {{url: file://chef.yaml}}
      attributes: {{mysql.port: "{{{{ variables.port }}}}"}}
    config_management:
      type: chef
      endpoint: {endpoint}
      run_list:
        - recipe[mysql]
'node_def:app':
  - resource: {{type: dummy}}
    config_management:
      type: chef
      endpoint: {endpoint}
      run_list:
        - recipe[app]
"""


INFRA = """
infra_name: shop
variables: {port: 3306}
nodes:
  - &db {name: db, type: db}
  - &app {name: app, type: app}
dependencies:
  - connection: [*app, *db]
    mappings:
      - {attributes: [mysql.address, db_host], synch: true}
"""


@pytest.fixture
def occo(tmp_path: Path, chef: FakeChef, key: rsa.RSAPrivateKey) -> Iterator[Occo]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    auth = {"config_management": [{"type": "chef", "endpoint": chef.endpoint,
                                   "auth_data": {"client_name": "occo", "client_key": pem}}]}
    files = {"chef.yaml": TEMPLATE, "defs.yaml": _defs(chef.endpoint), "infra.yaml": INFRA}
    with occo_with(tmp_path, files, auth_data=auth) as api:
        yield api


def _node(chef: FakeChef, role: str) -> dict[str, Any] | None:
    with chef.lock:
        return next((dict(n) for n in chef.nodes.values() if f"role[{role}]" in n["run_list"]),
                    None)


def test_a_chef_node_is_registered_waited_for_and_removed(occo: Occo, chef: FakeChef,
                                                          tmp_path: Path) -> None:
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.setdefault(
        "result", occo.build(tmp_path / "infra.yaml", parallelize=True)))
    worker.start()
    try:
        infra_id = wait_until(lambda: next(iter(chef.environments.keys() - {"_default"}), None),
                              what="the infrastructure's chef environment")
        db = wait_until(lambda: _node(chef, f"{infra_id}_db"), what="db registered")
        assert db["chef_environment"] == infra_id
        assert db["run_list"] == [f"role[{infra_id}_db]", "recipe[connect]", "recipe[mysql]"]
        assert db["normal"] == {"mysql": {"port": "3306"}}
        assert f"{infra_id}_db" in chef.roles and infra_id in chef.environments

        # chef-client ran on db but did not export mysql.address: app's mapping waits on it
        chef.report_run(db["name"])
        manager = occo.registry.config_manager("chef")
        assert manager is not None
        waiting = ManagedNode(infra_id, "db", db["name"], {"type": "chef",
                              "endpoint": chef.endpoint}, synch_attributes=("mysql.address",))
        assert manager.configured(waiting) == Configured(
            False, "chef attributes not exported yet: mysql.address")
        assert _node(chef, f"{infra_id}_app") is None          # not before db is ready
        chef.report_run(db["name"], mysql={"address": "10.0.0.5"})

        app = wait_until(lambda: _node(chef, f"{infra_id}_app"), what="app registered")
        assert app["normal"] == {"connections": [{
            "source_role": f"{infra_id}_db", "source_attribute": "mysql.address",
            "destination_attribute": "db_host"}]}
        chef.report_run(app["name"])
    finally:
        worker.join(120)
    assert not worker.is_alive() and outcome["result"].report["status"] == "terminated"
    assert chef.refused == []

    occo.destroy(infra_id)
    assert chef.nodes == {}
    assert not [r for r in chef.roles if r.startswith(infra_id)]
    assert infra_id not in chef.environments


def test_nothing_is_added_to_the_template(occo: Occo, tmp_path: Path) -> None:
    result = occo.build(tmp_path / "infra.yaml", dry_run=True)
    preview = occo.preview_contexts(result, tmp_path / "infra.yaml")
    assert preview["db"].user_data == (
        "#cloud-config\nchef:\n  server_url: https://chef.example.org/organizations/lab\n"
        f"  environment: {result.infra_id}\n  node_name: <node_id>\nruncmd:\n"
        "- - sh\n  - -xc\n  - /usr/bin/chef-client\n")
    assert preview["app"].user_data is None
    assert result.notes == []


def test_mappings_nobody_reads_are_named_in_a_dry_run(session: Session) -> None:
    session.write("nodes/defs.yaml", "'node_def:db':\n  - resource: {type: dummy}\n"
                                     "'node_def:app':\n  - resource: {type: dummy}\n")
    session.write("infra.yaml", INFRA)
    session.ok(import_defs, "nodes/defs.yaml")
    out = session.ok(build, "--dry-run", "infra.yaml").stdout
    assert ("  note: mapping db.mysql.address -> app.db_host of dependency app -> db has no "
            "effect: only chef config management reads mappings, and 'app' does not use it\n"
            ) in out


def test_missing_chef_credentials_are_noted_by_a_dry_run_and_refused_by_a_build(
        session: Session) -> None:
    session.write("nodes/defs.yaml", "'node_def:db':\n  - resource: {type: dummy}\n"
                                     "    config_management:\n      type: chef\n"
                                     "      endpoint: https://chef.example.org\n"
                                     "      run_list:\n        - recipe[db]\n")
    session.write("infra.yaml", "infra_name: t\nnodes:\n  - {name: db, type: db}\n")
    session.ok(import_defs, "nodes/defs.yaml")
    why = ("nodes/defs.yaml:2:5: node 'db' (type 'db'): config manager {type: chef, endpoint: "
           "https://chef.example.org} needs credentials, but no auth_data.yaml was found")
    assert f"  note: {why}" in session.ok(build, "--dry-run", "infra.yaml").stdout
    ran = session.run(build, "infra.yaml")
    assert ran.exit_code == 2 and ran.stderr.startswith(f"error: {why}") and ran.stdout == ""
