"""occopus-groups: infrastructure groups and execution groups.

    occopus-groups infra create tenants
    occopus-groups infra add tenants -i ID -i ID --label release=blue
    occopus-groups start tenants maintain --concurrency 3 --success-group ok
    occopus-groups set GROUP_ID --concurrency 0        # pause
    occopus-groups action GROUP_ID cancel
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

import click

from occo.cli.common import config_options, err, err_from_signal, handle_errors, open_api

ACTIONS = ["cancel", "force-cancel", "kill", "resume", "force-resume"]


def parse_value(text: str) -> Any:
    """``3`` -> 3, ``true`` -> True, ``"x"``/``x`` -> "x" (JSON, else a string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint=what)
        out[key] = parse_value(value)
    return out


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.pass_context
def main(ctx: click.Context, cfg_path: str | None, auth_data_path: str | None) -> None:
    """Act on many infrastructures at once."""
    ctx.obj = (cfg_path, auth_data_path)


@main.group()
def infra() -> None:
    """Infrastructure groups: named sets of infrastructures."""


@infra.command("create")
@click.argument("name")
@click.option("--description", default=None, help="What the group is for.")
@click.pass_obj
@handle_errors
def infra_create(obj: tuple[str | None, str | None], name: str, description: str | None) -> None:
    """Create an empty infrastructure group NAME."""
    with open_api(*obj) as occo:
        occo.create_infra_group(name, description)
    err(f"infrastructure group '{name}' created")


@infra.command("list")
@click.pass_obj
@handle_errors
def infra_list(obj: tuple[str | None, str | None]) -> None:
    """List infrastructure groups and how many infrastructures each holds."""
    with open_api(*obj) as occo:
        for group in occo.infra_groups():
            click.echo(f"{group.id}\t{len(group.infra_ids)} infrastructure(s)")


@infra.command("show")
@click.argument("name")
@click.pass_obj
@handle_errors
def infra_show(obj: tuple[str | None, str | None], name: str) -> None:
    """Print the id of every infrastructure in group NAME."""
    with open_api(*obj) as occo:
        for infra_id in occo.infra_group(name).infra_ids:
            click.echo(infra_id)


@infra.command("delete")
@click.argument("name")
@click.pass_obj
@handle_errors
def infra_delete(obj: tuple[str | None, str | None], name: str) -> None:
    """Delete group NAME; its infrastructures are untouched."""
    with open_api(*obj) as occo:
        occo.delete_infra_group(name)
    err(f"infrastructure group '{name}' deleted (its infrastructures are untouched)")


@infra.command("add")
@click.argument("name")
@click.option("-i", "--infra-id", "infra_ids", multiple=True,
              help="An infrastructure to add (repeatable).")
@click.option("--label", default=None, help="Add every infrastructure labelled key=value.")
@click.pass_obj
@handle_errors
def infra_add(obj: tuple[str | None, str | None], name: str, infra_ids: tuple[str, ...],
              label: str | None) -> None:
    """Add infrastructures (by id, or every one with a label) to group NAME."""
    with open_api(*obj) as occo:
        added = occo.add_to_infra_group(name, list(infra_ids), label)
    err(f"added {len(added)} infrastructure(s) to '{name}'")


@infra.command("remove")
@click.argument("name")
@click.option("-i", "--infra-id", "infra_ids", multiple=True, required=True,
              help="An infrastructure to remove (repeatable).")
@click.pass_obj
@handle_errors
def infra_remove(obj: tuple[str | None, str | None], name: str,
                 infra_ids: tuple[str, ...]) -> None:
    """Remove infrastructures from group NAME (they are not destroyed)."""
    with open_api(*obj) as occo:
        occo.remove_from_infra_group(name, list(infra_ids))


@main.command("label")
@click.argument("infra_id")
@click.argument("labels", nargs=-1, required=True)
@click.pass_obj
@handle_errors
def label(obj: tuple[str | None, str | None], infra_id: str, labels: tuple[str, ...]) -> None:
    """Set labels (key=value; key= removes one) on an infrastructure."""
    pairs = {k: (None if v == "" else str(v)) for k, v in parse_pairs(labels, "LABELS").items()}
    with open_api(*obj) as occo:
        occo.label_infrastructure(infra_id, pairs)


def _dispatch(occo: Any, group_id: str) -> None:
    """Run the group in the foreground; Ctrl+C cancels it (queued ones at once)."""
    stop = threading.Event()

    def on_sigint(_signum: int, _frame: Any) -> None:
        err_from_signal("cancelling the group (queued executions are cancelled at once)")
        occo.execution_group_action(group_id, "cancel")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        status = occo.run_execution_group(group_id, stop)
    finally:   # in-process callers (tests, the API) get their own handler back
        signal.signal(signal.SIGINT, previous)
    err(f"execution group {group_id}: {status}")
    if status == "failed":
        raise SystemExit(1)


