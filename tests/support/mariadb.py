"""A real MariaDB server for the tests: own data directory, socket and port, on 127.0.0.1.

One server per pytest worker (a session fixture starts it on first use and
stops it by its pid). Missing server binaries fail loudly: `.ci/run` installs
Debian's ``mariadb-server`` when they are absent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.wait import wait_until

MISSING = ("MariaDB server binaries (mariadbd, mariadb-install-db, mariadb) not found; "
           "install the Debian package 'mariadb-server' (.ci/run does so when missing)")


def _binary(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate) or next(
            (str(p) for p in (Path("/usr/sbin") / candidate, Path("/usr/bin") / candidate)
             if p.exists()), None)
        if found:
            return found
    pytest.fail(MISSING, pytrace=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class MariaDB:
    port: int
    socket: Path
    client: str

    def sql(self, statements: str) -> str:
        """Run SQL as the server's root (over its unix socket); stdout of the client."""
        done = subprocess.run([self.client, "--no-defaults", f"--socket={self.socket}",
                               "-uroot", "--batch", "-e", statements],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"SQL failed: {done.stderr.strip()}")
        return done.stdout


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = _binary("mariadbd", "mysqld")
    install = _binary("mariadb-install-db", "mysql_install_db")
    client = _binary("mariadb", "mysql")
    base = Path(tempfile.mkdtemp(prefix="occo-mariadb-"))
    data, sock, log = base / "data", base / "mysqld.sock", base / "error.log"
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    # a small, unsynced server: test data need not survive a power cut
    light = ["--skip-name-resolve", "--innodb-log-file-size=4M",
             "--innodb-buffer-pool-size=16M", "--innodb-flush-method=nosync"]
    made = subprocess.run([install, "--no-defaults", f"--datadir={data}", *as_root, *light,
                           "--auth-root-authentication-method=socket", "--skip-test-db"],
                          capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"mariadb-install-db failed:\n{made.stdout}{made.stderr}", pytrace=False)
    port = _free_port()
    proc = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}", *as_root, f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={base / 'mysqld.pid'}",
         f"--log-error={log}", "--skip-log-bin", "--max-connections=200", *light],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        db = MariaDB(port, sock, client)

        def serving() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"mariadbd exited:\n{log.read_text(errors='replace')}",
                            pytrace=False)
            return sock.exists()

        wait_until(serving, timeout=60, what="mariadbd to listen")
        yield db
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)
