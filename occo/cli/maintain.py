"""occopus-maintain: list, report on, and maintain infrastructures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from occo.cli.common import config_options, handle_errors, open_api


def _report_text(infra_id: str, report: dict[str, Any], events: list[Any]) -> str:
    lines = [f"infrastructure {infra_id}"]
    for node, entry in report.items():
        s = entry["scaling"]
        lines.append(f"  {node}: {s['actual']} instance(s) (target {s['target']}, "
                     f"min {s['min']}, max {s['max']})")
        for instance_id, inst in entry["instances"].items():
            address = inst['resource_address'] or '-'
            lines.append(f"    {instance_id}  {inst['state']:<10} {address}")
    if events:
        lines.append("  recent events:")
        for event in events:
            import datetime as dt

            when = dt.datetime.fromtimestamp(event.time).isoformat(timespec="seconds")
            lines.append(f"    {when}  {event.kind}: {event.message}")
    return "\n".join(lines) + "\n"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("--parallelize", is_flag=True, help="Act on instances concurrently.")
@click.option("-l", "--list", "list_", is_flag=True, help="List the infrastructures.")
@click.option("-r", "--report", is_flag=True, help="Report on the infrastructure given by -i.")
@click.option("-i", "--infraid", "--infra_id", "--infra-id", "infra_id", default=None,
              help="The infrastructure to report on or maintain.")
@click.option("-c", "--cyclic", is_flag=True, help="Maintain continuously.")
@click.option("-t", "--interval", "interval", type=click.FloatRange(min=0, min_open=True),
              default=None,
              help="Seconds between maintenance passes (default 10).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to this file instead of stdout.")
@click.option("-f", "--filter", "node_filter", default=None,
              help="Report only this node.")
@click.option("--force", is_flag=True,
              help="Replace failed instances even if the failure brake is engaged.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON in Occopus's REST shape.")
@click.option("--no-triggers", "no_triggers", is_flag=True,
              help="With -c: do not fire cron triggers from this process.")
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, parallelize: bool, list_: bool,
         report: bool, infra_id: str | None, cyclic: bool, interval: float | None,
         output: str | None, node_filter: str | None, force: bool, as_json: bool,
         no_triggers: bool) -> None:
    """List infrastructures (-l), report on one (-r -i ID), or maintain them."""
    from occo.errors import UserInputError

    if report and not infra_id:
        raise UserInputError("-r/--report needs -i INFRA_ID")
    for_reports = [flag for flag, given in (("--json", as_json), ("-f", node_filter),
                                            ("-o", output)) if given]
    if for_reports and not report:
        raise UserInputError(f"{', '.join(for_reports)} only go with -r/--report "
                             "(nothing was done)")
    with open_api(cfg_path, auth_data_path) as occo:
        if list_:
            for infra in occo.list_infrastructures():
                click.echo(f"{infra.id}\t{infra.name}\t{infra.state}")
            return
        if report:
            assert infra_id is not None
            data = occo.report(infra_id, node_filter)
            text = (json.dumps(data, indent=2, sort_keys=True) + "\n" if as_json else
                    _report_text(infra_id, data, occo.events(infra_id, limit=10)))
            if output:
                try:
                    Path(output).write_text(text, encoding="utf-8")
                except OSError as exc:
                    raise UserInputError(f"cannot write the report to {output}: "
                                         f"{exc.strerror or exc}") from None
            else:
                sys.stdout.write(text)
            return
        from occo.cli.maintain_loop import run_maintenance

        run_maintenance(occo, infra_id=infra_id, cyclic=cyclic, interval=interval,
                        parallelize=parallelize, force=force, triggers=not no_triggers)
