"""The ``local`` handler: each instance is a detached process group on this machine.

It is occo's embedded default: a laptop can develop an infrastructure without
a cloud. An instance gets ``<home>/instances/<instance_id>/`` (its ``stdout.log``,
``stderr.log``, ``user_data`` and ``process.json``) and runs in a new session,
so it outlives the occo command that started it. Its PID and start time are
recorded; a PID now owned by a different process never counts as the instance.

Addressing:

* by default the instance shares 127.0.0.1; every wanted port gets a free
  port, handed over as ``OCCO_PORT_<wanted>=<actual>`` (``Address.ports``
  maps wanted -> actual);
* with ``network_namespace: true`` (root only) it gets its own namespace and
  IP on the ``occo-br0`` bridge (see :mod:`occo.resources.netns`), and ports
  are used as they are.

The command also sees ``OCCO_INSTANCE_ID``, ``OCCO_NODE_NAME``,
``OCCO_INFRA_ID`` and ``OCCO_IP``, the ``env`` of its config, and only a few
harmless variables of occo's own environment (``PATH``, ``HOME``, locale...),
so cloud credentials in occo's environment never leak into instances.

States: RUNNING while the recorded process lives; FAILED once it has exited
(with its exit status when this process started it, and the tail of its
stderr) while its directory still holds something to clean up; GONE after
destroy, or when nothing of the instance exists. Example node definition::

    'node_def:web':
      - resource:
          type: local
          command: [sh, -c, 'exec python3 -m http.server -b 127.0.0.1 "$OCCO_PORT_8080"']
          ports: [8080]       # the process reads its real port from OCCO_PORT_8080
        health_check:
          ports: [8080]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from occo.errors import ResourceError
from occo.model.resource_types import LocalResource
from occo.model.states import ResourceState
from occo.resources import netns, procinfo
from occo.resources.base import (
    Address,
    CreateRequest,
    CreateResult,
    ResourceHandler,
    ResourceRef,
    StateReport,
)

if TYPE_CHECKING:
    from occo.configure.jobs import JobPlan
    from occo.configure.transport import ProcessTransport

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL",
                 "LC_CTYPE", "TZ", "TMPDIR", "TERM")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KILL_WAIT = 5.0
Wrap = Callable[[list[str]], list[str]]     # puts a command into a network namespace
_POLL = 0.05


@dataclass(frozen=True)
class ProcessInfo:
    """What create() recorded about an instance's process and addressing."""

    pid: int
    start_time: int
    ip: str
    ports: dict[int, int]
    netns: str | None = None

    def to_data(self) -> dict[str, Any]:
        """JSON-friendly (a store keeps ``data`` as JSON, whose keys are strings)."""
        return {"pid": self.pid, "start_time": self.start_time, "ip": self.ip,
                "ports": {str(k): v for k, v in self.ports.items()}, "netns": self.netns}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ProcessInfo:
        return cls(pid=int(data["pid"]), start_time=int(data["start_time"]), ip=str(data["ip"]),
                   ports={int(k): int(v) for k, v in dict(data.get("ports") or {}).items()},
                   netns=data.get("netns"))


class _DetachedProcess(subprocess.Popen[bytes]):
    """A child that occo reaps itself, by PID, from whichever call sees it exit.

    Plain Popen warns when collected while its child runs and may reap it
    behind our back; an instance is meant to outlive this object.
    """

    def __del__(self) -> None:
        pass


# ---------------------------------------------------------------- pure helpers

def to_local_config(config: BaseModel) -> LocalResource:
    """Accept our model or any model with the same fields (the model layer's twin)."""
    if isinstance(config, LocalResource):
        return config
    return LocalResource.model_validate(config.model_dump())


def build_env(inherited: Mapping[str, str], config: LocalResource, request: CreateRequest,
              ip: str, ports: Mapping[int, int]) -> dict[str, str]:
    """The command's environment: a few inherited names, the config's ``env``, then occo's own."""
    env = {k: inherited[k] for k in INHERITED_ENV if k in inherited}
    env.setdefault("PATH", os.defpath)
    env.update(config.env)
    env.update({
        "OCCO_INSTANCE_ID": request.instance_id,
        "OCCO_NODE_NAME": request.node_name,
        "OCCO_INFRA_ID": request.infra_id,
        "OCCO_IP": ip,
    })
    env.update({f"OCCO_PORT_{wanted}": str(actual) for wanted, actual in ports.items()})
    return env


