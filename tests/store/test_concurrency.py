"""Several real processes sharing one store (SQLite file or PostgreSQL server).

Each competitor is a separate Python process (tests/store/_worker.py) with its
own engine; they are released together by a "go" file so that they truly race.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import text

from occo.engine.leasing import exclusive, held_lease, held_leases
from occo.errors import Conflict
from occo.store.migrate import HEAD_REVISION
from occo.store.records import NodeRecord
from occo.store.store import Store
from tests.support.wait import wait_until

WORKER = Path(__file__).with_name("_worker.py")


def _spawn(command: str, url: str, go: Path, *args: str,
           stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(WORKER), command, url, str(go), *args],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != expected + "\n":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"worker said {line!r} instead of {expected!r}:\n{err}")


def race(tmp_path: Path, url: str, jobs: Sequence[tuple[str, ...]],
         timeout: float = 120) -> None:
    """Start one worker per job, release them together, require that all succeed."""
    go = tmp_path / f"go-{uuid.uuid4().hex}"
    procs = [_spawn(job[0], url, go, *job[1:]) for job in jobs]
    try:
        for proc in procs:
            _wait_line(proc, "ready")
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    yield opened
    opened.close()


def _infra(store: Store, *, target: int = 0) -> str:
    infra_id = str(uuid.uuid4())
    store.infras.create(infra_id, "race", None, {"infra_name": "race"}, None, [
        NodeRecord(infra_id, "counter", "t", 0, 10_000, target, {}, None)])
    return infra_id


def test_first_open_by_many_processes_migrates_once(store_url: str, tmp_path: Path) -> None:
    race(tmp_path, store_url, [("open",)] * 4)
    store = Store(store_url)
    with store.read() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    store.close()
    assert versions == [HEAD_REVISION]


def test_read_modify_write_in_write_transactions_loses_no_update(
        store: Store, tmp_path: Path) -> None:
    """4 processes x 25 increments: SQLite's BEGIN IMMEDIATE (or PostgreSQL's row
    lock) serialises them, so the counter ends at exactly 100."""
    infra_id = _infra(store)
    race(tmp_path, store.url, [("increment", infra_id, "25")] * 4)
    assert store.infras.nodes(infra_id)[0].target == 100


def test_guarded_transition_lets_one_path_win_per_instance(
        store: Store, tmp_path: Path) -> None:
    """Half the processes start instances, half discard them; each instance ends
    on exactly one of the two paths, never both."""
    infra_id = _infra(store)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    store.instances.add_intents([{"id": i, "infra_id": infra_id, "node_name": "counter",
                                  "resource_type": "dummy", "resource_config": {}}
                                 for i in ids])
    paths = {"creating": [], "destroyed": []}  # type: dict[str, list[Path]]
    jobs = []
    for n, state in enumerate(["creating", "destroyed"] * 2):
        out = tmp_path / f"won-{n}.json"
        paths[state].append(out)
        jobs.append(("claim", state, json.dumps(ids), str(out)))
    race(tmp_path, store.url, jobs)

    winners: dict[str, set[str]] = {i: set() for i in ids}
    for state, outs in paths.items():
        for out in outs:
            for instance_id in json.loads(out.read_text()):
                winners[instance_id].add(state)
    for instance_id in ids:
        record = store.instances.get(instance_id)
        assert winners[instance_id] == {str(record.state)}, instance_id
        assert record.reason in {str(p) for p in paths[str(record.state)]}


def test_execution_is_finished_one_way_only(store: Store, tmp_path: Path) -> None:
    """Terminating and cancelling race; each execution ends in one status, and
    only the processes that asked for it were told they succeeded."""
    ids = [str(uuid.uuid4()) for _ in range(30)]
    for execution_id in ids:
        store.executions.create(execution_id, None, "build", {})
    outs: dict[str, list[Path]] = {"terminated": [], "cancelled": []}
    jobs = []
    for n, status in enumerate(["terminated", "cancelled"] * 2):
        out = tmp_path / f"finished-{n}.json"
        outs[status].append(out)
        jobs.append(("finish", status, json.dumps(ids), str(out)))
    race(tmp_path, store.url, jobs)

    told: dict[str, set[str]] = {i: set() for i in ids}
    for status, files in outs.items():
        for out in files:
            for execution_id in json.loads(out.read_text()):
                told[execution_id].add(status)
    for execution_id in ids:
        assert told[execution_id] == {str(store.executions.get(execution_id).status)}


def test_concurrent_imports_of_one_type_never_mix(store: Store, tmp_path: Path) -> None:
    """Four imports replace the same node type at once; all succeed and the
    result is exactly one import's list, not a blend."""
    race(tmp_path, store.url, [("import", str(n)) for n in (1, 2, 3, 4)])
    impls = store.node_defs.get("shared")
    count = impls[0]["resource"]["n"]
    assert [impl["resource"] for impl in impls] == [
        {"type": "dummy", "n": count, "i": i} for i in range(count)]


