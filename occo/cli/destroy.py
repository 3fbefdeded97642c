"""occopus-destroy: drop every resource of an infrastructure, then its record.

SIGTERM does not cut a destroy short: it finishes (the resources are being
deleted anyway). A second SIGTERM stops at once, exit 143; the record stays,
so running the command again finishes the job.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import click

from occo.cli.common import config_options, err, err_from_signal, handle_errors, open_api


def _finish_on_sigterm(infra_id: str) -> None:
    received: list[int] = []

    def on_sigterm(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) == 1:
            err_from_signal("terminated: finishing the destroy in flight "
                            "(signal again to stop now)")
            return
        err_from_signal(f"stopped; the record is kept: run occopus-destroy -i {infra_id} "
                        "again to finish")
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("-i", "--infraid", "--infra_id", "--infra-id", "infra_id", required=True,
              help="Identifier of the infrastructure to destroy.")
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, infra_id: str) -> None:
    """Destroy an infrastructure; its record stays until every resource is gone."""
    from occo.cli.progress import ProgressPrinter

    _finish_on_sigterm(infra_id)
    with open_api(cfg_path, auth_data_path) as occo, ProgressPrinter("destroying") as progress:
        occo.destroy(infra_id, progress=progress.update)
    err(f"infrastructure {infra_id} destroyed")
