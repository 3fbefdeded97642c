"""The SSH transport: orchestration jobs on virtual machines (paramiko, imported lazily).

What to connect as comes from the node definition's ``ssh`` section (user,
port, host-key policy, start directory) and the credentials from the
``ssh:`` list of ``auth_data.yaml`` (a private key, inline or as a file,
with its passphrase, or a password)::

    'node_def:worker':
      - resource: {type: nova, ...}
        ssh: {user: ubuntu, host_key_policy: pin}

    # auth_data.yaml
    ssh:
      - type: nova
        auth_data: {private_key_file: ~/.ssh/occo_ed25519}

Host-key policies: ``pin`` (the default) trusts the key an instance shows
the first time and stores it; later connections must show the same key.
``known_hosts`` accepts only keys listed in the section's ``known_hosts``
text. ``accept`` checks nothing (only for throw-away test networks).

Commands cross SSH as one string, so every argument is quoted with
:func:`shlex.quote`; nothing a user wrote is ever interpreted by the remote
shell except as the argument it was.
"""

from __future__ import annotations

import base64
import hashlib
import io
import posixpath
import shlex
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from occo.configure.transport import TailBuffer
from occo.errors import ConfigError, ResourceError

if TYPE_CHECKING:
    import paramiko

POLICIES = ("pin", "known_hosts", "accept")
_READ_WAIT = 0.5        # seconds between deadline checks while a job is silent


class HostKeyPins(Protocol):
    """Where the key of one instance is pinned (the engine keeps it in the store)."""

    def get(self) -> tuple[str, str] | None: ...

    def pin(self, key_type: str, key: str) -> bool: ...


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to reach one instance; secrets are kept out of its repr."""

    host: str
    port: int = 22
    user: str = "root"
    workdir: str | None = None
    host_key_policy: str = "pin"
    known_hosts: str | None = None
    connect_timeout: float = 30.0
    private_key: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def target_for(host: str, section: Mapping[str, Any], credentials: Mapping[str, Any]) -> SshTarget:
    """Join the node definition's ``ssh`` section with its ``auth_data`` credentials."""
    policy = str(section.get("host_key_policy", "pin"))
    if policy not in POLICIES:
        raise ConfigError(f"ssh host_key_policy must be one of {', '.join(POLICIES)}, "
                          f"not {policy!r}")
    if policy == "known_hosts" and not section.get("known_hosts"):
        raise ConfigError("ssh host_key_policy known_hosts needs the 'known_hosts' lines")
    if not any(credentials.get(k) for k in ("private_key", "private_key_file", "password")):
        raise ConfigError("no SSH credentials: add an entry to the 'ssh' list of "
                          "auth_data.yaml with private_key, private_key_file or password")
    key_file = credentials.get("private_key_file")
    return SshTarget(
        host=host, port=int(section.get("port", 22)),
        user=str(credentials.get("user") or section.get("user") or "root"),
        workdir=section.get("workdir"), host_key_policy=policy,
        known_hosts=section.get("known_hosts"),
        connect_timeout=float(section.get("connect_timeout", 30.0)),
        private_key=credentials.get("private_key"),
        private_key_file=str(Path(str(key_file)).expanduser()) if key_file else None,
        passphrase=credentials.get("passphrase"), password=credentials.get("password"))


def fingerprint(key_type: str, key: str) -> str:
    digest = hashlib.sha256(base64.b64decode(key)).digest()
    return f"{key_type} SHA256:{base64.b64encode(digest).decode().rstrip('=')}"


def remote_command(argv: Sequence[str], directory: str, env: Mapping[str, str]) -> str:
    """One shell line that runs ``argv`` in ``directory`` with ``env`` added, all quoted."""
    words = ["env", *(f"{k}={v}" for k, v in env.items()), *argv] if env else list(argv)
    return f"cd -- {shlex.quote(directory)} && exec {shlex.join(words)}"


