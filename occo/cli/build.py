"""occopus-build: build (or with -i, update) an infrastructure.

stdout carries only the infra id. The first Ctrl+C (or SIGTERM) rolls back
what this run created and exits 130 (143 after SIGTERM); a second one stops
waiting and leaves the records so that ``occopus-destroy -i ID`` can finish
the job.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
from pathlib import Path
from typing import Any

import click

from occo.cli.common import config_options, err_from_signal, handle_errors, open_api

_EXIT_AFTER: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _install_interrupts(cancel: threading.Event, infra_ids: list[str],
                        received: list[int]) -> None:
    """Ctrl+C and SIGTERM alike: the first rolls back, the second stops waiting."""
    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        if not cancel.is_set():
            what = "interrupted" if signum == signal.SIGINT else "terminated"
            err_from_signal(f"{what}: rolling back what this run created "
                            "(signal again to stop waiting)")
            cancel.set()
            return
        where = f" -i {infra_ids[0]}" if infra_ids else ""
        err_from_signal(f"stopped waiting; records kept: run occopus-destroy{where} to clean up")
        os._exit(_EXIT_AFTER.get(received[0], 130))

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _print_plan(result: Any, previews: dict[str, Any] | None = None) -> None:
    plan = result.plan
    click.echo(f"plan for infrastructure {result.infra_id}:")
    for name, node in result.nodes.items():
        deps = f" (after {', '.join(node.dependees)})" if node.dependees else ""
        click.echo(f"  {name}: create {plan.create.get(name, 0)} x {node.node_type} "
                   f"on {node.resource_type}, target {plan.targets.get(name)}{deps}")
    for dep in result.description.implicit_dependencies() if result.description else []:
        click.echo(f"  {dep.dependent} waits for {dep.dependee}: {dep.extras['implicit']}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    if plan.drop:
        click.echo(f"  drop {len(plan.drop)} instance(s): {', '.join(plan.drop)}")
    if plan.empty:
        click.echo("  nothing to do")
    shown = {n: p for n, p in (previews or {}).items() if p.user_data or p.jobs}
    if shown:
        click.echo("contextualisation (addresses and node_id are placeholders in a dry run):")
    for name, preview in shown.items():
        if preview.user_data:
            click.echo(f"  {name}: user data")
            click.echo(textwrap.indent(preview.user_data.rstrip("\n"), "    | ", lambda _: True))
        if preview.jobs:
            click.echo(f"  {name}: jobs run on the instance once it is running")
            click.echo(textwrap.indent("\n".join(preview.jobs), "    | "))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("--parallelize", is_flag=True, help="Create independent nodes concurrently.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Calls in flight per resource handler (implies --parallelize).")
@click.option("-i", "--infra_id", "--infraid", "--infra-id", "infra_id", default=None,
              help="Update this existing infrastructure instead of building a new one.")
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True,
              help="Validate and print the plan; create nothing.")
@click.argument("infra_def", type=click.Path(exists=True, dir_okay=False))
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, parallelize: bool,
         concurrency: int | None, infra_id: str | None, dry_run: bool, infra_def: str) -> None:
    """Build the infrastructure described in INFRA_DEF and print its id."""
    cancel = threading.Event()
    seen_ids: list[str] = []
    received: list[int] = []
    _install_interrupts(cancel, seen_ids, received)
    with open_api(cfg_path, auth_data_path) as occo:
        if dry_run:
            from occo.model.description import load_infra_description

            desc = load_infra_description(Path(infra_def))     # read once: it may be a pipe
            result = occo.build(desc, infra_id=infra_id, dry_run=True)
            _print_plan(result, occo.preview_contexts(result, desc))
            return
        from occo.cli.progress import ProgressPrinter, build_summary
        from occo.errors import Interrupted, Terminated

        with ProgressPrinter("building") as progress:
            try:
                result = occo.build(infra_def, infra_id=infra_id, parallelize=parallelize,
                                    concurrency=concurrency, cancel=cancel,
                                    progress=progress.update, on_infra_id=seen_ids.append)
            except Interrupted as exc:
                if received[:1] == [signal.SIGTERM]:
                    raise Terminated(exc.message) from None
                raise
            progress.final = build_summary(result.report, progress.elapsed)
    click.echo(result.infra_id)
