"""mysqldbs against a real MariaDB server the tests start (tests/support/mariadb.py)."""

from __future__ import annotations

import socket
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.engine.readiness import run_health_checks
from occo.health.base import HealthTarget
from occo.health.mysqldbs import MysqlDbsCheck
from occo.model.nodedef import parse_node_definitions
from occo.resources.base import Address
from tests.support.mariadb import MariaDB

PASSWORD = "s3cr3t-Pa55word"


@pytest.fixture
def account(mariadb: MariaDB) -> Iterator[tuple[str, str]]:
    """A fresh database and a user with the classic native password that may use it."""
    tag = uuid.uuid4().hex[:8]
    database, user = f"wp_{tag}", f"wp_{tag}"
    mariadb.sql(f"CREATE DATABASE {database}; "
                f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'; "
                f"GRANT ALL ON {database}.* TO '{user}'@'127.0.0.1';")
    yield database, user
    mariadb.sql(f"DROP USER '{user}'@'127.0.0.1'; DROP DATABASE {database};")


def at(server: MariaDB) -> HealthTarget:
    """The server as the wanted port 3306 of a local instance."""
    return HealthTarget("127.0.0.1", {3306: server.port})


def entry(name: str, user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"name": name, "user": user, "pass": password}


def test_right_credentials_are_healthy(mariadb: MariaDB,
                                       account: tuple[str, str]) -> None:
    database, user = account
    result = MysqlDbsCheck().probe(at(mariadb), [entry(database, user)], 5.0)
    assert result.ok, result.reason
    # the login really reached the server, as this user
    assert user in mariadb.sql("SELECT DISTINCT user FROM mysql.user")


def test_every_listed_database_must_accept_the_login(mariadb: MariaDB,
                                                     account: tuple[str, str]) -> None:
    database, user = account
    # As the engine passes it: the dumped node definition ('pass'), and 'password' too.
    both = [entry(database, user), {"name": database, "user": user, "password": PASSWORD}]
    assert MysqlDbsCheck().probe(at(mariadb), both, 5.0).ok
    result = MysqlDbsCheck().probe(at(mariadb), [*both, entry("missing", user)], 5.0)
    assert not result.ok
    assert result.reason == (
        f"database 'missing' as '{user}' at 127.0.0.1:{mariadb.port}: MySQL error 1044: "
        f"Access denied for user '{user}'@'127.0.0.1' to database 'missing'")


def test_wrong_password_is_unhealthy_without_showing_it(mariadb: MariaDB,
                                                        account: tuple[str, str]) -> None:
    database, user = account
    wrong = "not-the-" + PASSWORD
    result = MysqlDbsCheck().probe(at(mariadb), [entry(database, user, wrong)], 5.0)
    assert not result.ok
    assert f"MySQL error 1045: Access denied for user '{user}'@'127.0.0.1'" in result.reason
    assert PASSWORD not in result.reason and wrong not in result.reason


def test_unreachable_or_silent_servers_are_unhealthy() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = MysqlDbsCheck().probe(HealthTarget("127.0.0.1", {3306: closed}),
                                   [entry("wp", "u")], 2.0)
    assert not result.ok
    assert f"127.0.0.1:{closed}" in result.reason and "refused" in result.reason

    with socket.socket() as silent:                      # accepts, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        result = MysqlDbsCheck().probe(
            HealthTarget("127.0.0.1", {3306: silent.getsockname()[1]}), [entry("wp", "u")], 0.3)
        assert time.monotonic() - started < 3
    assert not result.ok and "timed out" in result.reason

    assert MysqlDbsCheck().probe(HealthTarget(None), [entry("wp", "u")], 1.0).reason == \
        "instance has no IP address yet"
    bad = MysqlDbsCheck().probe(HealthTarget("127.0.0.1"), [{"user": "u", "pass": "p"}], 1.0)
    assert bad.reason == "mysqldbs entry 1 needs a 'name' and a 'user'"


def test_mysqldbs_from_a_node_definition_through_the_registry(
        mariadb: MariaDB, account: tuple[str, str], tmp_path: Path) -> None:
    """The section as written in a node definition reaches the check as the engine passes it."""
    database, user = account
    defs = parse_node_definitions(textwrap.dedent(f"""\
        'node_def:db':
          - resource: {{type: local, command: [sleep, '60'], ports: [3306]}}
            health_check:
              mysqldbs:
                - {{name: {database}, user: {user}, pass: {PASSWORD}}}
        """), "nodes.yaml", tmp_path)
    spec = defs["db"][0].to_plain()["health_check"]
    address = Address("127.0.0.1", ports={3306: mariadb.port})
    with Occo(Config(home=tmp_path / "home")) as api:
        assert run_health_checks(api.registry, spec, address) == (True, "")
        spec["mysqldbs"][0]["pass"] = "wrong-password"
        ok, reason = run_health_checks(api.registry, spec, address)
    assert not ok
    assert reason.startswith(f"mysqldbs: database '{database}' as '{user}' at "
                             f"127.0.0.1:{mariadb.port}: MySQL error 1045")
    assert "wrong-password" not in reason
