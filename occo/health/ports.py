"""``ports: [22, 80]`` — every listed port accepts a TCP connection.

Ports are the ones a node definition names; for a local instance sharing
127.0.0.1 they are translated to the actual ports through ``target.port()``.
"""

from __future__ import annotations

import socket
import time
from typing import Any, ClassVar

from occo.health.base import HealthCheck, HealthResult, HealthTarget


def wanted_ports(argument: Any) -> list[int]:
    """Accept a list of ports (Occopus style) or a single one."""
    items = argument if isinstance(argument, (list, tuple)) else [argument]
    return [int(p) for p in items]


def summarize(failures: dict[int, str]) -> HealthResult:
    """One result for all ports; the reason names each closed one."""
    if not failures:
        return HealthResult(True)
    return HealthResult(False, "; ".join(f"port {p}: {why}" for p, why in sorted(failures.items())))


class PortsCheck(HealthCheck):
    """TCP connect to each port, all within one ``timeout``."""

    name: ClassVar[str] = "ports"

    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        try:
            ports = wanted_ports(argument)
        except (TypeError, ValueError):
            return HealthResult(False, f"ports expects a list of port numbers, got {argument!r}")
        if not target.ip:
            return HealthResult(False, "instance has no IP address yet")
        deadline = time.monotonic() + timeout
        failures: dict[int, str] = {}
        for wanted in ports:
            actual = target.port(wanted)
            try:
                remaining = max(0.01, deadline - time.monotonic())
                socket.create_connection((target.ip, actual), timeout=remaining).close()
            except OSError as exc:
                why = str(exc) or type(exc).__name__
                failures[wanted] = why if actual == wanted else f"(actual port {actual}) {why}"
        return summarize(failures)
