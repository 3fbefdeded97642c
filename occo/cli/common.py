"""What every console script shares: Occopus's common flags and error mapping."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from occo.api import Occo

F = TypeVar("F", bound=Callable[..., Any])


def config_options(fn: F) -> F:
    """``--cfg`` and ``--auth_data_path`` as Occopus spells them."""
    fn = click.option("--auth_data_path", "--auth-data-path", "auth_data_path",
                      type=click.Path(dir_okay=False), default=None,
                      help="Path to auth_data.yaml (default: searched).")(fn)
    return click.option("--cfg", "cfg_path", type=click.Path(dir_okay=False), default=None,
                        help="Path to occopus_config.yaml (default: searched).")(fn)


def open_api(cfg_path: str | None, auth_data_path: str | None) -> Occo:
    from occo.api import Occo

    return Occo.from_files(cfg_path, auth_data_path)


def err(message: str) -> None:
    click.echo(message, err=True)


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
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last resort, never a bare trace
            if os.environ.get("OCCO_DEBUG"):
                traceback.print_exc()
            err(f"internal error: {type(exc).__name__}: {exc} (set OCCO_DEBUG=1 for details)")
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
