"""A real Docker Engine of the tests' own: Debian's ``dockerd``, isolated, as root.

Every daemon gets a directory of its own under /tmp (``--data-root``,
``--exec-root``, ``--pidfile``, its unix socket, an empty ``--config-file``)
and a bridge of its own with a /24 that nothing else on the machine uses:
another run of the suite (another worker, another checkout) holds a lock
file per subnet for as long as its daemon lives, and a subnet that already
has a route is skipped. The daemon leaves the host's iptables, IP forwarding
and masquerading alone, so two daemons never fight over them; its containers
are reachable from the host on that bridge and nowhere else.

Besides its socket, the daemon listens on 127.0.0.1 with TLS and client
certificates (a CA the tests make; :class:`TlsFiles`), so credentials are
tested too.

Images come from ``docker import`` of a rootfs holding busybox-static (no
registry is reachable): :data:`IMAGE` has ``sh``, ``sleep`` and friends and
``/root/start.sh``, which writes ``$message`` to ``/root/message.txt``, serves
it on port 8080 (busybox httpd) and waits for SIGTERM (so a stop takes no
grace period).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from tests.support.wait import wait_until

IMAGE = "occo-test/busybox"
TAG = "1"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "cat", "echo", "env", "ls", "true", "false", "kill", "wget", "nc",
           "httpd", "hostname", "ip", "ping", "mkdir")   # mkdir: orchestration's WORKDIR and ADD
START_SH = """\
#!/bin/sh
# Written for occo's tests: keep the message, serve it on port 8080, wait until stopped.
echo "$message" > /root/message.txt
httpd -p 8080 -h /root
trap 'exit 0' TERM INT
sleep 3600 &
wait
"""
SUBNETS = ipaddress.ip_network("10.215.0.0/16")
LOCK_DIR = Path(tempfile.gettempdir())
MISSING = ("the Docker Engine tests need Debian's docker.io and busybox-static "
           "(apt-get install docker.io busybox-static; .ci/run does so when missing)")
NOT_ROOT = "the Docker Engine tests need root: they start a dockerd of their own"


def available() -> bool:
    """Whether this machine has what a test Docker Engine needs (root aside)."""
    return shutil.which("dockerd") is not None and BUSYBOX.is_file()


def rootfs_tar(extra: dict[str, str] | None = None) -> bytes:
    """A root filesystem with busybox-static, its applets and /root/start.sh, as a tar."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for directory in ("bin", "root", "tmp", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), "bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        files = {"root/start.sh": START_SH, "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"}
        for name, text in {**files, **(extra or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _routes() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                         capture_output=True, text=True, check=True).stdout
    nets = []
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(dst, strict=False))
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network)]


def _claim_subnet() -> tuple[ipaddress.IPv4Network, str, IO[str]]:
    """A /24 of :data:`SUBNETS` no one else uses, its bridge name and the held lock.

    The lock file names the daemon that used the subnet last (see
    :meth:`DockerEngine.start`): one still running belonged to a run that was
    killed, and is stopped here by that pid, with its bridge and directory.
    """
    for index, subnet in enumerate(SUBNETS.subnets(new_prefix=24)):
        lock = open(LOCK_DIR / f"occo-dockerd-{subnet.network_address}.lock", "a+")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        lock.seek(0)
        _stop_leftover(lock.read().split())
        bridge = f"occo-dk{index}"
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        if any(subnet.overlaps(route) for route in _routes()):
            lock.close()
            continue
        return subnet, bridge, lock
    raise RuntimeError(f"no free /24 left in {SUBNETS} for a test Docker Engine")


def _stop_leftover(record: list[str]) -> None:
    """Stop the dockerd a killed run left (``<pid> <directory>`` from a lock file)."""
    if len(record) != 2 or not record[0].isdigit():
        return
    pid, base = int(record[0]), Path(record[1])
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        command = []
    if any(part.endswith(b"dockerd") for part in command[:1]) and \
            str(base).encode() in b" ".join(command):
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout=60,
                   what=f"the dockerd {pid} a killed run left to stop")
    if base.name.startswith("occo-dk-"):
        DockerEngine(base=base).stop()


@dataclass(frozen=True)
class TlsFiles:
    """A CA, the daemon's certificate for 127.0.0.1, a client certificate it accepts
    and one from another CA that it refuses, as PEM files in ``directory``."""

    directory: Path

    @classmethod
    def make(cls, directory: Path) -> TlsFiles:
        from cryptography.x509.oid import ExtendedKeyUsageOID

        directory.mkdir(parents=True, exist_ok=True)
        ca_key, ca = _certificate("occo test CA")
        rogue_key, rogue = _certificate("someone else's CA")
        server = ExtendedKeyUsageOID.SERVER_AUTH
        client = ExtendedKeyUsageOID.CLIENT_AUTH
        for name, (key, cert) in {
                "server": _certificate("dockerd", (ca_key, ca), server),
                "client": _certificate("occo", (ca_key, ca), client),
                "rogue": _certificate("mallory", (rogue_key, rogue), client)}.items():
            (directory / f"{name}-cert.pem").write_bytes(_pem(cert))
            (directory / f"{name}-key.pem").write_bytes(_pem(key))
        (directory / "ca.pem").write_bytes(_pem(ca))
        return cls(directory)

    def path(self, name: str) -> str:
        return str(self.directory / f"{name}.pem")

    def text(self, name: str) -> str:
        return (self.directory / f"{name}.pem").read_text()


