"""``ping: true`` — the instance answers on the network.

One ICMP echo through the system ``ping`` binary (iputils), run as an
argument list. Where no ``ping`` binary exists, a TCP connection attempt is
used instead: an accepted *or refused* connection proves the host is up,
only silence (timeout) or an unreachable route counts as down. The port tried
is the instance's first mapped port, else 22. The same fallback is used when
``ping`` cannot ping at all (it exits 2, e.g. without permission to open an
ICMP socket): only exit status 1 means "no reply". ``ping: false`` always
passes.
"""

from __future__ import annotations

import errno
import math
import shutil
import socket
import subprocess
from typing import Any, ClassVar

from occo.health.base import HealthCheck, HealthResult, HealthTarget

FALLBACK_PORT = 22
NO_REPLY = 1          # iputils' exit status for "sent, nothing came back"


def ping_argv(binary: str, ip: str, timeout: float) -> list[str]:
    """One echo request; ``-W`` takes whole seconds on older iputils, so round up."""
    return [binary, "-n", "-q", "-c", "1", "-W", str(max(1, math.ceil(timeout))), ip]


def interpret_ping(returncode: int, output: str) -> HealthResult:
    if returncode == 0:
        return HealthResult(True)
    last = output.strip().splitlines()[-1:] or [f"ping exited with {returncode}"]
    return HealthResult(False, f"no ICMP echo reply: {last[0]}")


def interpret_connect(error: OSError | None) -> HealthResult:
    """A refused connection still means someone answered."""
    if error is None or isinstance(error, ConnectionRefusedError) \
            or error.errno == errno.ECONNREFUSED:
        return HealthResult(True)
    return HealthResult(False, f"host unreachable over TCP: {error}")


class PingCheck(HealthCheck):
    """Reachability by ICMP echo (or a TCP connection attempt without a ping binary)."""

    name: ClassVar[str] = "ping"

    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        if not argument:
            return HealthResult(True, "ping check disabled")
        if not target.ip:
            return HealthResult(False, "instance has no IP address yet")
        binary = shutil.which("ping")
        if binary is None:
            return self._tcp_probe(target, timeout)
        try:
            proc = subprocess.run(ping_argv(binary, target.ip, timeout), capture_output=True,
                                  text=True, timeout=max(1, math.ceil(timeout)) + 1, check=False)
        except subprocess.TimeoutExpired:
            return HealthResult(False, f"ping {target.ip} timed out")
        if proc.returncode not in (0, NO_REPLY):      # ping itself failed, not the host
            return self._tcp_probe(target, timeout)
        return interpret_ping(proc.returncode, proc.stdout + proc.stderr)

    @staticmethod
    def _tcp_probe(target: HealthTarget, timeout: float) -> HealthResult:
        assert target.ip is not None
        port = next(iter(target.ports.values()), FALLBACK_PORT)
        try:
            socket.create_connection((target.ip, port), timeout=timeout).close()
        except OSError as exc:
            return interpret_connect(exc)
        return interpret_connect(None)
