"""``mysqldbs: [{name: wp, user: wpuser, pass: secret}]`` — every login to MySQL succeeds.

For each listed database occo logs in to the instance's port 3306 (the
actual port for a local instance sharing 127.0.0.1) with the user and
password, selecting the database. A completed login is healthy; a refused one
(wrong password, unknown database, host not allowed...) is not, with the
server's message as the reason. The password never appears in a reason.

The login is PyMySQL's (``pip install 'occo[mysql]'``), so every
authentication plugin it speaks works: ``mysql_native_password``, MySQL 8's
default ``caching_sha2_password`` including its full authentication (by RSA
key exchange, with ``cryptography``), ``sha256_password`` and MariaDB's
``client_ed25519`` (with PyNaCl).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from occo.errors import DescriptionError
from occo.health.base import HealthCheck, HealthResult, HealthTarget

try:
    import pymysql
except ImportError:  # the module is loaded only when a node asks for this check
    raise DescriptionError("the mysqldbs health check needs PyMySQL: "
                           "pip install 'occo[mysql]'") from None

MYSQL_PORT = 3306
MIN_STEP = 0.05     # seconds: the least any connect/read may be given


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


def describe_failure(exc: BaseException) -> str:
    """The server's words for a refused login (``MySQL error 1045: Access denied...``),
    or what kept the conversation from finishing."""
    if isinstance(exc, pymysql.err.MySQLError) and len(exc.args) >= 2 \
            and isinstance(exc.args[0], int):
        code, message = exc.args[0], str(exc.args[1])
        if code == 2003:        # PyMySQL's "can't connect": the cause is in the message
            return message
        return f"MySQL error {code}: {message}"
    return str(exc) or type(exc).__name__


def login(ip: str, port: int, db: Database, deadline: float) -> None:
    """Log in and select the database; raises what PyMySQL raises when it cannot."""
    left = max(MIN_STEP, deadline - time.monotonic())
    connection = pymysql.connect(host=ip, port=port, user=db.user, password=db.password,
                                 database=db.name, connect_timeout=left, read_timeout=left,
                                 write_timeout=left, autocommit=True, local_infile=False,
                                 program_name="occo-health")
    connection.close()


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
            try:
                login(target.ip, port, db, deadline)
            except (pymysql.err.MySQLError, OSError, RuntimeError) as exc:
                reason = f"database '{db.name}' as '{db.user}' at {target.ip}:{port}: " \
                         f"{describe_failure(exc)}"
                return HealthResult(False, redact(reason, db.password))
        return HealthResult(True)
