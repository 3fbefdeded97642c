"""occopus-destroy: drop every resource of an infrastructure, then its record."""

from __future__ import annotations

import click

from occo.cli.common import config_options, err, handle_errors, open_api
from occo.cli.progress import ProgressPrinter


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("-i", "--infra_id", "--infra-id", "infra_id", required=True,
              help="Identifier of the infrastructure to destroy.")
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, infra_id: str) -> None:
    """Destroy an infrastructure; its record stays until every resource is gone."""
    with open_api(cfg_path, auth_data_path) as occo, ProgressPrinter("destroying") as progress:
        occo.destroy(infra_id, progress=progress.update)
    err(f"infrastructure {infra_id} destroyed")
