"""mysqldbs against a fake MySQL server speaking protocol 10; command against real processes.

The fake server is written here from the protocol, not from occo's client:
it checks a scramble the way a server does (from the stored hash, never the
password), so a client that computed it wrongly could not pass.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import socketserver
import string
import struct
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.engine.readiness import run_health_checks
from occo.health.base import HealthTarget
from occo.health.command import CommandCheck, command_argv, interpret_exit
from occo.health.mysqldbs import (
    CACHING_SHA2,
    CLIENT_CONNECT_WITH_DB,
    CLIENT_PLUGIN_AUTH,
    CLIENT_PROTOCOL_41,
    CLIENT_SECURE_CONNECTION,
    NATIVE,
    Login,
    LoginOutcome,
    MysqlDbsCheck,
    caching_sha2_scramble,
    frame,
    native_scramble,
    parse_err,
    parse_handshake,
    parse_header,
)
from occo.model.nodedef import parse_node_definitions
from occo.model.states import InstanceState
from occo.resources.base import Address

USER, PASSWORD, DATABASE = "wpuser", "s3cr3t-Pa55word", "wordpress"
PYTHON = sys.executable
LOCAL = HealthTarget("127.0.0.1")


# ---------------------------------------------------------------- a fake MySQL server


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def server_accepts(plugin: str, password: str, nonce: bytes, answer: bytes) -> bool:
    """Check a scramble as the server does: from the stored hash of the password."""
    if not password:
        return answer == b""
    if plugin == NATIVE:
        stored = _sha1(_sha1(password.encode()))                 # mysql.user's hash
        return _sha1(_xor(answer, _sha1(nonce + stored))) == stored
    stored = _sha256(_sha256(password.encode()))                 # the fast-auth cache
    return _sha256(_xor(answer, _sha256(stored + nonce))) == stored


def make_nonce() -> bytes:
    """20 bytes without NUL, as servers make them."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=20)).encode()


def handshake_payload(nonce: bytes, plugin: str, capabilities: int) -> bytes:
    return (b"\x0a" + b"8.0.36-fake\0" + struct.pack("<I", 7) + nonce[:8] + b"\0"
            + struct.pack("<HBHHB", capabilities & 0xFFFF, 255, 2, capabilities >> 16, 21)
            + b"\0" * 10 + nonce[8:] + b"\0" + plugin.encode() + b"\0")


def err_payload(code: int, state: str, message: str) -> bytes:
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode()


OK_PAYLOAD = b"\x00\x00\x00\x02\x00\x00\x00"
SERVER_CAPABILITIES = 0x00FF_F7FF & ~0x0800          # everything but TLS


@dataclass
class ClientHello:
    flags: int
    user: str
    database: str
    plugin: str


@dataclass
class FakeMysqlSettings:
    plugin: str = NATIVE                  # the server's default plugin
    switch_to: str | None = None          # the account's plugin, asked for by AuthSwitchRequest
    full_auth: bool = False               # caching_sha2 cache empty: full auth needed
    databases: frozenset[str] = frozenset({DATABASE, "shop"})
    hellos: list[ClientHello] = field(default_factory=list)


class _MysqlHandler(socketserver.BaseRequestHandler):
    request: socket.socket
    server: FakeMysql

    def _send(self, sequence: int, payload: bytes) -> None:
        self.request.sendall(len(payload).to_bytes(3, "little") + bytes([sequence]) + payload)

    def _recv(self) -> tuple[int, bytes]:
        def exactly(size: int) -> bytes:
            data = b""
            while len(data) < size:
                chunk = self.request.recv(size - len(data))
                if not chunk:
                    raise ConnectionError("client went away")
                data += chunk
            return data
        header = exactly(4)
        return header[3], exactly(int.from_bytes(header[:3], "little"))

    def handle(self) -> None:
        settings = self.server.settings
        self.request.settimeout(5)
        try:
            self._converse(settings)
        except (ConnectionError, TimeoutError):
            pass

    def _converse(self, settings: FakeMysqlSettings) -> None:
        nonce = make_nonce()
        self._send(0, handshake_payload(nonce, settings.plugin, SERVER_CAPABILITIES))
        seq, hello = self._recv()
        flags, = struct.unpack_from("<I", hello)
        at = 32
        user_end = hello.index(b"\0", at)
        user = hello[at:user_end].decode()
        at = user_end + 1
        answer = hello[at + 1:at + 1 + hello[at]]
        at += 1 + hello[at]
        db_end = hello.index(b"\0", at)
        database = hello[at:db_end].decode()
        plugin = hello[db_end + 1:].rstrip(b"\0").decode()
        settings.hellos.append(ClientHello(flags, user, database, plugin))

        account_plugin = settings.switch_to or settings.plugin
        if plugin != account_plugin:       # the account uses another plugin: switch
            nonce = make_nonce()
            self._send(seq + 1, b"\xfe" + account_plugin.encode() + b"\0" + nonce + b"\0")
            seq, answer = self._recv()
        if user != USER or not server_accepts(account_plugin, PASSWORD, nonce, answer):
            self._send(seq + 1, err_payload(1045, "28000", f"Access denied for user "
                                            f"'{user}'@'localhost' (using password: YES)"))
            return
        if account_plugin == CACHING_SHA2:
            seq += 1
            if settings.full_auth:
                self._send(seq, b"\x01\x04")
                self._recv()               # a TLS-less client must give up here
                return
            self._send(seq, b"\x01\x03")
        if database not in settings.databases:
            self._send(seq + 1, err_payload(1049, "42000", f"Unknown database '{database}'"))
            return
        self._send(seq + 1, OK_PAYLOAD)


