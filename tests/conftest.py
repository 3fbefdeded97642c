"""Fixtures shared by every test: the console scripts against an isolated home,
fresh stores on SQLite and on a real PostgreSQL, and hypothesis's settings.

Each pytest(-xdist) worker starts its own PostgreSQL server the first time a
test asks for one; missing server binaries fail the test loudly instead of
skipping it, so a CI without PostgreSQL cannot pass by testing less.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.support.cli import Cli

# The machine running the suite is shared and loaded: a wall-clock deadline per
# example measures the load, not occo. No example database: runs stay independent.
settings.register_profile("occo", deadline=None, database=None, print_blob=True)
settings.load_profile("occo")

# Server fixtures shared by several test folders: MariaDB, and the cloud
# backends (fake OpenStack, moto, a Docker Engine) that the cloud tests and the
# handler contract suite both use.
pytest_plugins = ("tests.support.mariadb", "tests.clouds.servers")

SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def pytest_configure(config: pytest.Config) -> None:
    """The servers the tests start (and what they start: dockerd runs iptables,
    PostgreSQL is set up through runuser) live in sbin, which a bare PATH such
    as ``env -i PATH=/usr/bin:/bin`` or a non-login shell leaves out."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in SYSTEM_DIRS if d not in path and os.path.isdir(d)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*path, *missing])

PG_MISSING = ("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
              "/usr/lib/postgresql/*/bin; install the Debian package 'postgresql' "
              "(.ci/run does so when initdb is missing)")


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    candidates.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        pytest.fail(PG_MISSING, pytrace=False)
    return candidates[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_sql(port: int, *statements: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[int]:
    """A throwaway PostgreSQL server (as user postgres when we are root); its port."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    # Not under pytest's basetemp: that directory is 0700 root, so user postgres
    # could not reach a data directory inside it.
    base = Path(tempfile.mkdtemp(prefix="occo-pg-"))
    data, log = base / "data", base / "server.log"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            shutil.chown(base, "postgres", "postgres")
        except LookupError:
            pytest.fail(f"running as root, but there is no user 'postgres' to run "
                        f"PostgreSQL as; {PG_MISSING}", pytrace=False)
        as_user = ["runuser", "-u", "postgres", "--"]
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    made = subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--locale=C", "--no-sync"],
                          capture_output=True, text=True, env=env)
    if made.returncode != 0:
        pytest.fail(f"initdb failed:\n{made.stdout}{made.stderr}", pytrace=False)
    port = 0
    for _attempt in range(5):  # another worker may grab the same free port
        port = _free_port()
        options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        started = subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-w",
                                  "-t", "60", "-o", options, "start"],
                                 capture_output=True, env=env)
        if started.returncode == 0:
            break
    else:
        pytest.fail(f"PostgreSQL did not start:\n{log.read_text(errors='replace')}",
                    pytrace=False)
    try:
        yield port
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(_postgres_server: int) -> str:
    """SQLAlchemy URL of database ``occo_test`` on this session's PostgreSQL server."""
    _admin_sql(_postgres_server, "CREATE DATABASE occo_test")
    return f"postgresql+psycopg://postgres@127.0.0.1:{_postgres_server}/occo_test"


@pytest.fixture
def pg_store_url(_postgres_server: int) -> Iterator[str]:
    """A URL to a brand-new, empty PostgreSQL database, dropped after the test."""
    name = f"occo_{uuid.uuid4().hex[:16]}"
    _admin_sql(_postgres_server, f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{_postgres_server}/{name}"
    _admin_sql(_postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store URL of each kind; store-level tests run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'occopus.db'}"
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """occo's console scripts against an empty home (``tmp_path/home``) of this test's own;
    every process it started is killed at the end, also when the test fails."""
    commands = Cli(tmp_path / "home")
    try:
        yield commands
    finally:
        commands.close()
