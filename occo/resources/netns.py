"""Network namespaces for local instances: a bridge, a veth pair, an IP each.

Layout (root only)::

    host: occo-br0 10.213.0.1/16 --- ov<8hex> (veth) ==== eth0 10.213.x.y  (netns occo-<8hex>)

The bridge is shared by every occo on the machine, so the IP registry is
machine-wide too: ``/run/occo/netns/ips.json`` guarded by ``fcntl.flock``.
``/run`` is cleared on reboot, exactly like the namespaces it describes.
Every ``ip`` call is an argument list; no shell is ever involved.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from occo.errors import ResourceError

BRIDGE = "occo-br0"
NETWORK = ipaddress.IPv4Network("10.213.0.0/16")
GATEWAY = ipaddress.IPv4Address("10.213.0.1")
STATE_DIR = Path("/run/occo/netns")
NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
_IP_TIMEOUT = 15.0


@dataclass(frozen=True)
class NetnsNames:
    """The names derived from one instance id (interface names stay within 15 chars)."""

    netns: str
    host_veth: str
    inner_veth: str


@dataclass(frozen=True)
class Netns:
    """A configured namespace: its names and the instance's IP."""

    names: NetnsNames
    ip: str


# ---------------------------------------------------------------- pure helpers

def names_for(instance_id: str) -> NetnsNames:
    """Deterministic names, so destroy finds them even without recorded data."""
    tag = hashlib.sha256(instance_id.encode()).hexdigest()[:8]
    return NetnsNames(netns=f"occo-{tag}", host_veth=f"ov{tag}", inner_veth=f"oi{tag}")


def pick_ip(taken: set[str]) -> str:
    """The lowest free host address of the occo network (the gateway excluded)."""
    for candidate in NETWORK.hosts():
        if candidate != GATEWAY and str(candidate) not in taken:
            return str(candidate)
    raise ResourceError(f"no free address left in {NETWORK}", handler="local")


def exec_argv(netns: str, argv: list[str], ip_binary: str = "ip") -> list[str]:
    """Run ``argv`` inside ``netns``; ``ip netns exec`` execs in place, so the PID is the
    command's."""
    return [ip_binary, "netns", "exec", netns, *argv]


# ---------------------------------------------------------------- ip(8) calls

def ip_binary() -> str:
    """Path of iproute2's ``ip`` (sbin directories included, as root's PATH may lack them)."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/sbin:/sbin:/usr/bin:/bin"
    found = shutil.which("ip", path=path)
    if found is None:
        raise ResourceError("network_namespace needs iproute2's `ip` (apt-get install iproute2)",
                            handler="local")
    return found


def _ip(*args: str, ok_if: tuple[str, ...] = ()) -> str:
    """Run ``ip ARGS``; an error whose message contains one of ``ok_if`` is tolerated."""
    proc = subprocess.run([ip_binary(), *args], capture_output=True, text=True,
                          timeout=_IP_TIMEOUT, check=False)
    if proc.returncode != 0:
        message = proc.stderr.strip()
        if any(text in message for text in ok_if):
            return ""
        raise ResourceError(f"ip {' '.join(args)} failed: {message}", handler="local")
    return proc.stdout


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def link_exists(name: str) -> bool:
    return (SYS_NET / name).exists()


def ensure_bridge() -> None:
    """Create ``occo-br0`` with the gateway address, if needed; safe to repeat and to race."""
    if not link_exists(BRIDGE):
        _ip("link", "add", BRIDGE, "type", "bridge", ok_if=("File exists",))
    gateway = f"{GATEWAY}/{NETWORK.prefixlen}"
    if gateway not in _ip("-4", "-o", "addr", "show", "dev", BRIDGE).split():
        _ip("addr", "add", gateway, "dev", BRIDGE,
            ok_if=("File exists", "Address already assigned"))
    _ip("link", "set", BRIDGE, "up")


# ---------------------------------------------------------------- IP registry

@contextlib.contextmanager
def _locked_registry(state_dir: Path) -> Iterator[dict[str, str]]:
    """The ip -> netns map, held under an exclusive flock and saved atomically on exit."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "ips.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = state_dir / "ips.json"
        try:
            registry: dict[str, str] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            registry = {}
        before = dict(registry)
        yield registry
        if registry != before:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(registry, indent=1, sort_keys=True))
            tmp.replace(path)


