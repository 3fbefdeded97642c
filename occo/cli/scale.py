"""occopus-scale: record a scaling request; the next maintenance pass applies it.

It never touches a resource.
"""

from __future__ import annotations

import click

from occo.cli.common import config_options, err, handle_errors, open_api


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("-i", "--infraid", "--infra_id", "--infra-id", "infra_id", required=True,
              help="The infrastructure holding the node.")
@click.option("-n", "--node", "node_name", required=True, help="The node to scale.")
@click.option("-c", "--changescale", type=int, default=None,
              help="Change the instance count by this many (+ up, - down).")
@click.option("-s", "--setscale", type=int, default=None,
              help="Set the instance count to this number.")
@click.option("-f", "--filter", "instance_filter", default=None,
              help="Scale down by dropping this instance (node id or IP address).")
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, infra_id: str, node_name: str,
         changescale: int | None, setscale: int | None, instance_filter: str | None) -> None:
    """Record a scaling request for NODE of an infrastructure."""
    with open_api(cfg_path, auth_data_path) as occo:
        accepted = occo.scale(infra_id, node_name, change=changescale, set_to=setscale,
                              drop=instance_filter)
    err(accepted.message)
