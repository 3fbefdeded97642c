"""occopus-triggers: workflows started on a schedule (cron triggers).

    occopus-triggers create weekday-up -w scale -i ID --node worker --set-to 10 \\
        --cron '0 8 * * mon-fri' --timezone Europe/Budapest
    occopus-triggers list | show NAME | pause NAME | resume NAME | delete NAME

Triggers fire in every running ``occopus-maintain --cyclic`` and REST
service (each firing once, whichever fires it); each firing is an execution
created by ``trigger:NAME``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from occo.cli.common import config_options, err, handle_errors, open_api
from occo.cli.groups import echo_json
from occo.model.vocabulary import SCHEDULABLE

if TYPE_CHECKING:
    from occo.store.records import TriggerRecord

Obj = tuple[str | None, str | None]


def _when(ts: float | None, zone: str) -> str:
    """``ts`` in ``zone``; the trigger engine loads when a command runs, not for --help."""
    from occo.engine.triggers import at

    return at(ts, zone) or "-"


def _described(trigger: TriggerRecord) -> dict[str, Any]:
    from occo.engine.triggers import describe

    return describe(trigger)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.pass_context
def main(ctx: click.Context, cfg_path: str | None, auth_data_path: str | None) -> None:
    """Start workflows on a schedule: scale, maintain, update, destroy, orchestrate."""
    ctx.obj = (cfg_path, auth_data_path)


@main.command("create")
@click.argument("name")
@click.option("-w", "--workflow", required=True, type=click.Choice([str(w) for w in SCHEDULABLE]),
              help="What each firing starts.")
@click.option("-i", "--infra-id", "--infra_id", "infra_id", default=None,
              help="The infrastructure it acts on.")
@click.option("-g", "--group", "infra_group_id", default=None,
              help="Or: every infrastructure of this group (through an execution group).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None,
              help="With --group: executions at once (default 5).")
@click.option("--node", default=None, help="scale: the node to scale.")
@click.option("--set-to", "set_to", type=click.IntRange(min=0), default=None,
              help="scale: the number of instances to set.")
@click.option("--change", type=int, default=None, help="scale: instances to add (or remove).")
@click.option("--file", "orchestration_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="orchestrate: the orchestration file (stored now).")
@click.option("--ignore-cache", is_flag=True, help="orchestrate: rerun cached jobs too.")
@click.option("--cron", default=None,
              help="Five-field cron expression, e.g. '0 8 * * mon-fri'.")
@click.option("--timezone", default="UTC", show_default=True,
              help="Time zone of --cron and of times without an offset.")
@click.option("--every", "interval", type=click.FloatRange(min=1), default=None,
              help="Or: fire every this many seconds.")
@click.option("--first", default=None, help="First time (ISO 8601); default: now.")
@click.option("--last", default=None, help="Last time (ISO 8601); default: none.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Fire at most this many times.")
@click.option("--grace", type=click.FloatRange(min=0), default=None,
              help="Seconds a missed firing may be late and still run (default 300).")
@click.pass_obj
@handle_errors
def create(obj: Obj, name: str, workflow: str, infra_id: str | None,
           infra_group_id: str | None, concurrency: int | None, node: str | None,
           set_to: int | None, change: int | None, orchestration_file: str | None,
           ignore_cache: bool, cron: str | None, timezone: str, interval: float | None,
           first: str | None, last: str | None, count: int | None,
           grace: float | None) -> None:
    """Create trigger NAME; prints its next firing time."""
    parameters: dict[str, Any] = {}
    if workflow == "scale":
        parameters = {k: v for k, v in (("node", node), ("set_to", set_to), ("change", change))
                      if v is not None}
    elif node is not None or set_to is not None or change is not None:
        raise click.UsageError("--node, --set-to and --change are for -w scale")
    if workflow == "orchestrate":
        if orchestration_file is None:
            raise click.UsageError("-w orchestrate needs --file")
        parameters["ignore_cache"] = ignore_cache
    elif orchestration_file is not None or ignore_cache:
        raise click.UsageError("--file and --ignore-cache are for -w orchestrate")
    with open_api(*obj) as occo:
        trigger = occo.create_trigger(
            name, workflow, infra_id=infra_id, infra_group_id=infra_group_id,
            parameters=parameters, orchestration_file=orchestration_file,
            concurrency=concurrency, cron=cron, timezone=timezone, interval=interval,
            first_time=first, last_time=last, count=count, grace=grace,
            created_by="cli")
        click.echo(f"{trigger.name}\t{_when(trigger.next_fire_time, trigger.timezone)}")


@main.command("list")
@click.pass_obj
@handle_errors
def list_(obj: Obj) -> None:
    """NAME, WORKFLOW, TARGET, SCHEDULE, NEXT FIRING, STATE (tab-separated)."""
    with open_api(*obj) as occo:
        for t in occo.triggers():
            target = t.infra_id or f"group:{t.infra_group_id}"
            view = _described(t)
            click.echo(f"{t.name}\t{t.workflow}\t{target}\t{view['schedule']}\t"
                       f"{_when(t.next_fire_time, t.timezone)}\t{view['state']}")


@main.command("show")
@click.argument("name")
@click.option("--firings", type=click.IntRange(0, 1000), default=10, show_default=True,
              help="How many of the latest firings to list.")
@click.pass_obj
@handle_errors
def show(obj: Obj, name: str, firings: int) -> None:
    """The trigger, and its latest firings with the execution each started."""
    with open_api(*obj) as occo:
        import dataclasses

        trigger = occo.trigger(name)
        data = _described(trigger)
        data["firings"] = [{**dataclasses.asdict(f),
                            "fire_at": _when(f.fire_time, trigger.timezone)}
                           for f in occo.trigger_firings(name, firings)] if firings else []
        echo_json(data)


@main.command("pause")
@click.argument("name")
@click.pass_obj
@handle_errors
def pause(obj: Obj, name: str) -> None:
    """Stop firing (times passing while paused are not fired later)."""
    with open_api(*obj) as occo:
        occo.pause_trigger(name)
        err(f"{name}: paused")


@main.command("resume")
@click.argument("name")
@click.pass_obj
@handle_errors
def resume(obj: Obj, name: str) -> None:
    """Fire again from the next scheduled time; prints it."""
    with open_api(*obj) as occo:
        trigger = occo.pause_trigger(name, paused=False)
        click.echo(f"{trigger.name}\t{_when(trigger.next_fire_time, trigger.timezone)}")


@main.command("delete")
@click.argument("name")
@click.pass_obj
@handle_errors
def delete(obj: Obj, name: str) -> None:
    """Forget the trigger (the executions it started stay)."""
    with open_api(*obj) as occo:
        occo.delete_trigger(name)
        err(f"{name}: deleted")