def failure_reason(exit_code: int | None, survivors: int, stderr_tail: str) -> str:
    """Why an instance whose leader is gone counts as FAILED, in one message."""
    if exit_code is None:
        text = "process exited (its status is known only to the occo process that started it)"
    else:
        text = "process " + procinfo.describe_exit(exit_code)
    if survivors:
        text += f"; {survivors} process(es) of its group still run"
    if stderr_tail:
        text += "; stderr tail:\n" + stderr_tail
    return text


# ---------------------------------------------------------------- I/O helpers

def allocate_ports(wanted: list[int], host: str = LOOPBACK) -> dict[int, int]:
    """Map each wanted port to a port the kernel reports free right now."""
    sockets: list[socket.socket] = []
    mapping: dict[int, int] = {}
    try:
        for port in dict.fromkeys(wanted):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
            mapping[port] = sock.getsockname()[1]
    finally:
        for sock in sockets:
            sock.close()
    return mapping


def _reap(pid: int, start_time: int, directory: Path) -> None:
    """Collect our own exited child (else it stays a zombie) and keep its exit status on disk."""
    stat = procinfo.read_stat(pid)
    if stat is None or stat.start_time != start_time or not stat.is_zombie:
        return
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return  # someone else's child: its parent (or init) reaps it
    if got == pid and directory.is_dir():
        (directory / "exit_status").write_text(str(os.waitstatus_to_exitcode(status)))


