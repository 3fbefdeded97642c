"""occopus-executions: list, inspect, cancel and resume executions."""

from __future__ import annotations

import click

from occo.cli.common import config_options, err, handle_errors, open_api
from occo.cli.groups import ACTIONS, echo_json


def _when(ts: float | None) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else "-"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.pass_context
def main(ctx: click.Context, cfg_path: str | None, auth_data_path: str | None) -> None:
    """Every build, destroy, scale and maintenance pass is an execution."""
    ctx.obj = (cfg_path, auth_data_path)


@main.command("list")
@click.option("-i", "--infra-id", default=None, help="Only this infrastructure's.")
@click.option("--status", default=None, help="Only executions with this status.")
@click.option("--group", "group_id", default=None, help="Only this execution group's.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="At most this many.")
@click.pass_obj
@handle_errors
def list_(obj: tuple[str | None, str | None], infra_id: str | None, status: str | None,
          group_id: str | None, limit: int) -> None:
    """List executions, newest first: id, workflow, status, created, infrastructure."""
    with open_api(*obj) as occo:
        for e in occo.executions(infra_id, limit, status=status, group_id=group_id):
            click.echo(f"{e.id}\t{e.workflow}\t{e.status}\t{_when(e.created_at)}\t"
                       f"{e.infra_id or '-'}")


@main.command("show")
@click.argument("execution_id")
@click.option("--report", is_flag=True, help="Print only the report.")
@click.pass_obj
@handle_errors
def show(obj: tuple[str | None, str | None], execution_id: str, report: bool) -> None:
    """Show one execution as JSON, with its per-instance tasks (or only its report)."""
    with open_api(*obj) as occo:
        record = occo.execution(execution_id)
        if report:
            echo_json(record.report)
            return
        import dataclasses

        data = dataclasses.asdict(record)
        data.pop("report")
        data["tasks"] = [dataclasses.asdict(t) for t in occo.execution_tasks(record.id)]
        job_tasks = occo.job_tasks(record.id)
        if job_tasks:           # an orchestration: one task per job x instance
            data["job_tasks"] = [{k: v for k, v in dataclasses.asdict(t).items() if k != "step"}
                                 for t in job_tasks]
        echo_json(data)


@main.command("task")
@click.argument("task_id")
@click.pass_obj
@handle_errors
def task(obj: tuple[str | None, str | None], task_id: str) -> None:
    """One job x instance task of an orchestration: status, exit code, output tail."""
    import dataclasses

    with open_api(*obj) as occo:
        data = dataclasses.asdict(occo.job_task(task_id))
        data.pop("step")
        echo_json(data)


@main.command("action")
@click.argument("execution_id")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option("--run", "run_now", is_flag=True, help="After a resume, run it here.")
@click.pass_obj
@handle_errors
def action(obj: tuple[str | None, str | None], execution_id: str, action: str,
           run_now: bool) -> None:
    """cancel, force-cancel, kill, resume or force-resume one execution."""
    with open_api(*obj) as occo:
        changed = occo.execution_action(execution_id, action)
        err(f"{action}: {'done' if changed else 'requested'}")
        if run_now and action.endswith("resume"):
            record = occo.run_execution(execution_id)
            err(f"execution {execution_id}: {record.status}")
            if record.status != "terminated":
                raise SystemExit(1)