class FakeMysql(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self, settings: FakeMysqlSettings) -> None:
        super().__init__(("127.0.0.1", 0), _MysqlHandler)
        self.settings = settings

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture
def mysql() -> Iterator[Callable[..., FakeMysql]]:
    """Starts fake MySQL servers with the given settings; all are stopped afterwards."""
    started: list[tuple[FakeMysql, threading.Thread]] = []

    def start(**settings: object) -> FakeMysql:
        server = FakeMysql(FakeMysqlSettings(**settings))  # type: ignore[arg-type]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def db(name: str = DATABASE, user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"name": name, "user": user, "pass": password}


def at(server: FakeMysql) -> HealthTarget:
    """The server as the wanted port 3306 of a local instance."""
    return HealthTarget("127.0.0.1", {3306: server.port})


# ---------------------------------------------------------------- mysqldbs: pure parts


def test_packets_and_scrambles_without_a_server() -> None:
    nonce = make_nonce()
    hs = parse_handshake(handshake_payload(nonce, CACHING_SHA2, SERVER_CAPABILITIES))
    assert (hs.server_version, hs.connection_id, hs.nonce, hs.plugin) == \
        ("8.0.36-fake", 7, nonce, CACHING_SHA2)
    assert parse_header(frame(3, b"abc")[:4]) == (3, 3)
    err = parse_err(err_payload(1049, "42000", "Unknown database 'x'"))
    assert str(err) == "MySQL error 1049 (42000): Unknown database 'x'"
    for plugin, scramble in ((NATIVE, native_scramble), (CACHING_SHA2, caching_sha2_scramble)):
        assert server_accepts(plugin, PASSWORD, nonce, scramble(PASSWORD.encode(), nonce))
        assert not server_accepts(plugin, PASSWORD, nonce, scramble(b"other", nonce))
        assert scramble(b"", nonce) == b""          # an empty password sends nothing

    # A server without protocol 4.1 is refused before anything is sent.
    old = Login(USER, PASSWORD, DATABASE).on_handshake(
        handshake_payload(nonce, NATIVE, SERVER_CAPABILITIES & ~CLIENT_PROTOCOL_41))
    assert isinstance(old, LoginOutcome) and not old.ok and "lacks protocol features" in old.reason
    # A greeting that is an ERR (e.g. host not allowed) is reported as such.
    refused = Login(USER, PASSWORD, DATABASE).on_handshake(
        b"\xff\x6a\x04Host '10.0.0.9' is not allowed to connect")
    assert refused == LoginOutcome(False, "MySQL error 1130: Host '10.0.0.9' is not allowed "
                                          "to connect")


# ---------------------------------------------------------------- mysqldbs: against the fake server


@pytest.mark.parametrize(("plugin", "switch_to"), [
    (NATIVE, None), (CACHING_SHA2, None), (NATIVE, CACHING_SHA2), (CACHING_SHA2, NATIVE)])
def test_right_credentials_are_healthy(mysql: Callable[..., FakeMysql], plugin: str,
                                       switch_to: str | None) -> None:
    server = mysql(plugin=plugin, switch_to=switch_to)
    result = MysqlDbsCheck().probe(at(server), [db()], 3.0)
    assert result.ok, result.reason
    hello = server.settings.hellos[-1]
    wanted = (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB
              | CLIENT_PLUGIN_AUTH)
    assert hello.flags & wanted == wanted
    assert (hello.user, hello.database, hello.plugin) == (USER, DATABASE, plugin)


