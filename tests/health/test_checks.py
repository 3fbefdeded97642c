"""ping, ports and urls against real sockets and a real HTTP server.

Negative reachability tests only ever address the occo bridge range
(10.213.0.0/16), which the bridge keeps on this machine.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from occo.health.base import HealthTarget
from occo.health.ping import PingCheck, interpret_connect, interpret_ping, ping_argv
from occo.health.ports import PortsCheck, summarize
from occo.health.urls import UrlsCheck, render_url
from occo.model.nodedef import parse_node_definitions
from occo.resources import netns

IS_ROOT = os.geteuid() == 0
UNUSED_BRIDGE_IP = "10.213.255.254"  # on occo-br0, never allocated in tests


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bridge() -> None:
    """The occo bridge must exist, so that its range is routed on this machine only."""
    if not IS_ROOT:
        pytest.skip("creating the occo bridge needs root (CI runs as root)")
    netns.ensure_bridge_locked()


# ---------------------------------------------------------------- pure parts


def test_pure_interpretations() -> None:
    assert ping_argv("/bin/ping", "10.0.0.1", 0.2) == ["/bin/ping", "-n", "-q", "-c", "1", "-W", "1", "10.0.0.1"]
    assert interpret_ping(0, "").ok
    assert "100% packet loss" in interpret_ping(1, "x\n1 packets, 100% packet loss\n").reason
    assert interpret_connect(None).ok and interpret_connect(ConnectionRefusedError()).ok
    assert not interpret_connect(TimeoutError("timed out")).ok
    assert summarize({}).ok
    assert summarize({81: "refused", 80: "refused"}).reason == "port 80: refused; port 81: refused"
    target = HealthTarget("10.213.0.5", {8080: 8080})
    assert render_url("http://{{ip}}:8080/x", target) == "http://10.213.0.5:8080/x"


# ---------------------------------------------------------------- ports


def test_ports_pass_when_every_port_accepts(server_port: int) -> None:
    assert PortsCheck().probe(HealthTarget("127.0.0.1"), [server_port], 2.0).ok
    mapped = HealthTarget("127.0.0.1", {80: server_port})
    assert PortsCheck().probe(mapped, [80], 2.0).ok


def test_ports_fail_on_a_closed_port(server_port: int, closed_port: int) -> None:
    result = PortsCheck().probe(HealthTarget("127.0.0.1"), [server_port, closed_port], 2.0)
    assert not result.ok and f"port {closed_port}" in result.reason
    assert not PortsCheck().probe(HealthTarget(None), [server_port], 1.0).ok
    assert not PortsCheck().probe(HealthTarget("127.0.0.1"), ["http"], 1.0).ok


def test_ports_fail_on_an_unreachable_ip(bridge: None) -> None:
    result = PortsCheck().probe(HealthTarget(UNUSED_BRIDGE_IP), [80], 0.5)
    assert not result.ok


# ---------------------------------------------------------------- urls


def test_urls_pass_below_400_including_redirects(server_port: int) -> None:
    target = HealthTarget("127.0.0.1", {8080: server_port})
    urls = ["http://{{ip}}:8080/ok", "http://{{ ip }}:8080/moved", f"http://127.0.0.1:{server_port}/"]
    assert UrlsCheck().probe(target, urls, 2.0).ok


def test_urls_fail_on_500_closed_port_and_foreign_schemes(server_port: int, closed_port: int) -> None:
    target = HealthTarget("127.0.0.1", {8080: server_port})
    result = UrlsCheck().probe(target, ["http://{{ip}}:8080/ok", "http://{{ip}}:8080/fail"], 2.0)
    assert not result.ok and "500" in result.reason
    assert not UrlsCheck().probe(target, [f"http://{{{{ip}}}}:{closed_port}/"], 2.0).ok
    assert not UrlsCheck().probe(target, ["file:///etc/hostname"], 2.0).ok
    assert not UrlsCheck().probe(HealthTarget(None), ["http://{{ip}}/"], 2.0).ok


def test_urls_fail_on_an_unreachable_ip(bridge: None) -> None:
    result = UrlsCheck().probe(HealthTarget(UNUSED_BRIDGE_IP), ["http://{{ip}}:8080/"], 0.5)
    assert not result.ok and UNUSED_BRIDGE_IP in result.reason


# ---------------------------------------------------------------- ping


def test_ping_loopback_and_disabled() -> None:
    assert PingCheck().probe(HealthTarget("127.0.0.1"), True, 2.0).ok
    assert PingCheck().probe(HealthTarget(None), False, 2.0).ok
    assert not PingCheck().probe(HealthTarget(None), True, 2.0).ok


def test_ping_fails_on_an_unreachable_ip(bridge: None) -> None:
    result = PingCheck().probe(HealthTarget(UNUSED_BRIDGE_IP), True, 0.5)
    assert not result.ok


def test_ping_without_binary_falls_back_to_tcp(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.setenv("PATH", "")  # no ping binary to be found
    # a refused connection still proves the host answers
    assert PingCheck().probe(HealthTarget("127.0.0.1", {22: closed_port}), True, 1.0).ok
    if IS_ROOT:
        netns.ensure_bridge_locked()
        assert not PingCheck().probe(HealthTarget(UNUSED_BRIDGE_IP), True, 0.5).ok


def test_ping_that_cannot_ping_falls_back_to_tcp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 closed_port: int) -> None:
    """iputils exits 2 when it may not open an ICMP socket: that is not "no reply"."""
    fake = tmp_path / "ping"
    fake.write_text("#!/bin/sh\necho 'ping: socket: Operation not permitted' >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert PingCheck().probe(HealthTarget("127.0.0.1", {22: closed_port}), True, 1.0).ok
    fake.write_text("#!/bin/sh\necho '1 packets transmitted, 0 received'\nexit 1\n")
    result = PingCheck().probe(HealthTarget("127.0.0.1", {22: closed_port}), True, 1.0)
    assert not result.ok and "no ICMP echo reply" in result.reason


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "occo-test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def https_port(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert_file, key_file = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], cert_file
    server.shutdown()
    server.server_close()
    thread.join()


def test_urls_verify_certificates_unless_told_otherwise(https_port: tuple[int, Path]) -> None:
    port, cert_file = https_port
    target = HealthTarget("127.0.0.1")
    url = f"https://{{{{ip}}}}:{port}/ok"
    refused = UrlsCheck().probe(target, [url], 2.0)
    assert not refused.ok and "CERTIFICATE_VERIFY_FAILED" in refused.reason
    assert UrlsCheck().probe(target, [{"url": url, "verify": False}], 2.0).ok
    assert UrlsCheck().probe(target, [{"url": url, "verify": str(cert_file)}], 2.0).ok
    assert not UrlsCheck().probe(target, [{"url": url, "verify": 5}], 2.0).ok
    impls = parse_node_definitions(
        "'node_def:web':\n  - resource: {type: dummy}\n"
        f"    health_check: {{urls: [{{url: '{url}', verify: false}}], ping: false}}\n",
        "defs.yaml", Path("."))
    assert impls["web"][0].to_plain()["health_check"]["urls"] == [{"url": url, "verify": False}]
