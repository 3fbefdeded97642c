"""What every console script shares: Occopus's common flags and error mapping."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from occo.api import Occo
    from occo.config import Config

F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[f"occo.{param.name}"] = value
    return value


def config_options(fn: F) -> F:
    """``--cfg`` and ``--auth_data_path`` as Occopus spells them, ``--version``, and
    occo's log flags."""
    from occo import __version__

    fn = click.version_option(__version__, "--version", prog_name="occo",
                              message="%(prog)s %(version)s")(fn)
    fn = click.option("--log-format", "log_format",
                      type=click.Choice(["console", "json"]), default=None,
                      expose_value=False, callback=_remember,
                      help="Log lines on stderr as text or as JSON with @timestamp "
                           "(default: $OCCO_LOG_FORMAT, else console).")(fn)
    fn = click.option("--log-level", "log_level",
                      type=click.Choice(["debug", "info", "warning", "error", "critical"],
                                        case_sensitive=False),
                      default=None, expose_value=False, callback=_remember,
                      help="Least severe log lines shown (default: $OCCO_LOG_LEVEL, the "
                           "config file's logging section, else warning).")(fn)
    fn = click.option("--auth_data_path", "--auth-data-path", "auth_data_path",
                      type=click.Path(dir_okay=False), default=None,
                      help="Path to auth_data.yaml (default: searched).")(fn)
    return click.option("--cfg", "cfg_path", type=click.Path(dir_okay=False), default=None,
                        help="Path to occopus_config.yaml (default: searched).")(fn)


def load_configured(cfg_path: str | None, auth_data_path: str | None, *,
                    default_level: str = "warning") -> Config:
    """The config, with logging set up from the flags, environment and config file.

    Logging is set up twice: before the files are read (so what reading them
    logs is shown) and after (the config's ``logging:`` section, and the
    auth_data secrets every log line must not show).
    """
    from occo.config import load_config
    from occo.logsetup import choose, configure_logging

    meta = click.get_current_context(silent=True)
    flags = meta.meta if meta is not None else {}
    level, fmt = choose(flags.get("occo.log_level"), flags.get("occo.log_format"))
    configure_logging(level, fmt, default_level=default_level)
    with warnings.catch_warnings(record=True) as caught:   # one line each, not Python's
        warnings.simplefilter("always")                     # file:line and source line
        config = load_config(cfg_path, auth_data_path)
    for warning in caught:
        err(f"warning: {warning.message}")
    raw_auth = config.auth_data
    redact = None
    if raw_auth:
        from occo.context.auth import AuthData

        redact = AuthData.parse(raw_auth, config.auth_source).redactor
    configure_logging(level, fmt, default_level=default_level,
                      dict_config=getattr(config, "logging", None), redact=redact)
    return config


def open_api(cfg_path: str | None, auth_data_path: str | None) -> Occo:
    from occo.api import Occo

    return Occo(load_configured(cfg_path, auth_data_path))


def err(message: str) -> None:
    click.echo(message, err=True)


def err_from_signal(message: str) -> None:
    """:func:`err` for signal handlers. A handler runs between two bytecodes of the
    main thread, possibly in the middle of its own write to stderr, where a second
    buffered write raises ``RuntimeError: reentrant call``: what is buffered is
    flushed if it can be, and the message goes straight to the descriptor."""
    with contextlib.suppress(RuntimeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):    # captured in-process: no descriptor
        err(message)
        return
    os.write(fd, (message + "\n").encode(errors="replace"))


def handle_errors(fn: F) -> F:
    """Map occo's errors to one message on stderr and the error's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from occo.errors import OccoError

        try:
            return fn(*args, **kwargs)
        except OccoError as exc:
            err(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err("interrupted")
            sys.exit(130)
        except BrokenPipeError:
            # the reader went away (``occopus-maintain -l | head -1``): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last resort, never a bare trace
            if os.environ.get("OCCO_DEBUG"):
                import traceback

                traceback.print_exc()
            err(f"internal error: {type(exc).__name__}: {exc} (set OCCO_DEBUG=1 for details)")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps F's signature