class SshTransport:
    """One SSH connection per instance and orchestration, opened on first use."""

    def __init__(self, target: SshTarget, pins: HostKeyPins) -> None:
        self.target = target
        self.pins = pins
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        self._workdir_made = False

    # -- connecting -------------------------------------------------------------------
    def _connect(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
            import paramiko

            t = self.target
            try:
                sock = socket.create_connection((t.host, t.port), timeout=t.connect_timeout)
            except OSError as exc:
                raise ResourceError(f"cannot reach {t.describe()}: {exc}", handler="ssh") from None
            transport = paramiko.Transport(sock)
            try:
                transport.banner_timeout = transport.auth_timeout = t.connect_timeout
                transport.start_client(timeout=t.connect_timeout)
                self._check_host_key(transport.get_remote_server_key())
                self._authenticate(transport)
            except paramiko.SSHException as exc:
                transport.close()
                raise ResourceError(f"SSH to {t.describe()} failed: {exc}",
                                    handler="ssh") from None
            except BaseException:
                transport.close()
                raise
            self._transport = transport
            return transport

    def _check_host_key(self, key: paramiko.PKey) -> None:
        t = self.target
        shown = (key.get_name(), key.get_base64())
        if t.host_key_policy == "accept":
            return
        if t.host_key_policy == "known_hosts":
            allowed = set()
            for line in (t.known_hosts or "").splitlines():
                parts = line.split()
                if len(parts) >= 3 and not line.lstrip().startswith("#"):
                    allowed.add((parts[1], parts[2]))
            if shown not in allowed:
                raise ResourceError(f"host key of {t.describe()} ({fingerprint(*shown)}) is "
                                    "not in the node's known_hosts", handler="ssh")
            return
        pinned = self.pins.get()
        if pinned is None and self.pins.pin(*shown):
            return
        pinned = self.pins.get()
        if pinned != shown:
            was = fingerprint(*pinned) if pinned else "?"
            raise ResourceError(f"host key of {t.describe()} changed: pinned {was}, shown "
                                f"{fingerprint(*shown)}; refusing to connect", handler="ssh")

    def _authenticate(self, transport: paramiko.Transport) -> None:
        t = self.target
        key = self._private_key()
        if key is not None:
            transport.auth_publickey(t.user, key)
        elif t.password is not None:
            transport.auth_password(t.user, t.password)
        if not transport.is_authenticated():
            raise ResourceError(f"SSH login as {t.describe()} was refused", handler="ssh")

    def _private_key(self) -> paramiko.PKey | None:
        import paramiko

        t = self.target
        try:
            if t.private_key:
                for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
                    try:
                        return kind.from_private_key(io.StringIO(t.private_key), t.passphrase)
                    except paramiko.SSHException:
                        continue
                raise ConfigError("the SSH private_key in auth_data is not a key paramiko "
                                  "can read (Ed25519, ECDSA or RSA)")
            if t.private_key_file:
                return paramiko.PKey.from_path(t.private_key_file, t.passphrase)
        except (OSError, paramiko.SSHException) as exc:
            raise ConfigError(f"cannot load the SSH private key: {type(exc).__name__}") from None
        return None

    def _path(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.target.workdir or ".", path))

    # -- the Transport protocol ---------------------------------------------------------
    def run(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
            timeout: float) -> tuple[int | None, str]:
        if self.target.workdir and not self._workdir_made:
            code, output = self._exec(f"mkdir -p -- {shlex.quote(self.target.workdir)}", 60.0)
            if code != 0:
                raise OSError(f"cannot make the ssh workdir {self.target.workdir}: "
                              f"{output.strip()}")
            self._workdir_made = True
        return self._exec(remote_command(argv, self._path(cwd), env), timeout)

    def _exec(self, command: str, timeout: float) -> tuple[int | None, str]:
        transport = self._connect()
        channel = transport.open_session(timeout=self.target.connect_timeout)
        tail = TailBuffer()
        try:
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            channel.settimeout(_READ_WAIT)
            deadline = time.monotonic() + timeout
            while time.monotonic() <= deadline:
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:        # end of output: the exit status follows
                    if channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                        return channel.recv_exit_status(), tail.text()
                    break
                tail.write(chunk)
            return None, tail.text()
        finally:
            channel.close()

    def put(self, source: Path, dest: str, mode: int) -> None:
        path = self._path(dest)
        code, output = self.run(["mkdir", "-p", "--", posixpath.dirname(path) or "."], ".", {},
                                60.0)
        if code != 0:
            raise OSError(f"cannot make the directory of {path}: {output.strip()}")
        with self._lock:
            if self._sftp is None:
                import paramiko

                assert self._transport is not None
                self._sftp = paramiko.SFTPClient.from_transport(self._transport)
            sftp = self._sftp
        assert sftp is not None
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.occo-tmp")
        sftp.put(str(source), tmp)
        sftp.chmod(tmp, mode)
        sftp.posix_rename(tmp, path)

    def close(self) -> None:
        with self._lock:
            if self._sftp is not None:
                self._sftp.close()
            if self._transport is not None:
                self._transport.close()
            self._sftp = self._transport = None
