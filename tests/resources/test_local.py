"""The local handler against real processes, sockets and HTTP (and, as root, namespaces)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import occo
from occo.errors import ResourceError
from occo.health.base import HealthTarget
from occo.health.ping import PingCheck
from occo.health.ports import PortsCheck
from occo.health.urls import UrlsCheck
from occo.model.resource_types import LocalResource
from occo.model.states import ResourceState
from occo.resources import netns, procinfo
from occo.resources.base import CreateRequest, HandlerEnv, ResourceRef
from occo.resources.local import LocalHandler, build_env, failure_reason
from tests.support.wait import wait_until

ROOT = Path(occo.__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0

# A tiny HTTP server: 200 on every path but /fail (500); it records its OCCO_* environment.
# (socketserver.TCPServer, not HTTPServer: that one resolves its own name, and a
# namespaced instance has no route to a DNS server.)
SERVER = r"""
import http.server, json, os, socketserver
with open("env.json", "w") as f:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("OCCO_") or k == "GREETING"}, f)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer((os.environ["OCCO_IP"], int(os.environ["OCCO_PORT_8080"])), Handler).serve_forever()
"""
SERVER_CMD = [sys.executable, "-c", SERVER]
SLEEPER_CMD = [sys.executable, "-c", "import time; time.sleep(60)"]


def config(**fields: Any) -> LocalResource:
    return LocalResource(type="local", **fields)


def target_of(handler: LocalHandler, ref: ResourceRef) -> HealthTarget:
    address = handler.address(ref)
    return HealthTarget(ip=address.ip, ports=address.ports)


@pytest.fixture
def handler(tmp_path: Path) -> LocalHandler:
    return LocalHandler(HandlerEnv(home=tmp_path, store=None))


@pytest.fixture
def make(handler: LocalHandler) -> Iterator[Callable[..., ResourceRef]]:
    """Create instances; whatever a test leaves behind is destroyed afterwards."""
    refs: list[ResourceRef] = []

    def _make(cfg: LocalResource, instance_id: str | None = None,
              user_data: str | None = None) -> ResourceRef:
        request = CreateRequest(infra_id="infra-1", instance_id=instance_id or uuid.uuid4().hex,
                                node_name="web", config=cfg, user_data=user_data)
        result = handler.create(request)
        ref = ResourceRef(request.instance_id, result.resource_id, cfg, result.data)
        refs.append(ref)
        return ref

    yield _make
    for ref in refs:
        handler.destroy(ref)


def group_alive(ref: ResourceRef) -> list[procinfo.ProcStat]:
    return procinfo.live_group_members(ref.data["pid"], ref.data["start_time"])


# ---------------------------------------------------------------- pure parts


def test_parse_stat_handles_odd_command_names() -> None:
    line = "4242 (we ird) (x) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3"
    stat = procinfo.parse_stat(line)
    assert (stat.pid, stat.comm, stat.state, stat.ppid) == (4242, "we ird) (x", "S", 1)
    assert (stat.pgid, stat.sid, stat.start_time) == (4242, 4242, 987654)
    with pytest.raises(ValueError):
        procinfo.parse_stat("garbage")


def test_group_members_ignore_a_reused_leader_pid() -> None:
    def stat(pid: int, pgid: int, start: int) -> procinfo.ProcStat:
        return procinfo.ProcStat(pid, "x", "S", 1, pgid, pgid, start)

    ours = [stat(10, 10, 100), stat(11, 10, 150)]
    assert procinfo.group_members(ours, 10, 100) == ours
    assert procinfo.group_members(ours[1:], 10, 100) == ours[1:]  # leader gone, member left
    reused = [stat(10, 10, 900), stat(11, 10, 950)]
    assert procinfo.group_members(reused, 10, 100) == []


def test_reasons_and_environment_are_built_purely() -> None:
    assert failure_reason(3, 0, "boom") == "process exited with status 3; stderr tail:\nboom"
    assert "killed by SIGKILL" in failure_reason(-9, 2, "")
    assert "2 process(es)" in failure_reason(-9, 2, "")
    request = CreateRequest("i1", "inst", "web", config(command="x"))
    env = build_env({"PATH": "/bin", "AWS_SECRET_ACCESS_KEY": "s"},
                    config(command="x", env={"A": "1", "OCCO_IP": "spoof"}), request,
                    "127.0.0.1", {8080: 40001})
    assert env == {"PATH": "/bin", "A": "1", "OCCO_INSTANCE_ID": "inst", "OCCO_NODE_NAME": "web",
                   "OCCO_INFRA_ID": "i1", "OCCO_IP": "127.0.0.1", "OCCO_PORT_8080": "40001"}


def test_config_model_is_strict() -> None:
    assert config(command="echo 'a b'").argv() == ["echo", "a b"]
    bad: dict[str, Any]
    for bad in ({"command": "x", "colour": 1}, {"command": ""}, {"command": []},
                {"command": "x", "ports": [0]}, {"command": "x", "env": {"A=B": "1"}}):
        with pytest.raises(ValidationError):
            LocalResource(type="local", **bad)


def test_ip_allocation_is_unique_across_processes(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from occo.resources import netns\n"
              "print(*[netns.allocate_ip(f'occo-t{sys.argv[1]}-{i}', Path(sys.argv[2]), prune=False)"
              " for i in range(10)])")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n), str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for n in range(4)]
    try:
        outputs = [p.communicate(timeout=30)[0].split() for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    ips = [ip for out in outputs for ip in out]
    assert len(ips) == 40 and len(set(ips)) == 40
    assert str(netns.GATEWAY) not in ips and all(ip.startswith("10.213.") for ip in ips)
    netns.release_ip("occo-t0-0", tmp_path)  # the lowest free address is handed out next
    assert netns.allocate_ip("occo-again", tmp_path, prune=False) == outputs[0][0]


# ---------------------------------------------------------------- real processes


def test_instance_serves_on_its_mapped_port(handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    ref = make(config(command=SERVER_CMD, ports=[8080], env={"GREETING": "hello"}),
               user_data="#cloud-config\n")
    target = target_of(handler, ref)
    assert wait_until(lambda: PortsCheck().probe(target, [8080], 1.0).ok)
    assert handler.state(ref).state is ResourceState.RUNNING

    address = handler.address(ref)
    actual = address.ports[8080]
    assert (address.public, address.private, set(address.ports)) == ("127.0.0.1", "127.0.0.1", {8080})
    assert UrlsCheck().probe(target, ["http://{{ip}}:8080/"], 2.0).ok
    failing = UrlsCheck().probe(target, ["http://{{ip}}:8080/fail"], 2.0)
    assert not failing.ok and "500" in failing.reason

    directory = handler.instance_dir(ref.instance_id)
    assert json.loads((directory / "env.json").read_text()) == {
        "GREETING": "hello", "OCCO_INSTANCE_ID": ref.instance_id, "OCCO_NODE_NAME": "web",
        "OCCO_INFRA_ID": "infra-1", "OCCO_IP": "127.0.0.1", "OCCO_PORT_8080": str(actual)}
    assert (directory / "user_data").read_text() == "#cloud-config\n"
    stat = procinfo.read_stat(ref.data["pid"])
    assert stat is not None and stat.sid == stat.pgid == stat.pid  # own session and group
    assert os.readlink(f"/proc/{stat.pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{stat.pid}/fd/2") == str(directory / "stderr.log")


def test_instance_outlives_the_process_that_created_it(handler: LocalHandler, tmp_path: Path) -> None:
    script = f"""