def test_every_listed_database_must_accept_the_login(mysql: Callable[..., FakeMysql]) -> None:
    server = mysql(plugin=CACHING_SHA2)
    # As the engine passes it: the dumped node definition, with 'pass'; and 'password' too.
    both = [db(), {"name": "shop", "user": USER, "password": PASSWORD}]
    assert MysqlDbsCheck().probe(at(server), both, 3.0).ok
    result = MysqlDbsCheck().probe(at(server), [*both, db("missing")], 3.0)
    assert not result.ok
    assert result.reason == ("database 'missing' as 'wpuser': "
                             "MySQL error 1049 (42000): Unknown database 'missing'")
    assert [h.database for h in server.settings.hellos] == \
        [DATABASE, "shop", DATABASE, "shop", "missing"]


@pytest.mark.parametrize("plugin", [NATIVE, CACHING_SHA2])
def test_wrong_password_is_unhealthy_without_showing_it(mysql: Callable[..., FakeMysql],
                                                        plugin: str) -> None:
    server = mysql(plugin=plugin)
    wrong = "not-the-" + PASSWORD
    result = MysqlDbsCheck().probe(at(server), [db(password=wrong)], 3.0)
    assert not result.ok
    assert "MySQL error 1045 (28000): Access denied for user 'wpuser'" in result.reason
    assert PASSWORD not in result.reason and wrong not in result.reason


def test_full_caching_sha2_authentication_is_explained(mysql: Callable[..., FakeMysql]) -> None:
    server = mysql(plugin=CACHING_SHA2, full_auth=True)
    result = MysqlDbsCheck().probe(at(server), [db()], 3.0)
    assert not result.ok
    assert "server asks for full caching_sha2 authentication (needs TLS)" in result.reason
    assert "mysql_native_password" in result.reason and PASSWORD not in result.reason


def test_unreachable_or_silent_servers_are_unhealthy(closed_port: int) -> None:
    result = MysqlDbsCheck().probe(HealthTarget("127.0.0.1", {3306: closed_port}), [db()], 2.0)
    assert not result.ok
    assert f"127.0.0.1:{closed_port}" in result.reason and "refused" in result.reason
    assert PASSWORD not in result.reason

    with socket.socket() as silent:                      # accepts, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        result = MysqlDbsCheck().probe(
            HealthTarget("127.0.0.1", {3306: silent.getsockname()[1]}), [db()], 0.3)
        assert time.monotonic() - started < 2
    assert not result.ok and "no MySQL handshake before the timeout" in result.reason

    assert MysqlDbsCheck().probe(HealthTarget(None), [db()], 1.0).reason == \
        "instance has no IP address yet"
    bad = MysqlDbsCheck().probe(LOCAL, [{"user": USER, "pass": PASSWORD}], 1.0)
    assert bad.reason == "mysqldbs entry 1 needs a 'name' and a 'user'"


def test_mysqldbs_from_a_node_definition_through_the_registry(
        mysql: Callable[..., FakeMysql], tmp_path: Path) -> None:
    """The section as written in a node definition reaches the check as the engine passes it."""
    defs = parse_node_definitions(textwrap.dedent(f"""\
        'node_def:db':
          - resource: {{type: local, command: [sleep, '60'], ports: [3306]}}
            health_check:
              mysqldbs:
                - {{name: {DATABASE}, user: {USER}, pass: {PASSWORD}}}
        """), "nodes.yaml", tmp_path)
    spec = defs["db"][0].to_plain()["health_check"]
    server = mysql(plugin=CACHING_SHA2)
    with Occo(Config(home=tmp_path / "home")) as api:
        assert run_health_checks(api.registry, spec,
                                 Address("127.0.0.1", ports={3306: server.port})) == (True, "")
        spec["mysqldbs"][0]["pass"] = "wrong"
        ok, reason = run_health_checks(api.registry, spec,
                                       Address("127.0.0.1", ports={3306: server.port}))
    assert not ok and reason.startswith("mysqldbs: database 'wordpress' as 'wpuser': "
                                        "MySQL error 1045")


# ---------------------------------------------------------------- command


def test_command_pure_parts() -> None:
    assert command_argv(["nc", "-z", "{{ip}}", 22], "10.1.2.3") == ["nc", "-z", "10.1.2.3", "22"]
    assert command_argv("check --url 'http://{{ ip }}/a b'", "h") == \
        ["check", "--url", "http://h/a b"]
    with pytest.raises(ValueError, match="no IP address"):
        command_argv(["ping", "{{ip}}"], None)
    with pytest.raises(ValueError, match="names no program"):
        command_argv("", "h")
    assert interpret_exit(0, "noise").ok
    assert interpret_exit(2, "a\nlast words\n\n").reason == "exit status 2: last words"
    assert interpret_exit(-9, "").reason == "killed by signal 9 (nothing on stderr)"


