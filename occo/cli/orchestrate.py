"""occopus-orchestrate: run an orchestration file against a running infrastructure.

stdout: ``execution<TAB>ID``, then one line per job x instance task as it is
queued (``TASK_ID<TAB>STATUS<TAB>JOB_ID<TAB>NODE<TAB>INSTANCE_ID<TAB>JOB``),
status ``queued`` or ``skipped`` (cached). Progress and the failure report go
to stderr. Exit 0 when every job ran, 1 when a job failed (the other
instances ran on), 2 on bad input (nothing recorded), 75 while another run
holds the infrastructure's lease (nothing recorded), 130 on Ctrl+C (jobs in
flight finish; nothing new starts).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from occo.cli.common import config_options, err, err_from_signal, handle_errors, open_api

if TYPE_CHECKING:
    from occo.store.records import JobTaskRecord


def _queued(execution_id: str, tasks: list[JobTaskRecord]) -> None:
    click.echo(f"execution\t{execution_id}")
    for t in tasks:
        click.echo(f"{t.id}\t{t.status}\t{t.job_id}\t{t.node_name}\t{t.instance_id}\t{t.job}")
    skipped = sum(1 for t in tasks if t.status == "skipped")
    err(f"execution {execution_id}: {len(tasks) - skipped} task(s) queued, "
        f"{skipped} skipped (done before with the same content)")


def _progress(task: JobTaskRecord) -> None:
    where = f"{task.node_name} {task.instance_id[:8]}"
    if task.status == "running":
        return
    if task.status == "succeeded":
        took = (task.ended_at or 0) - (task.started_at or 0)
        err(f"  {task.id[:8]} {where}: job {task.job_id} done in {took:.2f} s")
    elif task.status == "failed":
        code = f" (exit {task.exit_code})" if task.exit_code is not None else ""
        err(f"  {task.id[:8]} {where}: job {task.job_id} FAILED{code}: {task.error}")
    else:
        err(f"  {task.id[:8]} {where}: job {task.job_id} {task.status}: {task.error}")


def _report_failures(report: dict[str, Any] | None) -> None:
    for failed in (report or {}).get("failed", []):
        err(f"failed: job {failed['job_id']} ({failed['job']}) on {failed['node']} "
            f"{failed['instance_id']} [task {failed['task_id']}]: {failed['error']}")
        if failed.get("output"):
            err("  output:\n" + "\n".join("    " + line
                                           for line in failed["output"].splitlines()))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_options
@click.option("-i", "--infra_id", "--infra-id", "infra_id", required=True,
              help="The running infrastructure to run the jobs on.")
@click.option("--restrict", multiple=True, metavar="JOB_ID",
              help="Run only this job (a job id, on every instance it targets; or a task "
                   "id of an earlier run, on that instance). Repeatable. Restricted jobs "
                   "run even when cached.")
@click.option("--ignore-cache", "--ignore_cache", "ignore_cache", is_flag=True,
              help="Run jobs that already succeeded with the same content.")
@click.option("--parallelize", is_flag=True, help="Work on several instances at once.")
@click.argument("orchestration", type=click.Path(exists=True, dir_okay=False))
@handle_errors
def main(cfg_path: str | None, auth_data_path: str | None, infra_id: str,
         restrict: tuple[str, ...], ignore_cache: bool, parallelize: bool,
         orchestration: str) -> None:
    """Run the jobs of ORCHESTRATION on the ready instances of an infrastructure."""
    cancel = threading.Event()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        err_from_signal("interrupted: jobs in flight finish, nothing new starts "
                        "(Ctrl+C again to quit)")
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        _run(cfg_path, auth_data_path, infra_id, Path(orchestration), restrict, ignore_cache,
             parallelize, cancel)
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(cfg_path: str | None, auth_data_path: str | None, infra_id: str, orchestration: Path,
         restrict: tuple[str, ...], ignore_cache: bool, parallelize: bool,
         cancel: threading.Event) -> None:
    with open_api(cfg_path, auth_data_path) as occo:
        box: dict[str, str] = {}

        def queued(execution_id: str, tasks: list[JobTaskRecord]) -> None:
            box["id"] = execution_id
            _queued(execution_id, tasks)

        from occo.errors import JobsFailed

        try:
            occo.orchestrate(infra_id, orchestration, restrict=restrict,
                             ignore_cache=ignore_cache, parallelize=parallelize, cancel=cancel,
                             on_queued=queued, progress=_progress)
        except JobsFailed:
            _report_failures(occo.execution(box["id"]).report)
            raise
        err(f"execution {box['id']}: terminated")
