"""The health-check contract.

A node's ``health_check`` section maps check names (``ping``, ``ports``,
``urls``...) to their argument; each name is an entry point in
``occo.health_checks``. I/O lives in :meth:`HealthCheck.probe`; the result
is a plain value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class HealthTarget:
    """The instance being checked: its IP and its wanted->actual port map."""

    ip: str | None
    ports: dict[int, int] = field(default_factory=dict)

    def port(self, wanted: int) -> int:
        return self.ports.get(wanted, wanted)


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    reason: str = ""


class HealthCheck(ABC):
    """One kind of check; ``argument`` is the value under its key."""

    name: ClassVar[str]

    @abstractmethod
    def probe(self, target: HealthTarget, argument: Any, timeout: float) -> HealthResult:
        """Probe once, quickly (``timeout`` bounds a single attempt)."""