# -- leases ----------------------------------------------------------------------------

def test_racing_processes_never_hold_a_lease_together(store: Store, tmp_path: Path) -> None:
    infra_id = _infra(store)
    outs = [tmp_path / f"held-{n}.json" for n in range(4)]
    race(tmp_path, store.url, [("lease-race", infra_id, f"holder-{n}", "2.0", str(out))
                               for n, out in enumerate(outs)])
    spans = sorted((start, end, n) for n, out in enumerate(outs)
                   for start, end in json.loads(out.read_text()))
    assert len(spans) >= 10
    assert len({n for _, _, n in spans}) >= 2, "the lease never changed hands"
    for (_, end, who), (start, _, next_who) in itertools.pairwise(spans):
        assert start >= end, f"holder-{who} and holder-{next_who} held the lease together"
    assert store.leases.holder(infra_id) is None  # every winner released it


def test_lease_of_a_killed_holder_is_taken_over_after_its_ttl(
        store: Store, tmp_path: Path) -> None:
    infra_id = _infra(store)
    go = tmp_path / "go"
    go.touch()
    ttl = 1.5
    crashed = _spawn("hold", store.url, go, infra_id, "doomed", str(ttl))
    _wait_line(crashed, "ready")
    _wait_line(crashed, "held")
    crashed.send_signal(signal.SIGKILL)
    crashed.communicate()

    assert not store.leases.acquire(infra_id, "successor", 30)
    held = store.leases.holder(infra_id)
    assert held is not None and held[0] == "doomed"
    expires_at = held[1]
    wait_until(lambda: store.leases.acquire(infra_id, "successor", 30),
               what="the dead holder's lease to expire")
    assert time.time() >= expires_at  # not a moment before its ttl ran out
    assert store.leases.holder(infra_id)[0] == "successor"


def test_renew_keeps_and_release_frees_a_lease(store: Store) -> None:
    infra_id = _infra(store)
    assert store.leases.acquire(infra_id, "a", 0.3)
    first_expiry = store.leases.holder(infra_id)[1]
    assert store.leases.renew(infra_id, "a", 30.0)
    assert not store.leases.renew(infra_id, "b", 30.0)
    wait_until(lambda: time.time() > first_expiry, what="the first expiry to pass")
    assert not store.leases.acquire(infra_id, "b", 5)
    assert store.leases.acquire(infra_id, "a", 5)  # the holder may take it again
    store.leases.release(infra_id, "b")  # not b's to release
    assert not store.leases.acquire(infra_id, "b", 5)
    store.leases.release(infra_id, "a")
    assert store.leases.holder(infra_id) is None
    assert store.leases.acquire(infra_id, "b", 5)


