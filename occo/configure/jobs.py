"""Orchestration jobs: directord-style verbs, parsed once into typed steps.

A node definition says::

    config_management:
      type: jobs
      jobs:
        - WORKDIR: app                      # relative to the instance's directory
        - ENV: GREETING=hello MODE=prod
        - ARG: PORT=8080                    # node variable 'PORT' wins over 8080
        - ADD: --chmod=0644 files/app.conf conf/
        - RUN: ./setup.sh --port "$PORT"
        - targets: [head]                   # only on the node named head
          jobs:
            - RUN: echo "I am the head"

Items are either single jobs (``{VERB: argument}``, with an optional
``timeout`` in seconds) or groups ``{targets: [node names], jobs: [...]}``; a
group without ``targets`` applies to every node. Jobs run in the order
written. Strings are templates, rendered like the cloud-init template (so
``RUN: echo {{ getip('head') }}`` works). Relative ``ADD`` sources are read
from occo's working directory. ``RUN`` with a string runs through ``sh -c``;
with a list it is an argument vector run without a shell.
"""

from __future__ import annotations

import base64
import glob
import os
import posixpath
import re
import shlex
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from occo.context.templating import TemplateContext, TemplateRenderer
from occo.errors import DescriptionError

__all__ = ["VERBS", "Add", "Arg", "Env", "JobEntry", "JobPlan", "Run", "Step", "Workdir",
           "job_entries", "plan_jobs", "render_job"]

VERBS = ("RUN", "ADD", "COPY", "WORKDIR", "ENV", "ARG")
DEFAULT_TIMEOUT = 600.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODE = re.compile(r"[0-7]{3,4}")


@dataclass(frozen=True)
class Run:
    command: str | tuple[str, ...]       # a string runs through sh -c
    where: str
    timeout: float = DEFAULT_TIMEOUT

    def argv(self) -> list[str]:
        return ["/bin/sh", "-c", self.command] if isinstance(self.command, str) \
            else list(self.command)

    def describe(self) -> str:
        text = self.command if isinstance(self.command, str) else shlex.join(self.command)
        return f"RUN {text}"


@dataclass(frozen=True)
class Add:
    sources: tuple[str, ...]
    dest: str
    where: str
    chown: str | None = None
    chmod: str | None = None

    def describe(self) -> str:
        return f"ADD {' '.join(self.sources)} {self.dest}"


@dataclass(frozen=True)
class Workdir:
    path: str
    where: str

    def describe(self) -> str:
        return f"WORKDIR {self.path}"


@dataclass(frozen=True)
class Env:
    values: tuple[tuple[str, str], ...]
    where: str
    verb: str = "ENV"

    def describe(self) -> str:
        return f"{self.verb} " + " ".join(f"{k}={shlex.quote(v)}" for k, v in self.values)


Arg = Env  # an ARG is an ENV whose value a node variable may override

Step = Run | Add | Workdir | Env


@dataclass(frozen=True)
class JobPlan:
    """The jobs one node runs, in order, already rendered and filtered by targets."""

    infra_id: str
    node_name: str
    steps: tuple[Step, ...]

    def describe(self) -> list[str]:
        return [step.describe() for step in self.steps]

    def cloud_config(self, base_dir: Path | None = None) -> dict[str, Any]:
        """The jobs as cloud-init ``runcmd`` and ``write_files`` (ADD content inlined)."""
        return _to_cloud_config(self.steps, base_dir or Path.cwd())


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class JobEntry:
    """One job as written, before rendering: where it is and which nodes it targets."""

    where: str                              # e.g. ``jobs[1].jobs[0]``
    path: tuple[int | str, ...]             # the same, as a data path (for file:line:col)
    job: Mapping[str, Any]
    targets: tuple[str, ...] | None         # None: every node


Complaint = Callable[[str, tuple[int | str, ...], str], Exception]


def job_entries(items: Any, prefix: str, bad: Complaint,
                target_words: str = "node names") -> list[JobEntry]:
    """Flatten job items and ``{targets, jobs}`` groups in order, checking their shape.

    ``bad(where, path, message)`` makes the error to raise.
    """
    if not isinstance(items, list):
        raise bad(prefix, (), "jobs must be a list")
    entries: list[JobEntry] = []
    for i, item in enumerate(items):
        where, path = f"{prefix}[{i}]", (i,)
        if not isinstance(item, Mapping):
            raise bad(where, path, "a job must be a mapping like {RUN: command}")
        if "jobs" not in item and "targets" not in item:
            check_job(item, where, path, bad)
            entries.append(JobEntry(where, path, item, None))
            continue
        extra = set(item) - {"jobs", "targets"}
        if extra:
            raise bad(where, path, f"a job group has only 'targets' and 'jobs', not "
                                   f"{', '.join(map(str, sorted(extra)))}")
        targets = item.get("targets")
        if targets is not None and (not isinstance(targets, list)
                                    or not all(isinstance(t, str) for t in targets)):
            raise bad(where, (*path, "targets"), f"'targets' must be a list of {target_words}")
        jobs = item.get("jobs") or []
        if not isinstance(jobs, list):
            raise bad(where, (*path, "jobs"), "'jobs' must be a list")
        for j, job in enumerate(jobs):
            job_where, job_path = f"{where}.jobs[{j}]", (*path, "jobs", j)
            if not isinstance(job, Mapping):
                raise bad(job_where, job_path, "a job must be a mapping like {RUN: command}")
            check_job(job, job_where, job_path, bad)
            entries.append(JobEntry(job_where, job_path, job, tuple(targets) if targets
                                    else None))
    return entries