def allocate_ip(netns: str, state_dir: Path = STATE_DIR, prune: bool = True) -> str:
    """Reserve a free IP for ``netns`` (which must already exist when pruning is on).

    Entries whose namespace vanished (a crash between setup and teardown) are
    dropped first; the caller's namespace exists before it asks, so a
    concurrent pruner never frees an address being set up.
    """
    with _locked_registry(state_dir) as registry:
        if prune:
            for addr, owner in list(registry.items()):
                if not netns_exists(owner):
                    del registry[addr]
        for addr, owner in registry.items():
            if owner == netns:
                return addr
        addr = pick_ip(set(registry))
        registry[addr] = netns
        return addr


def release_ip(netns: str, state_dir: Path = STATE_DIR) -> None:
    """Forget every address held by ``netns``; nothing held is fine."""
    with _locked_registry(state_dir) as registry:
        for addr in [a for a, owner in registry.items() if owner == netns]:
            del registry[addr]


# ---------------------------------------------------------------- lifecycle

def create(instance_id: str, state_dir: Path = STATE_DIR) -> Netns:
    """Set up the namespace, veth pair and IP of one instance; undone fully on failure."""
    names = names_for(instance_id)
    if netns_exists(names.netns):
        raise ResourceError(f"network namespace {names.netns} already exists", handler="local")
    _ip("netns", "add", names.netns)
    try:
        ensure_bridge_locked(state_dir)
        ip = allocate_ip(names.netns, state_dir)
        ns = ("-n", names.netns)
        _ip("link", "add", names.host_veth, "type", "veth", "peer", "name", names.inner_veth)
        _ip("link", "set", names.inner_veth, "netns", names.netns)
        _ip("link", "set", names.host_veth, "master", BRIDGE)
        _ip("link", "set", names.host_veth, "up")
        _ip(*ns, "link", "set", "lo", "up")
        _ip(*ns, "link", "set", names.inner_veth, "name", "eth0")
        _ip(*ns, "addr", "add", f"{ip}/{NETWORK.prefixlen}", "dev", "eth0")
        _ip(*ns, "link", "set", "eth0", "up")
        _ip(*ns, "route", "add", "default", "via", str(GATEWAY))
        # The address may have been another namespace's a moment ago: without this the
        # host keeps sending to the old MAC until its neighbour entry is re-probed (~9 s).
        _ip("neigh", "flush", "to", ip, "dev", BRIDGE)
    except BaseException:
        destroy(instance_id, state_dir)
        raise
    return Netns(names=names, ip=ip)


def ensure_bridge_locked(state_dir: Path = STATE_DIR) -> None:
    """:func:`ensure_bridge` serialised with every other occo process on the machine."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "bridge.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_bridge()


def namespace_pids(netns: str) -> list[int]:
    """Processes still living in ``netns`` (e.g. ones that left the instance's process group)."""
    if not netns_exists(netns):
        return []
    return [int(p) for p in _ip("netns", "pids", netns, ok_if=("No such file",)).split()]


def destroy(instance_id: str, state_dir: Path = STATE_DIR, wait: float = 5.0) -> None:
    """Kill what is left inside, drop veth and namespace, free the IP; repeatable."""
    names = names_for(instance_id)
    for pid in namespace_pids(names.netns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if link_exists(names.host_veth):
        _ip("link", "del", names.host_veth, ok_if=("Cannot find device",))
    if netns_exists(names.netns):
        _ip("netns", "del", names.netns, ok_if=("No such file",))
    release_ip(names.netns, state_dir)
    deadline = time.monotonic() + wait
    while link_exists(names.host_veth) and time.monotonic() < deadline:
        time.sleep(0.02)
    if link_exists(names.host_veth) or netns_exists(names.netns):
        raise ResourceError(f"could not remove network namespace {names.netns}", handler="local")