import json, sys
from pathlib import Path
from occo.resources.base import CreateRequest, HandlerEnv
from occo.resources.local import LocalHandler
from occo.model.resource_types import LocalResource
cfg = LocalResource(type="local", command={SERVER_CMD!r}, ports=[8080])
h = LocalHandler(HandlerEnv(home=Path({str(tmp_path)!r}), store=None))
print(json.dumps(h.create(CreateRequest("infra-1", "detached", "web", cfg)).data))
"""
    creator = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             cwd=ROOT, timeout=30, check=True)
    data = json.loads(creator.stdout)
    cfg = config(command=SERVER_CMD, ports=[8080])
    ref = ResourceRef("detached", "detached", cfg, data)
    try:
        assert handler.state(ref).state is ResourceState.RUNNING
        assert wait_until(lambda: UrlsCheck().probe(target_of(handler, ref),
                                                    ["http://{{ip}}:8080/"], 1.0).ok)
        stat = procinfo.read_stat(data["pid"])
        assert stat is not None and stat.ppid != os.getpid()
        # the ref alone is enough, and so is the record on disk (after a crash)
        assert handler.state(ResourceRef("detached", "detached", cfg)).state is ResourceState.RUNNING
    finally:
        handler.destroy(ResourceRef("detached", "detached", cfg))
    assert group_alive(ref) == []
    assert handler.state(ref).state is ResourceState.GONE


def test_destroy_stops_the_whole_group_and_is_idempotent(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    # the leader ignores SIGTERM and has a child: both must go, by SIGKILL after stop_timeout
    stubborn = ("import signal, subprocess, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                f"subprocess.Popen({SLEEPER_CMD!r})\n"
                "time.sleep(60)")
    ref = make(config(command=[sys.executable, "-c", stubborn], stop_timeout=0.3))
    assert wait_until(lambda: len(group_alive(ref)) == 2)
    started = time.monotonic()
    handler.destroy(ref)
    assert time.monotonic() - started < 5
    assert group_alive(ref) == []
    assert not handler.instance_dir(ref.instance_id).exists()
    assert handler.state(ref).state is ResourceState.GONE
    handler.destroy(ref)  # again: nothing left, not an error
    assert handler.state(ref).state is ResourceState.GONE


def test_quick_exit_is_failed_with_status_and_stderr(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    crash = "import sys; sys.stderr.write('starting\\nboom: bad config\\n'); sys.exit(3)"
    ref = make(config(command=[sys.executable, "-c", crash]))
    report = wait_until(lambda: (r := handler.state(ref)).state is ResourceState.FAILED and r)
    assert report, handler.state(ref)
    assert "exited with status 3" in report.reason
    assert "boom: bad config" in report.reason
    assert procinfo.read_stat(ref.data["pid"]) is None  # reaped, no zombie left behind
    assert handler.state(ref).reason == report.reason  # the status was kept
    handler.destroy(ref)
    assert handler.state(ref).state is ResourceState.GONE


def test_exit_seen_by_another_process_is_failed_without_status(handler: LocalHandler,
                                                                tmp_path: Path) -> None:
    script = f"""