@main.command("start")
@click.argument("infra_group")
@click.argument("workflow", type=click.Choice(["build", "update", "destroy", "scale",
                                               "maintain"]))
@click.option("--concurrency", type=click.IntRange(min=0), default=5, show_default=True,
              help="Executions run at once; 0 pauses the group.")
@click.option("--param", "params", multiple=True, help="Default parameter key=value.")
@click.option("--infra-param", "infra_params", multiple=True,
              help="Override for one infrastructure: INFRA_ID:key=value.")
@click.option("--success-group", default=None,
              help="Infrastructure group each one that succeeds joins.")
@click.option("--failure-group", default=None,
              help="Infrastructure group each one that fails joins.")
@click.option("--detach", is_flag=True, help="Only record the group; run it later.")
@click.pass_obj
@handle_errors
def start(obj: tuple[str | None, str | None], infra_group: str, workflow: str,
          concurrency: int, params: tuple[str, ...], infra_params: tuple[str, ...],
          success_group: str | None, failure_group: str | None, detach: bool) -> None:
    """Run WORKFLOW over every infrastructure of INFRA_GROUP; prints the group id."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in infra_params:
        infra_id, sep, pair = item.partition(":")
        if not sep:
            raise click.BadParameter(f"expected INFRA_ID:key=value, got {item!r}",
                                     param_hint="--infra-param")
        overrides.setdefault(infra_id, {}).update(parse_pairs((pair,), "--infra-param"))
    with open_api(*obj) as occo:
        group = occo.start_execution_group(
            infra_group, workflow, default_parameters=parse_pairs(params, "--param"),
            parameters=overrides, concurrency=concurrency, success_group_id=success_group,
            failure_group_id=failure_group)
        click.echo(group["id"])
        if not detach:
            _dispatch(occo, group["id"])


@main.command("run")
@click.argument("group_id")
@click.pass_obj
@handle_errors
def run(obj: tuple[str | None, str | None], group_id: str) -> None:
    """Run (or go on running) a group's queued executions."""
    with open_api(*obj) as occo:
        occo.execution_group(group_id)
        _dispatch(occo, group_id)


@main.command("list")
@click.option("--infra-group", default=None, help="Only groups over this infrastructure group.")
@click.pass_obj
@handle_errors
def list_groups(obj: tuple[str | None, str | None], infra_group: str | None) -> None:
    """List execution groups: id, workflow, infrastructure group, status, concurrency."""
    with open_api(*obj) as occo:
        for group in occo.execution_groups(infra_group):
            click.echo(f"{group['id']}\t{group['workflow_id']}\t{group['infra_group_id']}\t"
                       f"{group['status']}\tconcurrency {group['concurrency']}")


@main.command("show")
@click.argument("group_id")
@click.option("--report", is_flag=True, help="Print the final (or first-failure) report.")
@click.pass_obj
@handle_errors
def show(obj: tuple[str | None, str | None], group_id: str, report: bool) -> None:
    """Show an execution group as JSON (or its report)."""
    with open_api(*obj) as occo:
        if report:
            record = occo.execution_group_record(group_id)
            echo_json(record.report or record.failure_report)
        else:
            echo_json(occo.execution_group(group_id))


@main.command("action")
@click.argument("group_id")
@click.argument("action", type=click.Choice(ACTIONS))
@click.pass_obj
@handle_errors
def action(obj: tuple[str | None, str | None], group_id: str, action: str) -> None:
    """cancel, force-cancel, kill, resume or force-resume every member."""
    with open_api(*obj) as occo:
        changed = occo.execution_group_action(group_id, action)
    err(f"{action}: {changed} execution(s) changed now"
        + ("; run `occopus-groups run GROUP_ID` to continue" if action.endswith("resume")
           else ""))


@main.command("set")
@click.argument("group_id")
@click.option("--concurrency", type=int, default=None, help="0 pauses the group.")
@click.option("--success-group", default=None,
              help="Infrastructure group each one that succeeds joins.")
@click.option("--failure-group", default=None,
              help="Infrastructure group each one that fails joins.")
@click.pass_obj
@handle_errors
def set_(obj: tuple[str | None, str | None], group_id: str, concurrency: int | None,
         success_group: str | None, failure_group: str | None) -> None:
    """Change concurrency (live) or the target groups."""
    with open_api(*obj) as occo:
        echo_json(occo.update_execution_group(group_id, concurrency=concurrency,
                                              success_group_id=success_group,
                                              failure_group_id=failure_group))
