"""occopus-rest-service: the REST API, served by waitress.

Listens on 127.0.0.1:5000 unless told otherwise; ``--port 0`` takes a free
port. The address is printed to stderr as ``serving on http://HOST:PORT``.
Listening on anything but a loopback address needs a bearer token
(``rest: {tokens: [...]}`` in the config, ``$OCCO_REST_TOKENS``, or
``--generate-token``, which keeps one in ``<home>/rest_token``).
SIGTERM or Ctrl+C stop it cleanly (exit 0, or 130 after Ctrl+C): answers
in flight are sent, background builds get ``--grace`` seconds and are then
rolled back, the maintenance pass in flight is finished. A second signal
rolls builds back at once.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from occo.cli.common import config_options, err, err_from_signal, handle_errors, load_configured


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("--host", default=None,
              help="Address to listen on; other than loopback needs a bearer token. "
                   "[default: rest.host of the config, else 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (0: any free port). "
                   "[default: rest.port of the config, else 5000]")
@click.option("--parallelize", is_flag=True,
              help="Create and maintain independent instances concurrently.")
@click.option("--generate-token", is_flag=True,
              help="Require a bearer token, made on first start into <home>/rest_token "
                   "(mode 0600).")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds background builds may take to finish at shutdown "
                   "before they are rolled back.")
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, host: str | None, port: int | None,
         parallelize: bool, generate_token: bool, grace: float) -> None:
    """Serve the Occopus REST API (and occo's additions) until SIGTERM or Ctrl+C."""
    from occo.api import Occo
    from occo.errors import ConfigError, OccoError
    from occo.rest.server import RestService
    from occo.rest.settings import TOKEN_FILE, ServiceSettings

    config = load_configured(cfg_path, auth_data_path, default_level="info")
    if generate_token:
        config.rest.generate_token = True
    settings = ServiceSettings.from_config(config, host=host, port=port,
                                           parallelize=parallelize, grace=grace)
    settings.check()                      # before anything is created or bound
    with Occo(config) as occo:
        try:
            service = RestService(occo, settings)
        except OSError as exc:
            raise OccoError(f"cannot listen on {settings.host}:{settings.port}: "
                            f"{exc.strerror or exc}") from None
        except ValueError as exc:              # waitress: not an address it can bind
            raise ConfigError(f"cannot listen on {settings.host!r}: {exc}") from None
        signals: list[int] = []

        def on_signal(signum: int, _frame: Any) -> None:
            signals.append(signum)
            if len(signals) == 1:
                err_from_signal("stopping: finishing the work in flight "
                                "(signal again to roll back builds now)")
                service.stop()
            else:
                err_from_signal("rolling back builds in flight")
                service.stop(force=True)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        for url in service.urls:
            err(f"serving on {url}")
        if config.rest.generate_token:
            err(f"bearer token: in {config.home / TOKEN_FILE}")
        sys.stderr.flush()
        service.serve()
        err("stopped")
    sys.exit(130 if signals and signals[0] == signal.SIGINT else 0)