import json, sys
from pathlib import Path
from occo.resources.base import CreateRequest, HandlerEnv
from occo.resources.local import LocalHandler
from occo.model.resource_types import LocalResource
cfg = LocalResource(type="local", command=[sys.executable, "-c",
                    "import sys, time; time.sleep(0.3); sys.exit('gave up')"])
h = LocalHandler(HandlerEnv(home=Path({str(tmp_path)!r}), store=None))
print(json.dumps(h.create(CreateRequest("infra-1", "orphan", "web", cfg)).data))
"""
    creator = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             cwd=ROOT, timeout=30, check=True)
    ref = ResourceRef("orphan", "orphan", config(command="x"), json.loads(creator.stdout))
    report = wait_until(lambda: (r := handler.state(ref)).state is not ResourceState.RUNNING and r)
    assert report.state is ResourceState.FAILED
    assert "process exited" in report.reason and "gave up" in report.reason
    handler.destroy(ref)
    assert handler.state(ref).state is ResourceState.GONE


def test_a_reused_pid_is_not_the_instance(handler: LocalHandler) -> None:
    me = procinfo.read_stat(os.getpid())
    assert me is not None
    data = {"pid": me.pid, "start_time": me.start_time + 1, "ip": "127.0.0.1", "ports": {}}
    ref = ResourceRef("never-created", "never-created", config(command="x", stop_timeout=0), data)
    assert handler.state(ref).state is ResourceState.GONE
    handler.destroy(ref)  # must not signal this (unrelated) process
    assert procinfo.read_stat(os.getpid()) == me


def test_command_string_is_split_never_shelled(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    command = f"{sys.executable} -c 'import sys; print(sys.argv[1:])' 'a b' '$HOME;' '*'"
    ref = make(config(command=command, workdir="run"))
    report = wait_until(lambda: (r := handler.state(ref)).state is ResourceState.FAILED and r)
    assert "exited with status 0" in report.reason
    out = (handler.instance_dir(ref.instance_id) / "stdout.log").read_text()
    assert out.strip() == str(["a b", "$HOME;", "*"])
    assert (handler.instance_dir(ref.instance_id) / "run").is_dir()


def test_unstartable_commands_and_reused_ids_are_refused(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    request = CreateRequest("infra-1", "missing", "web", config(command="/nonexistent/program"))
    with pytest.raises(ResourceError, match="cannot start"):
        handler.create(request)
    assert not handler.instance_dir("missing").exists()
    make(config(command=SLEEPER_CMD), instance_id="twice")
    with pytest.raises(ResourceError, match="already exists"):
        handler.create(CreateRequest("infra-1", "twice", "web", config(command=SLEEPER_CMD)))
    with pytest.raises(ResourceError):
        handler.instance_dir("../escape")


def test_network_namespace_needs_root(handler: LocalHandler, tmp_path: Path) -> None:
    cfg = config(command=SLEEPER_CMD, network_namespace=True)
    request = CreateRequest("infra-1", "netns-user", "web", cfg)
    if not IS_ROOT:
        with pytest.raises(ResourceError, match="needs root"):
            handler.create(request)
        return
    # as root, drop the effective uid in a child to see the refusal
    script = f"""
import os, sys
from pathlib import Path
from occo.errors import ResourceError
from occo.resources.base import CreateRequest, HandlerEnv
from occo.resources.local import LocalHandler
from occo.model.resource_types import LocalResource
h = LocalHandler(HandlerEnv(home=Path({str(tmp_path)!r}), store=None))
request = CreateRequest("infra-1", "netns-user", "web",
                        LocalResource(type="local", command="sleep 1", network_namespace=True))