def _signal_group(pid: int, start_time: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the recorded group if any of it still runs; False when nothing does."""
    if not procinfo.live_group_members(pid, start_time):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    return True


def _wait_group_gone(pid: int, start_time: int, directory: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        _reap(pid, start_time, directory)
        if not procinfo.live_group_members(pid, start_time):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


def stop_group(pid: int, start_time: int, directory: Path, stop_timeout: float) -> None:
    """SIGTERM the group, give it ``stop_timeout``, then SIGKILL; raise if anything survives."""
    if not _signal_group(pid, start_time, signal.SIGTERM):
        _reap(pid, start_time, directory)
        return
    _signal_group(pid, start_time, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
    if _wait_group_gone(pid, start_time, directory, stop_timeout):
        return
    _signal_group(pid, start_time, signal.SIGKILL)
    if not _wait_group_gone(pid, start_time, directory, _KILL_WAIT):
        left = [s.pid for s in procinfo.live_group_members(pid, start_time)]
        raise ResourceError(f"processes {left} of group {pid} survived SIGKILL", handler="local")


def _carriers(instance_id: str, *, leaders_only: bool = False) -> list[procinfo.ProcStat]:
    """Live processes (other than this one) whose environment names this instance."""
    marker = f"OCCO_INSTANCE_ID={instance_id}".encode()
    found = []
    for stat in procinfo.iter_stats():
        if stat.is_zombie or stat.pid == os.getpid() or (leaders_only and stat.pid != stat.sid):
            continue
        try:
            environ = (procinfo.PROC / str(stat.pid) / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(stat)
    return found


def _leader_by_instance_id(instance_id: str) -> procinfo.ProcStat | None:
    """The live session leader whose environment names this instance (crash recovery)."""
    leaders = _carriers(instance_id, leaders_only=True)
    return leaders[0] if leaders else None


def stop_job_leftovers(instance_id: str, stop_timeout: float) -> None:
    """Stop what the instance's jobs left running: a daemon a job started sits in a
    session of its own, outside the instance's group, but inherited the instance's id.
    SIGTERM, ``stop_timeout`` to go, then SIGKILL; raise if anything survives."""
    for signals, seconds in (((signal.SIGTERM, signal.SIGCONT), stop_timeout),
                             ((signal.SIGKILL,), _KILL_WAIT)):
        left = _carriers(instance_id)
        if not left:
            return
        for stat in left:
            for sig in signals:  # SIGCONT: a stopped process cannot act on SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stat.pid, sig)
        deadline = time.monotonic() + seconds
        while _carriers(instance_id) and time.monotonic() < deadline:
            time.sleep(_POLL)
    survivors = [s.pid for s in _carriers(instance_id)]
    if survivors:
        raise ResourceError(f"processes {survivors} started by jobs of instance {instance_id} "
                            "survived SIGKILL", handler="local")


# ---------------------------------------------------------------- the handler

class LocalHandler(ResourceHandler):
    """Instances as detached process groups, optionally each in its own network namespace."""

    name: ClassVar[str] = "local"
    config_model: ClassVar[type[BaseModel]] = LocalResource
    #: machine-wide IP registry of namespaced instances (the bridge is machine-wide too)
    netns_state_dir: Path = netns.STATE_DIR

    def instance_dir(self, instance_id: str) -> Path:
        """``<home>/instances/<instance_id>``; ids that could escape it are refused."""
        if not _SAFE_ID.fullmatch(instance_id):
            raise ResourceError(f"instance id {instance_id!r} is not usable as a directory name",
                                handler=self.name)
        return self.env.home / "instances" / instance_id

    # -- create

    def create(self, request: CreateRequest) -> CreateResult:
        config = to_local_config(request.config)
        if config.network_namespace and os.geteuid() != 0:
            raise ResourceError("network_namespace: true needs root (it creates a network "
                                "namespace, a veth pair and the occo-br0 bridge); run occo as "
                                "root or drop the option to share 127.0.0.1", handler=self.name)
        directory = self.instance_dir(request.instance_id)
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            raise ResourceError(f"{directory} already exists: instance {request.instance_id} "
                                "was created before; destroy it first", handler=self.name) from None
        namespace: netns.Netns | None = None
        pid: int | None = None
        try:
            if request.user_data is not None:
                (directory / "user_data").write_text(request.user_data)
            argv = config.argv()
            if config.network_namespace:
                namespace = netns.create(request.instance_id, self.netns_state_dir)
                ip, ports = namespace.ip, {p: p for p in config.ports}
                argv = netns.exec_argv(namespace.names.netns, argv, netns.ip_binary())
            else:
                ip, ports = LOOPBACK, allocate_ports(config.ports)
            env = build_env(os.environ, config, request, ip, ports)
            pid = self._spawn(argv, env, self._cwd(config, directory), directory)
            stat = procinfo.read_stat(pid)
            if stat is None:  # cannot happen for an unreaped child, but never record a guess
                raise ResourceError(f"process {pid} vanished right after start", handler=self.name)
            info = ProcessInfo(pid=pid, start_time=stat.start_time, ip=ip, ports=ports,
                               netns=namespace.names.netns if namespace else None)
            (directory / "process.json").write_text(json.dumps(info.to_data()))
        except BaseException as exc:
            self._undo_create(request.instance_id, directory, pid, namespace)
            if isinstance(exc, OSError):
                raise ResourceError(f"cannot start {config.argv()[0]!r}: {exc}",
                                    handler=self.name) from exc
            raise
        log.debug("local instance %s started as pid %s", request.instance_id, pid)
        return CreateResult(resource_id=request.instance_id, data=info.to_data())

    @staticmethod
    def _cwd(config: LocalResource, directory: Path) -> Path:
        cwd = directory / config.workdir if config.workdir else directory
        cwd.mkdir(parents=True, exist_ok=True)
        return cwd

    @staticmethod
    def _spawn(argv: list[str], env: dict[str, str], cwd: Path, directory: Path) -> int:
        """Start ``argv`` in a new session, stdin from /dev/null, output into the instance dir."""
        with open(directory / "stdout.log", "ab") as out, \
                open(directory / "stderr.log", "ab") as err:
            proc = _DetachedProcess(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    cwd=cwd, env=env, start_new_session=True, close_fds=True)
        return proc.pid

    def _undo_create(self, instance_id: str, directory: Path, pid: int | None,
                     namespace: netns.Netns | None) -> None:
        """Best effort: a failed create leaves no process, namespace or directory."""
        with contextlib.suppress(Exception):
            if pid is not None:
                stat = procinfo.read_stat(pid)
                if stat is not None:
                    stop_group(pid, stat.start_time, directory, 0.0)
        with contextlib.suppress(Exception):
            if namespace is not None:
                netns.destroy(instance_id, self.netns_state_dir)
        shutil.rmtree(directory, ignore_errors=True)

    # -- inspect

    def _info(self, ref: ResourceRef) -> ProcessInfo | None:
        """The recorded process: from the ref, else from ``process.json`` (after a crash)."""
        if "pid" in ref.data and "start_time" in ref.data:
            return ProcessInfo.from_data(ref.data)
        try:
            return ProcessInfo.from_data(json.loads(
                (self.instance_dir(ref.instance_id) / "process.json").read_text()))
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def state(self, ref: ResourceRef) -> StateReport:
        directory = self.instance_dir(ref.instance_id)
        info = self._info(ref)
        if info is not None:
            stat = procinfo.read_stat(info.pid)
            if stat is not None and stat.start_time == info.start_time and not stat.is_zombie:
                return StateReport(ResourceState.RUNNING)
            _reap(info.pid, info.start_time, directory)
        if not directory.is_dir():
            return StateReport(ResourceState.GONE)
        if info is None:
            return StateReport(ResourceState.FAILED, reason="no process was started")
        survivors = len(procinfo.live_group_members(info.pid, info.start_time))
        return StateReport(ResourceState.FAILED, reason=failure_reason(
            self._exit_code(directory), survivors, procinfo.read_tail(directory / "stderr.log")))

    @staticmethod
    def _exit_code(directory: Path) -> int | None:
        try:
            return int((directory / "exit_status").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def address(self, ref: ResourceRef) -> Address:
        info = self._info(ref)
        if info is None:
            return Address(public=None)
        return Address(public=info.ip, private=info.ip, ports=dict(info.ports))

    def recover(self, instance_id: str, config: BaseModel) -> CreateResult | None:
        """An instance started just before a crash, before occo recorded it: its
        directory (and ``process.json``, if written) is what destroy needs."""
        directory = self.instance_dir(instance_id)
        if not directory.is_dir():
            return None
        try:
            data = json.loads((directory / "process.json").read_text())
        except (FileNotFoundError, ValueError):
            # Killed between spawn and process.json: the leader carries our id.
            leader = _leader_by_instance_id(instance_id)
            data = {} if leader is None else ProcessInfo(
                pid=leader.pid, start_time=leader.start_time, ip=LOOPBACK, ports={}).to_data()
        return CreateResult(resource_id=instance_id, data=data)

    # -- orchestration jobs (the Configurable protocol)

    def _jobs_context(self, ref: ResourceRef, infra_id: str,
                      node_name: str) -> tuple[Path, Path, dict[str, str], Wrap | None]:
        """Where and how jobs run: the instance's directory, the jobs' start directory
        (its ``workdir``), its environment, and a wrapper into its network namespace.
        Raises ResourceError when the instance is gone."""
        config = to_local_config(ref.config)
        directory = self.instance_dir(ref.instance_id)
        info = self._info(ref)
        if info is None or not directory.is_dir():
            raise ResourceError(f"instance {ref.instance_id}: its directory is gone",
                                handler=self.name)
        request = CreateRequest(infra_id, ref.instance_id, node_name, config)
        env = build_env(os.environ, config, request, info.ip, info.ports)
        wrap = None
        if info.netns:
            namespace = info.netns

            def wrap(argv: list[str]) -> list[str]:
                return netns.exec_argv(namespace, argv, netns.ip_binary())
        return directory, self._cwd(config, directory), env, wrap

    def configure(self, ref: ResourceRef, plan: JobPlan) -> StateReport:
        """Run the node's jobs once in the instance's directory, in its environment
        (and network namespace); a failed job fails the instance with its output."""
        from occo.configure.runner import run_plan

        try:
            directory, cwd, env, wrap = self._jobs_context(ref, plan.infra_id, plan.node_name)
        except ResourceError:
            return StateReport(ResourceState.FAILED, reason="instance directory is gone")
        outcome = run_plan(plan, directory, cwd, env, wrap)
        if outcome.ok:
            return StateReport(ResourceState.RUNNING, reason=outcome.message)
        return StateReport(ResourceState.FAILED, reason=outcome.message)

    def transport(self, ref: ResourceRef, *, infra_id: str, node_name: str) -> ProcessTransport:
        """Day-2 jobs run like the creation-time ones: in the instance's directory (its
        ``workdir``), with its environment, inside its network namespace."""
        from occo.configure.runner import DAY2_LOG, RUNNING_FILE
        from occo.configure.transport import ProcessTransport

        directory, cwd, env, wrap = self._jobs_context(ref, infra_id, node_name)
        return ProcessTransport(cwd, env, log=directory / "jobs" / DAY2_LOG, wrap=wrap,
                                marker=directory / "jobs" / RUNNING_FILE)

    # -- destroy

    def destroy(self, ref: ResourceRef) -> None:
        config = to_local_config(ref.config)
        directory = self.instance_dir(ref.instance_id)
        info = self._info(ref)
        if info is not None:
            stop_group(info.pid, info.start_time, directory, config.stop_timeout)
        from occo.configure.runner import stop_running_job

        stop_running_job(directory)  # an orchestration job still in flight
        if (directory / "jobs").is_dir():
            stop_job_leftovers(ref.instance_id, config.stop_timeout)
        if os.geteuid() == 0 and (config.network_namespace or (info and info.netns)):
            netns.destroy(ref.instance_id, self.netns_state_dir)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(directory)
        log.debug("local instance %s destroyed", ref.instance_id)