def check_job(job: Mapping[str, Any], where: str, path: tuple[int | str, ...],
              bad: Complaint) -> tuple[str, Any, float]:
    """The job's verb, argument and timeout; its shape checked (values are checked later)."""
    verbs = [k for k in job if str(k).upper() in VERBS]
    extra = [str(k) for k in job if k not in verbs and k != "timeout"]
    if extra or len(verbs) != 1:
        what = f"unknown key(s) {', '.join(extra)}" if extra else \
            f"{len(verbs)} verbs in one job"
        raise bad(where, path, f"{what}; a job is one of {', '.join(VERBS)} "
                               "(plus an optional timeout)")
    timeout = job.get("timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise bad(where, (*path, "timeout"), "timeout must be a positive number of seconds")
    return str(verbs[0]).upper(), job[verbs[0]], float(timeout)


def plan_jobs(section: Mapping[str, Any] | None, renderer: TemplateRenderer,
              ctx: TemplateContext) -> JobPlan | None:
    """The node's job plan, or None when its config management is not ``jobs``."""
    if not section or section.get("type") != "jobs":
        return None
    items = section.get("jobs") or []
    if not isinstance(items, list):
        raise DescriptionError(f"node '{ctx.node_name}': config_management jobs must be a list")

    def bad(where: str, _path: tuple[int | str, ...], message: str) -> DescriptionError:
        return _bad(ctx, where, message)

    variables = dict(ctx.variables)
    steps: list[Step] = []
    for entry in job_entries(items, "config_management.jobs", bad):
        if entry.targets and ctx.node_name not in entry.targets:
            continue
        steps.append(render_job(entry, renderer, ctx, variables))
    return JobPlan(infra_id=ctx.infra_id, node_name=ctx.node_name, steps=tuple(steps))


def render_job(entry: JobEntry, renderer: TemplateRenderer, ctx: TemplateContext,
               variables: Mapping[str, Any]) -> Step:
    """Render one selected job for one instance and parse it into a step.

    Rendered only once selected: a job for other nodes may name what this one lacks.
    """
    rendered = renderer.render_tree(dict(entry.job), ctx, what=f"job {entry.where}")
    return _parse_job(rendered, entry.where, ctx, variables)


def _bad(ctx: TemplateContext, where: str, message: str) -> DescriptionError:
    return DescriptionError(f"node '{ctx.node_name}' {where}: {message}")


def _parse_job(job: Any, where: str, ctx: TemplateContext,
               variables: Mapping[str, Any]) -> Step:
    if not isinstance(job, Mapping):
        raise _bad(ctx, where, "a job must be a mapping like {RUN: command}")
    verb, value, timeout = check_job(
        job, where, (), lambda w, _p, m: _bad(ctx, w, m))
    if verb == "RUN":
        if isinstance(value, str) and value.strip():
            return Run(value, where, timeout)
        if isinstance(value, list) and value and all(isinstance(v, (str, int, float))
                                                     for v in value):
            return Run(tuple(str(v) for v in value), where, timeout)
        raise _bad(ctx, where, "RUN needs a command (a string, or a list of arguments)")
    if verb in ("ADD", "COPY"):
        return _parse_add(value, where, ctx)
    if verb == "WORKDIR":
        if not isinstance(value, str) or not value.strip():
            raise _bad(ctx, where, "WORKDIR needs a directory")
        return Workdir(value.strip(), where)
    if verb == "ENV":
        return Env(_parse_assignments(value, where, ctx, "ENV"), where)
    return _parse_arg(value, where, ctx, variables)


def _parse_add(value: Any, where: str, ctx: TemplateContext) -> Add:
    words = shlex.split(value) if isinstance(value, str) else \
        [str(v) for v in value] if isinstance(value, list) else []
    flags = {}
    while words and words[0].startswith("--"):
        name, _, setting = words.pop(0)[2:].partition("=")
        if name not in ("chown", "chmod") or not setting:
            raise _bad(ctx, where, f"ADD knows --chown=USER[:GROUP] and --chmod=MODE, "
                                   f"not --{name}")
        flags[name] = setting
    if len(words) < 2:
        raise _bad(ctx, where, "ADD needs at least one source and a destination")
    if "chmod" in flags and not _MODE.fullmatch(flags["chmod"]):
        raise _bad(ctx, where, f"--chmod wants an octal mode like 0644, not {flags['chmod']!r}")
    sources = tuple(words[:-1])
    if any("://" in s for s in sources):
        raise _bad(ctx, where, "ADD copies files from this machine; fetch URLs with RUN")
    return Add(sources, words[-1], where, flags.get("chown"), flags.get("chmod"))


def _parse_assignments(value: Any, where: str, ctx: TemplateContext,
                       verb: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in value.items()]
    elif isinstance(value, str) and value.strip():
        words = shlex.split(value)
        if "=" not in words[0]:          # Dockerfile's "ENV NAME value with spaces"
            name, _, rest = value.strip().partition(" ")
            pairs = [(name, rest.strip())]
        else:
            for word in words:
                name, eq, setting = word.partition("=")
                if not eq:
                    raise _bad(ctx, where, f"{verb} wants NAME=value pairs, got {word!r}")
                pairs.append((name, setting))
    else:
        raise _bad(ctx, where, f"{verb} needs NAME=value (or a mapping)")
    bad = [name for name, _ in pairs if not _ENV_NAME.fullmatch(name)]
    if bad:
        raise _bad(ctx, where, f"{verb}: invalid variable name(s) {', '.join(bad)}")
    return tuple(pairs)


def _parse_arg(value: Any, where: str, ctx: TemplateContext,
               variables: Mapping[str, Any]) -> Env:
    if isinstance(value, str) and value.strip() and "=" not in value.split()[0] \
            and len(value.split()) == 1:
        name, default = value.strip(), None
    else:
        pairs = _parse_assignments(value, where, ctx, "ARG")
        if len(pairs) != 1:
            raise _bad(ctx, where, "ARG declares one variable: NAME or NAME=default")
        name, default = pairs[0]
    if not _ENV_NAME.fullmatch(name):
        raise _bad(ctx, where, f"ARG: invalid variable name {name!r}")
    if name in variables:
        return Env(((name, str(variables[name])),), where, verb="ARG")
    if default is None:
        raise _bad(ctx, where, f"ARG {name} has no value: give a default (ARG {name}=...) "
                               f"or set variables.{name}")
    return Env(((name, default),), where, verb="ARG")


# --------------------------------------------------------------------------- cloud-init


def expand_sources(step: Add, base_dir: Path) -> tuple[list[tuple[Path, str]], bool]:
    """Every file ADD copies, with its path below the destination, and whether any
    source was a directory (whose contents, not itself, are copied, as in a Dockerfile)."""
    found: list[tuple[Path, str]] = []
    had_dir = False
    for source in step.sources:
        pattern = source if os.path.isabs(source) else str(base_dir / source)
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise DescriptionError(f"{step.where}: ADD source {source!r} does not exist "
                                   f"(relative sources are read from {base_dir})")
        for match in map(Path, matches):
            if match.is_dir():
                had_dir = True
                found += [(p, str(p.relative_to(match)))
                          for p in sorted(match.rglob("*")) if p.is_file()]
            else:
                found.append((match, match.name))
    return found, had_dir


def add_targets(step: Add, base_dir: Path, cwd: str) -> list[tuple[Path, str]]:
    """(local file, destination path) pairs; ``dest/`` (or several files) is a directory."""
    files, had_dir = expand_sources(step, base_dir)
    dest = posixpath.join(cwd, step.dest)
    if step.dest.endswith("/") or had_dir or len(files) > 1:
        return [(path, posixpath.normpath(posixpath.join(dest, rel))) for path, rel in files]
    return [(files[0][0], posixpath.normpath(dest))] if files else []


def _to_cloud_config(steps: tuple[Step, ...], base_dir: Path) -> dict[str, Any]:
    runcmd: list[Any] = []
    write_files: list[dict[str, Any]] = []
    cwd = "/"
    env: dict[str, str] = {}
    for step in steps:
        if isinstance(step, Workdir):
            cwd = posixpath.normpath(posixpath.join(cwd, step.path))
            runcmd.append(["mkdir", "-p", cwd])
        elif isinstance(step, Env):
            env.update(step.values)
        elif isinstance(step, Run):
            argv = step.argv()
            if cwd != "/":
                argv = ["sh", "-c", 'cd -- "$1" && shift && exec "$@"', "occo-job", cwd, *argv]
            if env:
                argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
            runcmd.append(argv)
        else:
            for path, dest in add_targets(step, base_dir, cwd):
                entry: dict[str, Any] = {
                    "path": dest, "encoding": "b64", "defer": True,
                    "content": base64.b64encode(path.read_bytes()).decode(),
                    "permissions": step.chmod or oct(stat.S_IMODE(path.stat().st_mode) | 0o400)
                    .replace("0o", "0")}
                if step.chown:
                    entry["owner"] = step.chown
                write_files.append(entry)
    out: dict[str, Any] = {}
    if write_files:
        out["write_files"] = write_files
    if runcmd:
        out["runcmd"] = runcmd
    return out
