"""Process-wide logging, configured once by the command or service that runs.

Every occo record (and every library's: openstacksdk, botocore, APScheduler,
waitress) goes through one handler on stderr, rendered by structlog as a
console line or a JSON line with ``@timestamp`` for a log shipper. stdout
stays free for the command's result.

What decides the setup, first match wins: ``--log-level``/``--log-format``,
``$OCCO_LOG_LEVEL``/``$OCCO_LOG_FORMAT``, the ``logging:`` section of an
Occopus config file (a ``logging.config.dictConfig``; handlers writing to
stdout are moved to stderr, and only the standard library's stream and file
handlers are accepted), else WARNING on the console (INFO for the service).

Secrets are removed where records are emitted: the formatter of each handler
this module installs redacts the finished line (traceback included), so it
covers every logger's records, whichever object created them.

Library users who configure logging themselves need none of this; occo's own
messages that could carry a secret are redacted at the call site as well.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Literal

LogFormat = Literal["console", "json"]
LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS: tuple[LogFormat, ...] = ("console", "json")

#: Handler classes a config file's ``logging:`` section may name (no arbitrary code).
ALLOWED_HANDLERS = frozenset({
    "logging.StreamHandler", "logging.FileHandler", "logging.NullHandler",
    "logging.handlers.RotatingFileHandler", "logging.handlers.TimedRotatingFileHandler",
    "logging.handlers.WatchedFileHandler",
})
_FORMATTER_KEYS = frozenset({"format", "datefmt", "style", "validate"})
_MARK = "_occo_handler"   # set on handlers this module installs, so a re-run replaces them

Redact = Callable[[str], str]


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in stubs
    """A stream handler that looks ``sys.stderr`` up at every record, so a test
    runner (or anything else) that swaps stderr still receives the lines."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr          # handle() holds the handler's lock here
        super().emit(record)


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter: the finished line, traceback included, is what
    gets redacted, whatever produced it."""

    def __init__(self, inner: logging.Formatter, redact: Redact) -> None:
        super().__init__()
        self.inner, self.redact = inner, redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


class _LazyFormatter(logging.Formatter):
    """structlog's formatter, built at the first record: a command that logs
    nothing (the usual case at WARNING) never pays for importing structlog."""

    def __init__(self, fmt: LogFormat) -> None:
        super().__init__()
        self._fmt_name = fmt
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._inner is None:
            self._inner = _structlog_formatter(self._fmt_name)
        return self._inner.format(record)


def _structlog_formatter(fmt: LogFormat) -> logging.Formatter:
    import structlog

    renderer: Any
    if fmt == "json":
        stamp = structlog.processors.TimeStamper(fmt="iso", utc=True, key="@timestamp")
        renderer = structlog.processors.JSONRenderer(sort_keys=True)
        tail: list[Any] = [structlog.processors.format_exc_info]
    else:
        stamp = structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False)
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback)
        tail = []
    pre_chain: list[Any] = [structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
                            stamp, *tail]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])


def _remove_ours() -> None:
    """Undo an earlier setup: our handlers go, loggers a dictConfig cut off propagate."""
    named = [v for v in logging.root.manager.loggerDict.values()
             if isinstance(v, logging.Logger)]
    for logger in [logging.getLogger(), *named]:
        ours = [h for h in logger.handlers if getattr(h, _MARK, False)]
        for handler in ours:
            logger.removeHandler(handler)
            handler.close()
        if ours and logger is not logging.getLogger():
            logger.propagate = True
            logger.setLevel(logging.NOTSET)


def _mark(handler: logging.Handler, redact: Redact | None) -> logging.Handler:
    setattr(handler, _MARK, True)
    if redact is not None:
        handler.setFormatter(RedactingFormatter(handler.formatter or logging.Formatter(),
                                                redact))
    return handler


def choose(level: str | None, fmt: str | None) -> tuple[str | None, LogFormat | None]:
    """Flags first, then the environment; ``None`` where neither says anything."""
    level = level or os.environ.get("OCCO_LOG_LEVEL") or None
    fmt = fmt or os.environ.get("OCCO_LOG_FORMAT") or None
    if level is not None and level.lower() not in LEVELS:
        from occo.errors import UserInputError

        raise UserInputError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    if fmt is not None and fmt not in FORMATS:
        from occo.errors import UserInputError

        raise UserInputError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    chosen: LogFormat | None = fmt  # checked against FORMATS above
    return (level.lower() if level else None), chosen


def configure_logging(level: str | None = None, fmt: LogFormat | None = None, *,
                      default_level: str = "warning",
                      dict_config: Mapping[str, Any] | None = None,
                      redact: Redact | None = None) -> None:
    """Install occo's one stderr handler on the root logger (again: replaces it).

    ``dict_config`` (an Occopus ``logging:`` section) is used when neither a
    level nor a format was asked for explicitly.
    """
    root = logging.getLogger()
    _remove_ours()
    if dict_config and level is None and fmt is None:
        _apply_dict_config(dict_config, redact)
        return
    handler = _Stderr()
    handler.setFormatter(_LazyFormatter(fmt or "console"))
    _mark(handler, redact)
    root.addHandler(handler)
    root.setLevel((level or default_level).upper())
    # APScheduler reports each skipped or coalesced tick; occo's loops expect both.
    logging.getLogger("apscheduler").setLevel(max(root.level, logging.WARNING))


def _apply_dict_config(section: Mapping[str, Any], redact: Redact | None) -> None:
    """An Occopus-style dictConfig, made safe: stdout becomes stderr, only stdlib
    stream/file handlers, plain formatters; every handler redacts."""
    from occo.errors import ConfigError

    config: dict[str, Any] = {k: v for k, v in section.items() if k != "incremental"}
    config.setdefault("version", 1)
    config["disable_existing_loggers"] = False
    handlers: dict[str, Any] = {}
    for name, spec in (section.get("handlers") or {}).items():
        spec = dict(spec or {})
        cls = spec.get("class")
        if cls not in ALLOWED_HANDLERS or "()" in spec:
            raise ConfigError(f"logging.handlers.{name}.class: {cls!r} is not one of "
                              f"{', '.join(sorted(ALLOWED_HANDLERS))}")
        standard = ("ext://sys.stdout", "ext://sys.stderr", None)
        if spec.get("stream") in standard and cls == "logging.StreamHandler":
            spec.pop("stream", None)
            spec["()"] = _Stderr
            del spec["class"]
        handlers[name] = spec
    config["handlers"] = handlers
    formatters: dict[str, Any] = {}
    for name, spec in (section.get("formatters") or {}).items():
        extra = set(spec or {}) - _FORMATTER_KEYS
        if extra:
            raise ConfigError(f"logging.formatters.{name}: unsupported key(s) "
                              f"{', '.join(sorted(map(str, extra)))}")
        formatters[name] = dict(spec or {})
    config["formatters"] = formatters
    config.pop("filters", None)
    for spec in handlers.values():
        spec.pop("filters", None)
    import logging.config  # only for a config file's section: it pulls in sockets

    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError, OSError) as exc:
        raise ConfigError(f"logging: {exc}") from None
    seen: set[int] = set()
    for logger in [logging.getLogger(), *(logging.getLogger(n) for n in
                                          (section.get("loggers") or {}))]:
        for handler in logger.handlers:
            if id(handler) not in seen:
                seen.add(id(handler))
                _mark(handler, redact)
