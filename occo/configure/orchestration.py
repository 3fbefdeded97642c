"""Orchestration files: jobs run against the instances of a running infrastructure.

The format is the one node definitions use for ``config_management: jobs``
(directord's orchestration files)::

    - jobs:                                  # no targets: every ready instance
        - WORKDIR: app
        - ADD: --chmod=0644 app.conf conf/   # relative to the file's directory
        - RUN: ./reload.sh
    - targets: [worker]                      # node names or instance ids
      jobs:
        - RUN: systemctl restart worker

Each job has a *job id*: a fingerprint of the job as written (and of its
targets), so it stays the same from one run to the next and ``--restrict``
can name it. Per instance, a job is rendered like any occo template and
turned into a *step* (what a transport runs) with a *content hash* over what
it does there: the rendered command, its working directory and environment,
and for ADD the bytes of every file. A job whose content hash already
succeeded on an instance is skipped unless the cache is ignored.

Everything here is pure (no transport, no store); the engine runs the steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from occo.configure.jobs import (
    Add,
    Env,
    JobEntry,
    Run,
    Workdir,
    add_targets,
    job_entries,
    render_job,
)
from occo.configure.transport import START_DIR
from occo.context.templating import TemplateContext, TemplateRenderer
from occo.errors import DescriptionError, SourceLocation
from occo.model.yamlio import LoadedYaml, load_yaml_text

MAX_FILE_BYTES = 1_000_000          # an orchestration file (or a REST body)
MAX_JOBS = 1_000                    # jobs in one file
MAX_ADD_BYTES = 256 * 1024 * 1024   # bytes one ADD job may upload to one instance
MAX_DESCRIPTION = 1_000             # characters of a job's description kept with its task
JOB_ID_LENGTH = 12


@dataclass(frozen=True)
class OrchestrationJob:
    job_id: str
    entry: JobEntry

    @property
    def where(self) -> str:
        return self.entry.where


@dataclass(frozen=True)
class Orchestration:
    """A parsed orchestration file: its jobs in order, each with its job id."""

    source: str
    items: list[Any]                 # as written (plain data), kept with the execution
    base_dir: str | None             # where relative ADD sources are read; None: no ADD
    jobs: tuple[OrchestrationJob, ...]

    def to_parameters(self) -> dict[str, Any]:
        return {"orchestration": self.items, "source": self.source, "base_dir": self.base_dir}

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> Orchestration:
        return parse_orchestration(parameters.get("orchestration"),
                                   str(parameters.get("source") or "<orchestration>"),
                                   parameters.get("base_dir"))

    def targets(self) -> set[str]:
        return {t for job in self.jobs for t in job.entry.targets or ()}


@dataclass(frozen=True)
class PlannedJob:
    """One job rendered for one instance: what the transport runs, and its hash."""

    job_id: str
    description: str
    step: dict[str, Any]
    content_hash: str


# --------------------------------------------------------------------------- parsing

def load_orchestration(text: str, source: str, base_dir: str | None) -> Orchestration:
    """Parse orchestration text; errors name ``source:line:col``.

    ``base_dir`` None refuses ADD/COPY (text sent over REST must not read the
    service's files). Imports (``!yaml_import``) are never followed.
    """
    if len(text.encode()) > MAX_FILE_BYTES:
        raise DescriptionError(f"{source}: an orchestration file is at most "
                               f"{MAX_FILE_BYTES} bytes")
    loaded = load_yaml_text(text, source, Path(base_dir) if base_dir else None,
                            allow_imports=False)
    return parse_orchestration(loaded.plain, source, base_dir, loaded)


def parse_orchestration(data: Any, source: str, base_dir: str | None,
                        loaded: LoadedYaml | None = None) -> Orchestration:
    """Check the shape of every job and give each its job id."""
    def bad(where: str, path: tuple[int | str, ...], message: str) -> DescriptionError:
        location: SourceLocation | None = loaded.locations.value(path) if loaded else None
        prefix = "" if location else f"{source}: "
        return DescriptionError(f"{prefix}{where}: {message}", location=location)

    if not isinstance(data, list) or not data:
        raise bad("orchestration", (), "an orchestration file is a non-empty list of "
                                       "{targets: [...], jobs: [...]} items (or of jobs)")
    entries = job_entries(data, "orchestration", bad, "node names or instance ids")
    if not entries:
        raise bad("orchestration", (), "the file has no job")
    if len(entries) > MAX_JOBS:
        raise bad("orchestration", (), f"at most {MAX_JOBS} jobs in one file, "
                                       f"not {len(entries)}")
    for entry in entries:
        verb = next(str(k).upper() for k in entry.job if str(k).upper() != "TIMEOUT")
        if verb in ("ADD", "COPY") and base_dir is None:
            raise bad(entry.where, entry.path, f"{verb} uploads files of the machine occo "
                      "runs on, which a file sent to the service cannot name; use RUN")
    return Orchestration(source=source, items=data, base_dir=base_dir,
                         jobs=tuple(_with_ids(entries)))


def _with_ids(entries: list[JobEntry]) -> list[OrchestrationJob]:
    seen: dict[str, int] = {}
    out = []
    for entry in entries:
        text = json.dumps({"targets": entry.targets, "job": entry.job}, sort_keys=True,
                          default=str)
        job_id = hashlib.sha256(text.encode()).hexdigest()[:JOB_ID_LENGTH]
        seen[job_id] = seen.get(job_id, 0) + 1
        if seen[job_id] > 1:          # the same job written twice: still two jobs
            job_id = f"{job_id}-{seen[job_id]}"
        out.append(OrchestrationJob(job_id, entry))
    return out


# --------------------------------------------------------------------------- planning

def targets_instance(job: OrchestrationJob, node_name: str, instance_id: str) -> bool:
    targets = job.entry.targets
    return targets is None or node_name in targets or instance_id in targets


def plan_instance(orchestration: Orchestration, renderer: TemplateRenderer,
                  ctx: TemplateContext) -> list[PlannedJob]:
    """Every job that targets this instance, rendered, in order.

    Working directory and environment carry from one job to the next (as in
    a Dockerfile), so they are part of each step and of its content hash.
    """
    variables = dict(ctx.variables)
    cwd, env = START_DIR, dict[str, str]()
    planned = []
    for job in orchestration.jobs:
        if not targets_instance(job, ctx.node_name, ctx.instance_id):
            continue
        step = render_job(job.entry, renderer, ctx, variables)
        if isinstance(step, Workdir):
            cwd = posixpath.normpath(posixpath.join(cwd, step.path))
            data: dict[str, Any] = {"verb": "WORKDIR", "path": cwd}
        elif isinstance(step, Env):
            env.update(step.values)
            data = {"verb": step.verb, "values": dict(step.values)}
        elif isinstance(step, Run):
            data = {"verb": "RUN", "argv": step.argv(), "cwd": cwd, "env": dict(env),
                    "timeout": step.timeout}
        else:
            data = _add_step(step, orchestration.base_dir, cwd)
        planned.append(PlannedJob(job.job_id, step.describe()[:MAX_DESCRIPTION], data,
                                  content_hash(data)))
    return planned


def _add_step(step: Add, base_dir: str | None, cwd: str) -> dict[str, Any]:
    if base_dir is None:  # parse_orchestration refused it already; never read files here
        raise DescriptionError(f"{step.where}: ADD is not allowed here")
    files, total = [], 0
    for source, dest in add_targets(step, Path(base_dir), cwd):
        content = source.read_bytes()
        total += len(content)
        if total > MAX_ADD_BYTES:
            raise DescriptionError(f"{step.where}: ADD uploads more than "
                                   f"{MAX_ADD_BYTES // (1024 * 1024)} MiB")
        mode = int(step.chmod, 8) if step.chmod else \
            stat.S_IMODE(os.stat(source).st_mode) | 0o400
        files.append({"source": str(source.resolve()), "dest": dest, "mode": mode,
                      "sha256": hashlib.sha256(content).hexdigest()})
    return {"verb": "ADD", "files": files, "chown": step.chown}


def content_hash(step: Mapping[str, Any]) -> str:
    """What a step does, hashed: its timeout and where ADD reads from do not count."""
    data = {k: v for k, v in step.items() if k != "timeout"}
    if "files" in data:
        data["files"] = [{k: v for k, v in f.items() if k != "source"} for f in data["files"]]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
