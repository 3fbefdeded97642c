"""Console scripts import only what their path needs.

``python -X importtime`` (here via ``PYTHONPROFILEIMPORTTIME``) lists every
module a process imports. A cloud SDK (openstacksdk, boto3, the Azure SDK, docker)
takes most of a second to import and may appear only when a node of its cloud is
acted on; ``requests`` (the cloudsigma and cloudbroker handlers' HTTP client) is
held to the same rule. SQLAlchemy and pydantic each take several times the
interpreter's own start-up, so a listing, a report or a scaling request on a
SQLite store (and every ``--help``) does without them. bench/startup.py measures
the times.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.helpers import Occopus
from tests.support.cli import write

SDK_PREFIXES = ("openstack", "keystoneauth1", "boto3", "botocore", "moto", "docker", "azure",
                "msal", "requests")
SLOW_PREFIXES = ("sqlalchemy", "alembic", "pydantic", "structlog", "rich", "ruamel")
IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(?P<module>\S+)\s*$", re.MULTILINE)
# Each script's modules: all that its --help may import of occo (besides occo.cli.common).
SCRIPTS = {"occopus-import": {"occo.cli.import_cmd"}, "occopus-build": {"occo.cli.build"},
           "occopus-destroy": {"occo.cli.destroy"}, "occopus-maintain": {"occo.cli.maintain"},
           "occopus-scale": {"occo.cli.scale"}, "occopus-groups": {"occo.cli.groups"},
           "occopus-executions": {"occo.cli.executions", "occo.cli.groups"},
           "occopus-rest-service": {"occo.cli.rest_service"},
           "occopus-orchestrate": {"occo.cli.orchestrate"},
           "occopus-triggers": {"occo.cli.triggers", "occo.cli.groups", "occo.model",
                                "occo.model.vocabulary"}}


# What an Occopus user keeps in ~/.occopus: Occopus's component sections (object tags
# and all), a logging section, occo's own settings, and auth_data with a secret.
OCCOPUS_CONFIG = """\
components:
  infraprocessor: !InfraProcessor {protocol: basic}
  rest: {host: 127.0.0.1, port: 5000}
logging:
  version: 1
  root: {level: WARNING, handlers: [console]}
  handlers:
    console: {class: logging.StreamHandler, stream: 'ext://sys.stdout'}
occo: {concurrency: 4, create_timeout: 120, rest: {tokens: [secret-token]}}
"""
AUTH_DATA = "resource:\n  - type: nova\n    auth_data: {username: u, password: p}\n"


def imported_modules(stderr: str) -> set[str]:
    return {m.group("module") for m in IMPORTED.finditer(stderr)}


def roots(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules if m.split(".")[0] in prefixes})


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Occopus, str]]:
    """A home holding one built infrastructure (its store exists and is current)."""
    occopus = Occopus(tmp_path_factory.mktemp("startup"))
    try:
        occopus.import_defs(write(occopus.root / "d.yaml",
                                  "'node_def:n':\n  - resource: {type: dummy}\n"))
        infra_id = occopus.build(write(occopus.root / "i.yaml", "infra_name: s\nnodes:\n"
                                       "  - {name: a, type: n, scaling: {min: 1, max: 9}}\n"))
        occopus.env["PYTHONPROFILEIMPORTTIME"] = "1"
        yield occopus, infra_id
    finally:
        occopus.close()


def profiled(home: tuple[Occopus, str], *argv: str) -> set[str]:
    occopus, infra_id = home
    result = occopus.run_process(*(a.replace("ID", infra_id) for a in argv))
    modules = imported_modules(result.stderr)
    assert "occo.cli.common" in modules                    # the profile did record imports
    return modules


@pytest.mark.parametrize("argv", [("occopus-maintain", "-l"),
                                  ("occopus-maintain", "-r", "-i", "ID"),
                                  ("occopus-scale", "-i", "ID", "-n", "a", "-c", "1")])
def test_quick_commands_import_no_sdk_no_sqlalchemy_no_pydantic(
        home: tuple[Occopus, str], argv: tuple[str, ...]) -> None:
    modules = profiled(home, *argv)
    assert roots(modules, SDK_PREFIXES) == []
    assert roots(modules, SLOW_PREFIXES) == []
    assert "occo.engine.lifecycle" not in modules and "occo.store.tables" not in modules


@pytest.mark.parametrize("argv", [("occopus-maintain", "-l"),
                                  ("occopus-scale", "-i", "ID", "-n", "a", "-c", "1")])
def test_an_occopus_users_config_and_auth_data_cost_no_pydantic(
        home: tuple[Occopus, str], argv: tuple[str, ...]) -> None:
    """Valid files need the YAML parser, not pydantic: it judges only what is wrong."""
    occopus, _ = home
    cfg = write(occopus.root / "occopus_config.yaml", OCCOPUS_CONFIG)
    auth = write(occopus.root / "auth_data.yaml", AUTH_DATA)
    auth.chmod(0o600)
    modules = profiled(home, *argv, "--cfg", str(cfg), "--auth_data_path", str(auth))
    assert "occo.config" in modules and "ruamel.yaml" in modules   # the files were read
    assert roots(modules, SDK_PREFIXES) == []
    assert roots(modules, ("sqlalchemy", "alembic", "pydantic", "structlog")) == []


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_imports_only_the_command(home: tuple[Occopus, str], script: str) -> None:
    modules = profiled(home, script, "--help")
    assert roots(modules, SDK_PREFIXES + SLOW_PREFIXES) == []
    assert {m for m in modules if m.startswith("occo.")} == \
        {"occo.cli", "occo.cli.common", *SCRIPTS[script]}
