"""``mysqldbs: [{name: wp, user: wpuser, pass: secret}]`` — every login to MySQL succeeds.

For each listed database occo connects to the instance's port 3306 (the
actual port for a local instance sharing 127.0.0.1), reads the protocol-10
handshake and logs in with the user and password, selecting the database.
The server's OK is healthy; its ERR (wrong password, unknown database...) is
not, with the server's message as the reason. The password never appears in
a reason.

Only the standard library is used, and only two authentication plugins are
spoken, without TLS: ``mysql_native_password`` and the fast path of
``caching_sha2_password`` (MySQL 8's default). The latter's full
authentication needs TLS or RSA, which occo does not do; it is only asked for
while the server has not cached the account since its last restart, so
logging in once with a MySQL client (or using ``mysql_native_password``)
makes the check pass.

The conversation itself (:class:`Login`) is pure: bytes in, bytes or an
outcome out. :class:`MysqlDbsCheck` only moves packets over a socket.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from occo.health.base import HealthCheck, HealthResult, HealthTarget

MYSQL_PORT = 3306

CLIENT_LONG_PASSWORD = 0x0000_0001
CLIENT_CONNECT_WITH_DB = 0x0000_0008
CLIENT_PROTOCOL_41 = 0x0000_0200
CLIENT_SECURE_CONNECTION = 0x0000_8000
CLIENT_PLUGIN_AUTH = 0x0008_0000
#: What occo asks for; a flag the server lacks is dropped (plugin auth) or fatal (the rest).
CLIENT_FLAGS = (CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41
                | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
REQUIRED_SERVER_FLAGS = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"
MAX_PACKET = 16 * 1024 * 1024
UTF8MB4_GENERAL_CI = 45
MAX_ROUNDS = 5     # packets the server may send after our response before we give up

OK, EOF_OR_SWITCH, ERR, MORE_DATA = 0x00, 0xFE, 0xFF, 0x01
FAST_AUTH_OK, FULL_AUTH_NEEDED = 0x03, 0x04

FULL_AUTH_REASON = ("server asks for full caching_sha2 authentication (needs TLS); log in "
                    "once with a client to prime the cache, or use mysql_native_password")


class ProtocolError(ValueError):
    """The peer said something a MySQL server would not (or occo cannot follow)."""


# --------------------------------------------------------------------------- packets


def frame(sequence: int, payload: bytes) -> bytes:
    """One packet: 3-byte little-endian length, sequence id, payload."""
    if len(payload) >= 0xFF_FFFF:
        raise ProtocolError("packet too large")
    return len(payload).to_bytes(3, "little") + bytes([sequence & 0xFF]) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(payload length, sequence id) of a 4-byte packet header."""
    if len(header) != 4:
        raise ProtocolError("truncated packet header")
    return int.from_bytes(header[:3], "little"), header[3]


def _cstring(data: bytes, start: int) -> tuple[bytes, int]:
    """A NUL-terminated string at ``start`` and the offset after it (no NUL: to the end)."""
    end = data.find(b"\0", start)
    if end < 0:
        return data[start:], len(data)
    return data[start:end], end + 1


def _strip_nul(nonce: bytes) -> bytes:
    return nonce[:-1] if nonce.endswith(b"\0") else nonce


@dataclass(frozen=True)
class Handshake:
    """What matters of the server's initial handshake (protocol version 10)."""

    server_version: str
    connection_id: int
    capabilities: int
    nonce: bytes
    plugin: str     # "" when the server does not announce one


@dataclass(frozen=True)
class ServerError:
    code: int
    sqlstate: str
    message: str

    def __str__(self) -> str:
        state = f" ({self.sqlstate})" if self.sqlstate else ""
        return f"MySQL error {self.code}{state}: {self.message}"


def parse_handshake(payload: bytes) -> Handshake:
    if not payload:
        raise ProtocolError("empty handshake")
    if payload[0] != 10:
        raise ProtocolError(f"not a MySQL protocol-10 handshake (first byte {payload[0]:#04x})")
    try:
        version, at = _cstring(payload, 1)
        connection_id, = struct.unpack_from("<I", payload, at)
        nonce = payload[at + 4:at + 12]
        at += 13                                           # 8 nonce bytes, 1 filler
        capabilities, = struct.unpack_from("<H", payload, at)
        at += 2
    except struct.error:
        raise ProtocolError("truncated handshake") from None
    plugin = ""
    if len(payload) > at:
        try:
            _charset, _status, upper, data_len = struct.unpack_from("<BHHB", payload, at)
        except struct.error:
            raise ProtocolError("truncated handshake") from None
        capabilities |= upper << 16
        at += 6 + 10                                       # reserved bytes
        if capabilities & CLIENT_SECURE_CONNECTION:
            rest = max(13, data_len - 8)
            nonce += payload[at:at + rest]
            at += rest
        if capabilities & CLIENT_PLUGIN_AUTH:
            name, _ = _cstring(payload, at)
            plugin = name.decode("ascii", "replace")
    return Handshake(version.decode("utf-8", "replace"), connection_id, capabilities,
                     _strip_nul(nonce), plugin)


