"""Reports as one structured JSON line each, for Filebeat/ELK-style collection.

Uses a structlog logger of its own (no global configuration), stamping
``@timestamp`` in UTC ISO 8601. The line goes to the configured file, or to
``<home>/reports.log`` by default ("-" means stderr: stdout belongs to the
command's result).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, TextIO


class ReportLog:
    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self._lock = threading.Lock()

    def _open(self) -> tuple[TextIO, bool]:
        if self.target == "-":
            return sys.stderr, False
        path = Path(self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", encoding="utf-8"), True

    def publish(self, event: str, report: dict[str, Any]) -> None:
        """Append one JSON line: ``{"@timestamp", "event", "report": {...}}``."""
        import structlog

        with self._lock:
            stream, close = self._open()
            try:
                logger = structlog.wrap_logger(
                    structlog.PrintLogger(stream),
                    processors=[structlog.processors.TimeStamper(fmt="iso", utc=True,
                                                                 key="@timestamp"),
                                structlog.processors.JSONRenderer(sort_keys=True)])
                logger.info(event, report=report, infra_id=report.get("infra_id"),
                            execution_id=report.get("execution_id"),
                            status=report.get("status"))
            finally:
                if close:
                    stream.close()
