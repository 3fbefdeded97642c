"""occopus-import: validate a node-definition file and store it."""

from __future__ import annotations

import click

from occo.cli.common import config_options, err, handle_errors, open_api


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.argument("datafile", type=click.Path(exists=True, dir_okay=False))
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, datafile: str) -> None:
    """Import the node definitions in DATAFILE (a re-import replaces them)."""
    with open_api(cfg_path, auth_data_path) as occo:
        types = occo.import_node_definitions(datafile)
    err(f"imported {len(types)} node definition(s): {', '.join(types)}")