def test_command_exit_status_decides() -> None:
    assert CommandCheck().probe(LOCAL, ["true"], 5.0).ok
    result = CommandCheck().probe(LOCAL, "false", 5.0)
    assert not result.ok and result.reason == "exit status 1 (nothing on stderr)"
    missing = CommandCheck().probe(LOCAL, ["no-such-program-occo"], 5.0)
    assert not missing.ok and "cannot run 'no-such-program-occo'" in missing.reason


def test_command_gets_the_instance_ip_and_reports_stderr() -> None:
    script = ("import sys\n"
              "if sys.argv[1] != '10.213.7.7':\n"
              "    sys.exit(f'expected 10.213.7.7, got {sys.argv[1]}')\n")
    argv = [PYTHON, "-c", script, "{{ip}}"]
    assert CommandCheck().probe(HealthTarget("10.213.7.7"), argv, 5.0).ok
    result = CommandCheck().probe(HealthTarget("10.213.7.8"), argv, 5.0)
    assert result == CommandCheck().probe(HealthTarget("10.213.7.8"),
                                          f'{PYTHON} -c "{script}" {{{{ip}}}}', 5.0)
    assert not result.ok and result.reason == "exit status 1: expected 10.213.7.7, got 10.213.7.8"


def test_a_command_string_is_never_given_to_a_shell() -> None:
    script = "import sys; sys.exit('args: ' + repr(sys.argv[1:]))"
    result = CommandCheck().probe(LOCAL, f"{PYTHON} -c \"{script}\" 'a;b' $HOME '*' | cat", 5.0)
    assert result.reason == "exit status 1: args: ['a;b', '$HOME', '*', '|', 'cat']"


def test_a_command_that_hangs_is_killed_with_its_children() -> None:
    started = time.monotonic()
    # The shell's background child holds stderr open: only killing the group ends it.
    result = CommandCheck().probe(LOCAL, ["sh", "-c", "sleep 30 & sleep 30"], 0.5)
    assert time.monotonic() - started < 3
    assert not result.ok and result.reason == "sh did not finish within 0.5 s (killed)"


# ---------------------------------------------------------------- end to end


def test_a_local_instance_becomes_ready_only_when_its_command_check_passes(tmp_path: Path) -> None:
    home, checks = tmp_path / "home", tmp_path / "checks.log"
    check = textwrap.dedent(f"""\
        import pathlib, sys
        ready = list(pathlib.Path({str(home / 'instances')!r}).glob('*/go'))
        with open({str(checks)!r}, 'a') as log:
            log.write(sys.argv[1] + (' ready' if ready else ' waiting') + '\\n')
        sys.exit(0 if ready and sys.argv[1] == '127.0.0.1' else 'no go file yet')
        """)
    (tmp_path / "nodes.yaml").write_text(textwrap.dedent(f"""\
        'node_def:waiter':
          - resource:
              type: local
              command: [{json.dumps(PYTHON)}, -c, "import time; time.sleep(120)"]
            health_check:
              command: [{json.dumps(PYTHON)}, -c, {json.dumps(check)}, "{{{{ip}}}}"]
              timeout: 60
        """))
    (tmp_path / "infra.yaml").write_text("infra_name: gated\nnodes:\n  - {name: w, type: waiter}\n")

    with Occo(Config(home=home)) as api:
        api.import_node_definitions(tmp_path / "nodes.yaml")
        ids: list[str] = []
        outcome: dict[str, object] = {}

        def build() -> None:
            try:
                outcome["result"] = api.build(tmp_path / "infra.yaml", on_infra_id=ids.append)
            except BaseException as exc:
                outcome["error"] = exc

        builder = threading.Thread(target=build)
        builder.start()
        try:
            deadline = time.monotonic() + 20
            while not (checks.exists() and checks.read_text().count("waiting") >= 2):
                assert time.monotonic() < deadline, "the command check never ran"
                time.sleep(0.05)
            # The process runs, the check keeps failing: the instance is not ready.
            [instance] = api.store.instances.for_infra(ids[0])
            assert instance.state == InstanceState.BOOTING
            assert builder.is_alive()
            (home / "instances" / instance.id / "go").touch()
            builder.join(30)
            assert not builder.is_alive() and "error" not in outcome, outcome
        finally:
            if builder.is_alive():
                builder.join(60)
        try:
            assert api.store.instances.get(instance.id).state == InstanceState.READY
            assert checks.read_text().splitlines()[-1] == "127.0.0.1 ready"
            assert api.report(ids[0])["w"]["instances"][instance.id]["state"] == "ready"
        finally:
            api.destroy(ids[0])
        assert not (home / "instances" / instance.id).exists()