os.seteuid(65534)
try:
    h.create(request)
except ResourceError as exc:
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=30, check=True).stdout
    assert "needs root" in out
    assert not handler.instance_dir("netns-user").exists()


@pytest.mark.skipif(not IS_ROOT, reason="network namespaces need root (CI runs as root)")
def test_network_namespace_instance_has_its_own_ip(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    ref = make(config(command=SERVER_CMD, ports=[8080], network_namespace=True))
    address = handler.address(ref)
    names = netns.names_for(ref.instance_id)
    assert address.ip is not None and address.ip.startswith("10.213.")
    assert address.ip != str(netns.GATEWAY)
    assert address.public == address.private and address.ports == {8080: 8080}
    assert ref.data["netns"] == names.netns
    assert netns.netns_exists(names.netns) and netns.link_exists(names.host_veth)

    target = target_of(handler, ref)
    assert wait_until(lambda: UrlsCheck().probe(target, ["http://{{ip}}:8080/"], 1.0).ok)
    assert handler.state(ref).state is ResourceState.RUNNING
    assert PingCheck().probe(target, True, 2.0).ok
    assert PortsCheck().probe(target, [8080], 2.0).ok
    env = json.loads((handler.instance_dir(ref.instance_id) / "env.json").read_text())
    assert env["OCCO_IP"] == address.ip and env["OCCO_PORT_8080"] == "8080"

    handler.destroy(ref)
    assert group_alive(ref) == []
    assert not netns.netns_exists(names.netns) and not netns.link_exists(names.host_veth)
    registry = json.loads((handler.netns_state_dir / "ips.json").read_text())
    assert address.ip not in registry
    assert handler.state(ref).state is ResourceState.GONE
    handler.destroy(ref)


@pytest.mark.skipif(not IS_ROOT, reason="network namespaces need root (CI runs as root)")
def test_a_reused_address_is_reached_at_its_new_owner(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    """The host forgets the old owner's MAC: the new instance is reachable at once,
    not after the neighbour entry is re-probed (several seconds)."""
    cfg = config(command=SERVER_CMD, ports=[8080], network_namespace=True)
    first = make(cfg)
    ip = handler.address(first).ip
    assert wait_until(lambda: UrlsCheck().probe(target_of(handler, first),
                                                ["http://{{ip}}:8080/"], 1.0).ok)
    link = subprocess.run(["ip", "-n", first.data["netns"], "-o", "link", "show", "eth0"],
                          capture_output=True, text=True, check=True).stdout
    old_mac = link.split("link/ether ")[1].split()[0]
    assert old_mac in subprocess.run(["ip", "neigh", "show", str(ip), "dev", netns.BRIDGE],
                                     capture_output=True, text=True, check=True).stdout
    handler.destroy(first)
    second = make(cfg)
    assert handler.address(second).ip == ip              # the lowest free address again
    neighbour = subprocess.run(["ip", "neigh", "show", str(ip), "dev", netns.BRIDGE],
                               capture_output=True, text=True, check=True).stdout
    assert old_mac not in neighbour


@pytest.mark.skipif(not IS_ROOT, reason="network namespaces need root (CI runs as root)")
def test_namespaced_command_that_cannot_start_is_failed_then_cleaned(handler: LocalHandler) -> None:
    cfg = config(command="/nonexistent/program", network_namespace=True)
    instance_id = uuid.uuid4().hex
    result = handler.create(CreateRequest("infra-1", instance_id, "web", cfg))
    ref = ResourceRef(instance_id, result.resource_id, cfg, result.data)
    try:
        # `ip netns exec` starts, then fails to exec the program: a FAILED instance
        report = wait_until(lambda: (r := handler.state(ref)).state is ResourceState.FAILED and r)
        assert report and "nonexistent" in report.reason
    finally:
        handler.destroy(ref)
    assert not netns.netns_exists(netns.names_for(instance_id).netns)


@pytest.mark.skipif(not IS_ROOT, reason="network namespaces need root (CI runs as root)")
def test_concurrent_namespaced_instances_get_distinct_ips(
        handler: LocalHandler, make: Callable[..., ResourceRef]) -> None:
    cfg = config(command=SLEEPER_CMD, network_namespace=True, stop_timeout=1)
    with ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(lambda _: make(cfg), range(4)))
    ips = {handler.address(ref).ip for ref in refs}
    assert len(ips) == 4
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(handler.destroy, refs))
    assert not any(netns.netns_exists(r.data["netns"]) for r in refs)
