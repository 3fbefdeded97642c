"""One competing process of tests/store/test_concurrency.py.

Run as ``python _worker.py COMMAND URL ARGS...``. Each command opens its own
Store (its own engine and connections), prints ``ready``, waits for the go
file so that every competitor starts at once, then races the others.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from occo.errors import IllegalTransition
from occo.model.states import ExecutionStatus, InstanceState
from occo.store.store import Store
from occo.store.tables import nodes


def _wait_for(go: str) -> None:
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.002)


def open_store(url: str, go: str) -> None:
    """Open (and so migrate) the store at the same moment as the others."""
    _wait_for(go)
    Store(url).close()


def increment(url: str, go: str, infra_id: str, times: str) -> None:
    """Read-modify-write a node's target inside Store.write(), ``times`` times."""
    store = Store(url)
    _wait_for(go)
    for _ in range(int(times)):
        with store.write() as conn:
            value = conn.execute(select(nodes.c.target).where(
                nodes.c.infra_id == infra_id, nodes.c.name == "counter")
                .with_for_update()).scalar_one()
            store.infras.set_target(infra_id, "counter", value + 1, conn=conn)
    store.close()


def claim(url: str, go: str, state: str, ids_json: str, out: str) -> None:
    """Try to move every instance to ``state``; record the ones this process moved."""
    store = Store(url)
    ids: list[str] = json.loads(ids_json)
    random.shuffle(ids)
    _wait_for(go)
    won = []
    for instance_id in ids:
        try:
            store.instances.transition(instance_id, InstanceState(state), reason=out)
            won.append(instance_id)
        except IllegalTransition:
            pass
    Path(out).write_text(json.dumps(won))
    store.close()


def finish(url: str, go: str, status: str, ids_json: str, out: str) -> None:
    """Try to end every execution with ``status``; record which calls succeeded."""
    store = Store(url)
    ids: list[str] = json.loads(ids_json)
    random.shuffle(ids)
    _wait_for(go)
    won = []
    for execution_id in ids:
        try:
            store.executions.finish(execution_id, ExecutionStatus(status))
            won.append(execution_id)
        except IllegalTransition:
            pass
    Path(out).write_text(json.dumps(won))
    store.close()


def lease_race(url: str, go: str, infra_id: str, holder: str, seconds: str, out: str) -> None:
    """Grab the lease again and again; log each [start, end) this process held it."""
    store = Store(url)
    _wait_for(go)
    held: list[tuple[float, float]] = []
    stop = time.time() + float(seconds)
    while time.time() < stop:
        if store.leases.acquire(infra_id, holder, 10.0):
            start = time.time()
            time.sleep(random.uniform(0.005, 0.03))
            end = time.time()
            store.leases.release(infra_id, holder)
            held.append((start, end))
        time.sleep(random.uniform(0, 0.005))
    Path(out).write_text(json.dumps(held))
    store.close()


def hold(url: str, go: str, infra_id: str, holder: str, ttl: str) -> None:
    """Take the lease and keep it until killed, never renewing (a crashed holder)."""
    store = Store(url)
    _wait_for(go)
    assert store.leases.acquire(infra_id, holder, float(ttl))
    print("held", flush=True)
    time.sleep(600)


def hold_exclusive(url: str, go: str, infra_id: str) -> None:
    """Hold the engine's exclusive lease (renewed in the background) until stdin closes."""
    from occo.engine.leasing import exclusive, make_holder

    store = Store(url)
    _wait_for(go)
    with exclusive(store, infra_id, make_holder(), "maintain"):
        print("held", flush=True)
        sys.stdin.read()
    store.close()


def import_defs(url: str, go: str, count: str) -> None:
    """Replace node type ``shared`` with ``count`` implementations."""
    store = Store(url)
    _wait_for(go)
    impls = [{"resource": {"type": "dummy", "n": int(count), "i": i}} for i in range(int(count))]
    for _ in range(5):
        store.node_defs.replace({"shared": impls}, source=f"import-{count}")
    store.close()


COMMANDS: dict[str, Callable[..., None]] = {"open": open_store, "increment": increment, "claim": claim, "finish": finish,
            "lease-race": lease_race, "hold": hold, "hold-exclusive": hold_exclusive,
            "import": import_defs}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
