"""A real OpenSSH server for the tests: its own host key, config and client key.

Started as root on 127.0.0.1 with a free port, in the foreground (``-D``), and
stopped by its pid. One per pytest worker is enough: logins land in
directories the tests choose, never in a home of this machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.wait import wait_until

SSHD_MISSING = ("OpenSSH's sshd not found in /usr/sbin; install the Debian package "
                "'openssh-server' (.ci/run does so when it is missing)")


@dataclass(frozen=True)
class Sshd:
    port: int
    host_public_key: tuple[str, str]     # (key type, base64)
    client_key: Path                     # private key whose public half may log in as root
    directory: Path


def _keygen(path: Path) -> tuple[str, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)
    kind, key = path.with_suffix(".pub").read_text().split()[:2]
    return kind, key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as s:
        return s.recv(4).startswith(b"SSH-")
    return False


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[Sshd]:
    sshd = "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK) or shutil.which("ssh-keygen") is None:
        pytest.fail(SSHD_MISSING, pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("the tests' sshd lets root log in: run the tests as root", pytrace=False)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # its privilege separation directory
    host = _keygen(directory / "host_ed25519")
    _keygen(directory / "client_ed25519")
    (directory / "authorized_keys").write_text(
        (directory / "client_ed25519.pub").read_text())
    proc: subprocess.Popen[bytes] | None = None
    for _attempt in range(5):          # another worker may take the port first
        port = _free_port()
        config = directory / "sshd_config"
        config.write_text(f"""\
ListenAddress 127.0.0.1:{port}
HostKey {directory / 'host_ed25519'}
PidFile {directory / 'sshd.pid'}
AuthorizedKeysFile {directory / 'authorized_keys'}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
""")
        with open(directory / "sshd.log", "ab") as log:
            proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        wait_until(lambda p=proc, port=port: p.poll() is not None or _accepts(port),
                   timeout=20, what="sshd to listen")
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"sshd did not start:\n{(directory / 'sshd.log').read_text()}",
                    pytrace=False)
    assert proc is not None
    try:
        yield Sshd(port, host, directory / "client_ed25519", directory)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