def test_held_lease_is_renewed_while_work_runs_and_released_after(store: Store) -> None:
    infra_id = _infra(store)
    with held_lease(store, infra_id, "worker", ttl=0.9) as lost:
        assert lost is not None
        first_expiry = store.leases.holder(infra_id)[1]
        # beyond the ttl: only the background renewal keeps it
        wait_until(lambda: time.time() > first_expiry, what="the first expiry to pass")
        assert store.leases.holder(infra_id)[1] > first_expiry
        assert not store.leases.acquire(infra_id, "intruder", 5)
        with held_lease(store, infra_id, "intruder", ttl=5) as other:
            assert other is None
        assert not lost.is_set()
    assert store.leases.holder(infra_id) is None


def test_held_lease_reports_a_lost_lease(store: Store) -> None:
    infra_id = _infra(store)
    with held_lease(store, infra_id, "worker", ttl=0.6) as lost:
        assert lost is not None
        store.leases.release(infra_id, "worker")  # e.g. expired during a long stall
        assert store.leases.acquire(infra_id, "thief", 30)
        assert lost.wait(2), "losing the lease went unnoticed"
    held = store.leases.holder(infra_id)
    assert held is not None and held[0] == "thief"  # the loser did not free it


def test_leases_taken_together_leave_the_live_lease_of_another_alone(store: Store) -> None:
    free, others, expired = _infra(store), _infra(store), _infra(store)
    assert store.leases.acquire(others, "other", 30)
    assert store.leases.acquire(expired, "gone", -1)          # already expired
    assert store.leases.acquire_many([free, others, expired], "me", 30) == {free, expired}
    assert store.leases.holder(others)[0] == "other"
    assert store.leases.acquire_many([free], "me", 30) == {free}   # the holder renews
    assert store.leases.renew_many([free, expired], "me", 30) == {free, expired}
    store.leases.release(free, "me")                            # e.g. taken from it
    assert store.leases.renew_many([free, expired], "me", 30) == {expired}
    store.leases.release_many([free, others, expired], "me")
    assert store.leases.holder(expired) is None
    assert store.leases.holder(others)[0] == "other"


def test_leases_held_together_are_renewed_and_each_loss_is_told(store: Store) -> None:
    kept, stolen, busy = _infra(store), _infra(store), _infra(store)
    assert store.leases.acquire(busy, "other", 30)
    with held_leases(store, [kept, stolen, busy], "me", ttl=0.6) as held:
        assert set(held) == {kept, stolen}
        expires = store.leases.holder(kept)[1]
        store.leases.release(stolen, "me")
        assert store.leases.acquire(stolen, "thief", 30)
        wait_until(held[stolen].is_set, timeout=5, what="the stolen lease to be noticed")
        wait_until(lambda: store.leases.holder(kept)[1] > expires,
                   timeout=5, what="the kept lease to be renewed")
        assert not held[kept].is_set()
    assert store.leases.holder(kept) is None                   # released
    assert store.leases.holder(stolen)[0] == "thief"
    assert store.leases.holder(busy)[0] == "other"


def test_exclusive_is_a_conflict_while_another_process_holds_it(
        store: Store, tmp_path: Path) -> None:
    infra_id = _infra(store)
    go = tmp_path / "go"
    go.touch()
    other = _spawn("hold-exclusive", store.url, go, infra_id, stdin=subprocess.PIPE)
    try:
        _wait_line(other, "ready")
        _wait_line(other, "held")
        with pytest.raises(Conflict) as caught, exclusive(store, infra_id, "me", "destroy"):
            pytest.fail("entered a held lease")
        assert caught.value.exit_code == 75          # try again later: not bad input
        assert caught.value.http_status == 409
        assert f":{other.pid}:" in str(caught.value)
        assert f"cannot destroy infrastructure {infra_id}" in str(caught.value)
    finally:
        _, err = other.communicate(timeout=30)  # closing its stdin lets it finish
    assert other.returncode == 0, err
    assert store.leases.holder(infra_id) is None
    with exclusive(store, infra_id, "me", "destroy"):
        assert store.leases.holder(infra_id)[0] == "me"
    assert store.leases.holder(infra_id) is None