def parse_err(payload: bytes) -> ServerError:
    """An ERR packet (0xFF); the SQL state is present once protocol 4.1 is agreed."""
    if len(payload) < 3 or payload[0] != ERR:
        raise ProtocolError("not an ERR packet")
    code, = struct.unpack_from("<H", payload, 1)
    sqlstate, message = "", payload[3:]
    if message[:1] == b"#" and len(message) >= 6:
        sqlstate, message = message[1:6].decode("ascii", "replace"), message[6:]
    return ServerError(code, sqlstate, message.decode("utf-8", "replace").strip())


def parse_auth_switch(payload: bytes) -> tuple[str, bytes]:
    """(plugin, nonce) of an AuthSwitchRequest (0xFE followed by a plugin name)."""
    if len(payload) < 2 or payload[0] != EOF_OR_SWITCH:
        raise ProtocolError("server asks for the pre-4.1 password hashing, which is insecure "
                            "and not supported")
    name, at = _cstring(payload, 1)
    return name.decode("ascii", "replace"), _strip_nul(payload[at:])


# --------------------------------------------------------------------------- scrambles


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def native_scramble(password: bytes, nonce: bytes) -> bytes:
    """mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    return _xor(stage1, hashlib.sha1(nonce + stage2).digest())


def caching_sha2_scramble(password: bytes, nonce: bytes) -> bytes:
    """caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)."""
    if not password:
        return b""
    stage1 = hashlib.sha256(password).digest()
    stage2 = hashlib.sha256(stage1).digest()
    return _xor(stage1, hashlib.sha256(stage2 + nonce).digest())


SCRAMBLES = {NATIVE: native_scramble, CACHING_SHA2: caching_sha2_scramble}


def build_handshake_response(handshake: Handshake, user: str, auth: bytes, database: str,
                             plugin: str) -> bytes:
    """HandshakeResponse41 payload (no TLS, no connection attributes)."""
    flags = CLIENT_FLAGS & (handshake.capabilities | ~CLIENT_PLUGIN_AUTH)
    payload = struct.pack("<IIB23x", flags, MAX_PACKET, UTF8MB4_GENERAL_CI)
    payload += user.encode() + b"\0" + bytes([len(auth)]) + auth + database.encode() + b"\0"
    if flags & CLIENT_PLUGIN_AUTH:
        payload += plugin.encode("ascii") + b"\0"
    return payload


# --------------------------------------------------------------------------- conversation


@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    reason: str = ""


class Login:
    """The client side of one login, without I/O.

    Feed it the handshake, then every packet the server sends; it answers
    with the payload to send back (``None``: nothing, wait for the next
    packet) or, at the end, a :class:`LoginOutcome`.
    """

    def __init__(self, user: str, password: str, database: str) -> None:
        self.user, self.database = user, database
        self._password = password.encode()
        self._plugin = NATIVE
        self._rounds = 0

    def on_handshake(self, payload: bytes) -> bytes | LoginOutcome:
        if payload[:1] == bytes([ERR]):
            return LoginOutcome(False, str(parse_err(payload)))
        handshake = parse_handshake(payload)
        missing = REQUIRED_SERVER_FLAGS & ~handshake.capabilities
        if missing:
            return LoginOutcome(False, f"server {handshake.server_version} lacks protocol "
                                       f"features occo needs (capabilities {missing:#x})")
        # An unknown default plugin: answer as native; the server switches if the account differs.
        if handshake.plugin in SCRAMBLES:
            self._plugin = handshake.plugin
        auth = SCRAMBLES[self._plugin](self._password, handshake.nonce)
        return build_handshake_response(handshake, self.user, auth, self.database, self._plugin)

    def on_packet(self, payload: bytes) -> bytes | LoginOutcome | None:
        self._rounds += 1
        if self._rounds > MAX_ROUNDS or not payload:
            raise ProtocolError("server keeps the login going without an answer")
        kind = payload[0]
        if kind == OK:
            return LoginOutcome(True)
        if kind == ERR:
            return LoginOutcome(False, str(parse_err(payload)))
        if kind == EOF_OR_SWITCH:
            plugin, nonce = parse_auth_switch(payload)
            if plugin not in SCRAMBLES:
                return LoginOutcome(False, f"server asks for authentication plugin '{plugin}', "
                                           f"which occo does not speak (it speaks "
                                           f"{NATIVE} and {CACHING_SHA2})")
            self._plugin = plugin
            return SCRAMBLES[plugin](self._password, nonce)
        if kind == MORE_DATA and self._plugin == CACHING_SHA2 and len(payload) >= 2:
            if payload[1] == FAST_AUTH_OK:
                return None         # the OK packet follows
            if payload[1] == FULL_AUTH_NEEDED:
                return LoginOutcome(False, FULL_AUTH_REASON)
        raise ProtocolError(f"unexpected packet {kind:#04x} during {self._plugin} login")


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Database:
    name: str
    user: str
    password: str = ""


def wanted_databases(argument: Any) -> list[Database]:
    """Items as written (``pass``) or as dumped (``password``); raises TypeError or
    ValueError with a message that never repeats a password."""
    items = [argument] if isinstance(argument, Mapping) else argument
    if not isinstance(items, (list, tuple)):
        raise TypeError("mysqldbs expects a list of {name, user, pass} entries")
    found = []
    for index, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            item = getattr(item, "__dict__", None)     # a MysqlDb model
            if not isinstance(item, Mapping):
                raise TypeError(f"mysqldbs entry {index} is not a mapping")
        password = item.get("pass", item.get("password", ""))
        name, user = item.get("name"), item.get("user")
        if not isinstance(name, str) or not name or not isinstance(user, str):
            raise ValueError(f"mysqldbs entry {index} needs a 'name' and a 'user'")
        found.append(Database(name, user, "" if password is None else str(password)))
    return found


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


# --------------------------------------------------------------------------- I/O


class _Connection:
    """Packets over one socket, every read and write bounded by a deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.sequence = sock, deadline, 0

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def _read_exactly(self, size: int) -> bytes:
        chunks, got = [], 0
        while got < size:
            self.sock.settimeout(self._remaining())
            chunk = self.sock.recv(size - got)
            if not chunk:
                raise ConnectionError("server closed the connection")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def read(self) -> bytes:
        length, self.sequence = parse_header(self._read_exactly(4))
        return self._read_exactly(length)

    def write(self, payload: bytes) -> None:
        self.sequence = (self.sequence + 1) & 0xFF
        self.sock.settimeout(self._remaining())
        self.sock.sendall(frame(self.sequence, payload))