def _certificate(name: str, issuer: tuple[Any, Any] | None = None,
                 usage: Any = None) -> tuple[Any, Any]:
    """An EC key and its certificate: self-signed CA without ``issuer``, else a leaf
    for 127.0.0.1 with the extended key ``usage``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=2)))
    if issuer is None:
        builder = builder.issuer_name(subject).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True)
        return key, builder.sign(key, hashes.SHA256())
    builder = builder.issuer_name(issuer[1].subject).add_extension(
        x509.ExtendedKeyUsage([usage]), critical=False).add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        critical=False)
    return key, builder.sign(issuer[0], hashes.SHA256())


def _pem(item: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(item, "public_bytes"):
        return bytes(item.public_bytes(serialization.Encoding.PEM))
    return bytes(item.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DockerEngine:
    """One ``dockerd`` with its own directory, socket and bridge."""

    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="occo-dk-")))
    subnet: ipaddress.IPv4Network | None = None
    bridge: str = ""
    process: subprocess.Popen[bytes] | None = None
    tls: TlsFiles | None = None
    port: int = 0
    _lock: IO[str] | None = None
    _client: Any = None

    @property
    def url(self) -> str:
        return f"unix://{self.base / 'docker.sock'}"

    @property
    def tls_url(self) -> str:
        """The same daemon over TCP, TLS and client certificates (see :attr:`tls`)."""
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> DockerEngine:
        dockerd = shutil.which("dockerd")
        assert dockerd is not None and available(), MISSING
        self.subnet, self.bridge, self._lock = _claim_subnet()
        gateway = next(self.subnet.hosts())
        for command in (["ip", "link", "add", "name", self.bridge, "type", "bridge"],
                        ["ip", "addr", "add", f"{gateway}/{self.subnet.prefixlen}", "dev",
                         self.bridge],
                        ["ip", "link", "set", self.bridge, "up"]):
            subprocess.run(command, check=True, capture_output=True)
        (self.base / "daemon.json").write_text("{}")
        self.tls = TlsFiles.make(self.base / "tls")
        self.port = _free_port()
        log = open(self.base / "dockerd.log", "wb")  # noqa: SIM115 - the daemon keeps it
        self.process = subprocess.Popen(
            [dockerd, "--data-root", str(self.base / "data"),
             "--exec-root", str(self.base / "exec"), "--pidfile", str(self.base / "dockerd.pid"),
             "--host", self.url, "--config-file", str(self.base / "daemon.json"),
             "--host", self.tls_url, "--tlsverify", "--tlscacert", self.tls.path("ca"),
             "--tlscert", self.tls.path("server-cert"), "--tlskey", self.tls.path("server-key"),
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
             "--ip-forward=false", "--userland-proxy=false", "--storage-driver", "vfs",
             "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        assert self._lock is not None                # the daemon this subnet belongs to now
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"{self.process.pid} {self.base}\n")
        self._lock.flush()
        try:
            wait_until(self._answers, timeout=60, what="the test dockerd to answer")
            self.client().api.import_image_from_data(rootfs_tar(), repository=IMAGE, tag=TAG)
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError("dockerd exited:\n" + self.log_tail())
        return (self.base / "docker.sock").is_socket() and bool(self.client().ping())

    def log_tail(self, lines: int = 30) -> str:
        text = (self.base / "dockerd.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> Any:
        """The tests' own client of this daemon (one, closed on :meth:`stop`)."""
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.url, version="auto", timeout=60)
        return self._client

    def containers(self) -> list[dict[str, Any]]:
        """Every container of the daemon (running or not), as the API lists them."""
        return list(self.client().api.containers(all=True))

    def stop(self) -> None:
        """Stop the daemon by its pid (its containerd and containers with it), then
        remove its bridge and directory."""
        if self._client is not None:
            self._client.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
            self._kill_leftover_containerd()
        self._unmount_all()
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
        if self._lock is not None:
            self._lock.truncate(0)                   # nothing left to stop
            self._lock.close()

    def _kill_leftover_containerd(self) -> None:
        """After a hard kill of dockerd: the containerd it started, by its pid file."""
        pidfile = self.base / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)

    def _unmount_all(self) -> None:
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                  if line.split()[4].startswith(str(self.base))]
        for target in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True)


class TarballServer:
    """Serves the busybox rootfs tarball over HTTP on 127.0.0.1 (an ``origin`` URL)
    and counts the downloads."""

    def __init__(self, directory: Path, name: str = "busybox_helloworld.tar") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(rootfs_tar())
        self.downloads = 0
        owner = self

        class Files(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.downloads += 1
                super().do_GET()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0),
                                           partial(Files, directory=str(directory)))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/{name}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
