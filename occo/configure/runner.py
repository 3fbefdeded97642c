"""Run a node's job plan on this machine (local nodes), once.

Jobs run in order in the instance's directory; each RUN's output goes to
``jobs/<n>.log`` there (later, day-2 jobs append to ``jobs/orchestrate.log``).
The outcome is written to ``jobs/result.json``, so a second call (the next
readiness probe, or another occo process) returns it instead of running the
jobs again. A failed job stops the plan; its message names the job and
carries the tail of its output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from occo.configure.jobs import Add, Env, JobPlan, Workdir, add_targets
from occo.configure.transport import run_process
from occo.errors import DescriptionError

RESULT_FILE = "result.json"
RUNNING_FILE = "running.pid"
DAY2_LOG = "orchestrate.log"    # output of the instance's day-2 (orchestration) jobs


@dataclass(frozen=True)
class JobsOutcome:
    ok: bool
    message: str = ""

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "message": self.message})


def stop_running_job(instance_dir: Path) -> None:
    """Kill the process group of a job still running (the instance is being destroyed)."""
    try:
        pid = int((instance_dir / "jobs" / RUNNING_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _copy(step: Add, cwd: Path) -> None:
    base = Path.cwd()
    for source, dest in add_targets(step, base, str(cwd)):
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        mode = int(step.chmod, 8) if step.chmod else (source.stat().st_mode & 0o7777)
        os.chmod(target, mode)
        if step.chown:
            user, _, group = step.chown.partition(":")
            if user and group:
                shutil.chown(target, user, group)
            elif user:
                shutil.chown(target, user=user)
            elif group:
                shutil.chown(target, group=group)


def run_plan(plan: JobPlan, instance_dir: Path, cwd: Path, env: Mapping[str, str],
             wrap: Callable[[list[str]], list[str]] | None = None) -> JobsOutcome:
    """Run ``plan`` once for the instance in ``instance_dir``; later calls return the outcome."""
    jobs_dir = instance_dir / "jobs"
    result_path = jobs_dir / RESULT_FILE
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        data = json.loads(result_path.read_text())
        return JobsOutcome(bool(data["ok"]), str(data["message"]))
    jobs_dir.mkdir(parents=True, exist_ok=True)
    outcome = _run_all(plan, jobs_dir, cwd, dict(env), wrap or (lambda argv: argv))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(outcome.to_json())
    tmp.replace(result_path)
    return outcome


def _run_all(plan: JobPlan, jobs_dir: Path, cwd: Path, env: dict[str, str],
             wrap: Callable[[list[str]], list[str]]) -> JobsOutcome:
    total = len(plan.steps)
    for number, step in enumerate(plan.steps, start=1):
        label = f"job {number}/{total} ({step.describe()})"
        try:
            if isinstance(step, Workdir):
                cwd = cwd / step.path
                cwd.mkdir(parents=True, exist_ok=True)
            elif isinstance(step, Env):
                env.update(step.values)
            elif isinstance(step, Add):
                _copy(step, cwd)
            else:
                with open(jobs_dir / f"{number:03d}.log", "w+b") as log:
                    code, output = run_process(wrap(step.argv()), cwd, env, step.timeout, log,
                                               jobs_dir / RUNNING_FILE)
                if code != 0:
                    status = f"timed out after {step.timeout:g} s" if code is None else \
                        f"exited with status {code}"
                    tail = output.strip()
                    return JobsOutcome(False, f"{label} {status}"
                                       + (f"; output:\n{tail}" if tail else "; no output"))
        except (OSError, DescriptionError, LookupError) as exc:
            return JobsOutcome(False, f"{label} failed: {exc}")
    return JobsOutcome(True, f"{total} job(s) done")