def login(ip: str, port: int, db: Database, deadline: float) -> LoginOutcome:
    """One login conversation; raises OSError or ProtocolError when it cannot finish."""
    conversation = Login(db.user, db.password, db.name)
    connect_timeout = max(0.01, deadline - time.monotonic())
    with socket.create_connection((ip, port), timeout=connect_timeout) as sock:
        conn = _Connection(sock, deadline)
        try:
            greeting = conn.read()
        except TimeoutError:
            raise TimeoutError("no MySQL handshake before the timeout") from None
        step: bytes | LoginOutcome | None = conversation.on_handshake(greeting)
        while not isinstance(step, LoginOutcome):
            if step is not None:   # an empty payload is a valid answer (empty password)
                conn.write(step)
            step = conversation.on_packet(conn.read())
        return step


class MysqlDbsCheck(HealthCheck):
    """A MySQL login per listed database, all within one ``timeout``."""

    name: ClassVar[str] = "mysqldbs"

    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        try:
            databases = wanted_databases(argument)
        except (TypeError, ValueError) as exc:
            return HealthResult(False, str(exc))
        if not target.ip:
            return HealthResult(False, "instance has no IP address yet")
        port = target.port(MYSQL_PORT)
        deadline = time.monotonic() + timeout
        for db in databases:
            label = f"database '{db.name}' as '{db.user}'"
            try:
                outcome = login(target.ip, port, db, deadline)
            except (OSError, ProtocolError) as exc:
                where = f"{target.ip}:{port}"
                outcome = LoginOutcome(False, f"{where}: {str(exc) or type(exc).__name__}")
            if not outcome.ok:
                return HealthResult(False, redact(f"{label}: {outcome.reason}", db.password))
        return HealthResult(True)
