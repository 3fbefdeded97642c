"""Firing: claimed once however many runners look, late within the grace, never twice.

The runners here get a clock of the test's own, so "an hour later" takes no time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.engine.triggers import ORPHAN_AFTER, RECOVER_EVERY, TriggerRunner, set_paused
from tests.support.wait import wait_until
from tests.triggers.conftest import Sims, make_sims

T0 = 2_000_000_000.0      # a whole second in 2033


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def runner(s: Sims, clock: Clock, started: list[str], groups: list[str] | None = None
           ) -> TriggerRunner:
    lock = threading.Lock()

    def run(execution_id: str) -> None:
        with lock:
            started.append(execution_id)

    return TriggerRunner(s.occo.store, run_execution=run,
                         run_group=(groups if groups is not None else []).append, clock=clock)


@pytest.fixture
def any_store(tmp_path: Path, store_url: str) -> Iterator[Sims]:
    yield from make_sims(tmp_path, store_url)


def test_racing_runners_claim_each_due_time_once(any_store: Sims) -> None:
    s = any_store
    s.occo.create_trigger("often", "maintain", infra_id=s.infra_id, interval=1,
                          first_time=T0)
    clock = Clock(T0 + 9.5)                     # ten times are due: T0 .. T0+9
    started: list[str] = []
    runners = [runner(s, clock, started) for _ in range(4)]
    barrier = threading.Barrier(len(runners))
    claimed: list[float] = []

    def look(r: TriggerRunner) -> None:
        barrier.wait()
        claimed.extend(f.fire_time for f in r.tick())

    threads = [threading.Thread(target=look, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runners:
        r.stop()
    assert sorted(claimed) == [T0 + k for k in range(10)]
    stored = sorted(f.fire_time for f in s.occo.trigger_firings("often"))
    assert stored == [T0 + k for k in range(10)]
    assert sorted(started) == sorted(f.execution_id for f in s.occo.trigger_firings("often"))
    assert s.occo.trigger("often").next_fire_time == T0 + 10


def test_late_firings_run_within_the_grace_and_older_ones_are_skipped_once(sims: Sims) -> None:
    s = sims
    s.occo.create_trigger("late", "scale", infra_id=s.infra_id,
                          parameters={"node": "worker", "set_to": 2}, interval=10,
                          first_time=T0, grace=30)
    clock, started = Clock(T0 + 95), []
    r = runner(s, clock, started)
    fired = [f.fire_time for f in r.tick()]      # down from T0 to T0+95: 10 times missed
    assert fired == [T0 + 70, T0 + 80, T0 + 90]  # those at most 30 s old, each once
    assert r.tick() == []
    (event,) = [e for e in s.occo.events(s.infra_id) if e.kind == "trigger_missed"]
    assert event.data == {"trigger": "late", "from": T0, "until": T0 + 70}
    clock.now = T0 + 100
    assert [f.fire_time for f in r.tick()] == [T0 + 100]
    r.stop()
    assert len(started) == 4
    execution = s.occo.execution(started[0])
    assert execution.creator == "trigger:late" and execution.workflow == "scale"
    assert execution.parameters == {"node": "worker", "set_to": 2, "fire_time": T0 + 70}


def test_count_last_time_and_pause(sims: Sims) -> None:
    s = sims
    s.occo.create_trigger("thrice", "maintain", infra_id=s.infra_id, interval=1,
                          first_time=T0, count=3)
    s.occo.create_trigger("until", "maintain", infra_id=s.infra_id, interval=1,
                          first_time=T0, last_time=T0 + 1)
    clock, started = Clock(T0 + 10), []
    r = runner(s, clock, started)
    fired = sorted((f.trigger_name, f.fire_time) for f in r.tick())
    assert fired == [("thrice", T0), ("thrice", T0 + 1), ("thrice", T0 + 2),
                     ("until", T0), ("until", T0 + 1)]
    assert [s.occo.trigger(n).next_fire_time for n in ("thrice", "until")] == [None, None]

    s.occo.create_trigger("paused", "maintain", infra_id=s.infra_id, interval=1,
                          first_time=T0 + 11)
    s.occo.pause_trigger("paused")
    clock.now = T0 + 20
    assert r.tick() == []
    # resuming continues from the next time: the times passed while paused are not fired
    resumed = set_paused(s.occo.store, "paused", False, now=clock.now)
    assert resumed.next_fire_time == T0 + 20
    assert [(f.trigger_name, f.fire_time) for f in r.tick()] == [("paused", T0 + 20)]
    r.stop()


def test_a_firing_claimed_by_a_process_that_died_is_run_by_another(sims: Sims) -> None:
    s = sims
    s.occo.create_trigger("orphan", "maintain", infra_id=s.infra_id, interval=60,
                          first_time=T0)
    clock = Clock(T0)
    dead = runner(s, clock, [])
    (firing,) = dead.tick()
    dead.stop()
    assert s.occo.execution(str(firing.execution_id)).status == "queued"
    clock.now = T0 + max(ORPHAN_AFTER, RECOVER_EVERY) + 1
    started: list[str] = []
    survivor = runner(s, clock, started)
    survivor.tick()
    survivor.stop()
    assert started == [firing.execution_id]


def test_a_group_target_starts_an_execution_group(sims: Sims) -> None:
    s = sims
    s.occo.create_infra_group("fleet")
    s.occo.add_to_infra_group("fleet", [s.infra_id])
    s.occo.create_trigger("fleet-check", "maintain", infra_group_id="fleet", interval=3600,
                          first_time=T0, concurrency=3)
    groups: list[str] = []
    r = runner(s, Clock(T0), [], groups)
    (firing,) = r.tick()
    r.stop()
    assert groups == [firing.execution_group_id]
    group = s.occo.execution_group(str(firing.execution_group_id))
    assert (group["created_by"], group["concurrency"], group["infra_group_id"]) == \
        ("trigger:fleet-check", 3, "fleet")
    (member,) = s.occo.group_executions(str(firing.execution_group_id))
    assert (member.infra_id, member.workflow, member.status) == (s.infra_id, "maintain",
                                                                  "queued")


def test_a_firing_is_one_execution_even_when_the_brake_holds_its_pass(sims: Sims) -> None:
    """A triggered maintain or scale is the pass: no second 'maintain' record beside it."""
    s = sims
    s.occo.scale(s.infra_id, "worker", set_to=6)
    s.occo.maintain([s.infra_id])
    for inst in s.occo.store.instances.for_infra(s.infra_id)[:4]:   # the cloud loses 4 of 6
        assert s.occo.store.dummy.remove(inst.resource_id)
    s.occo.create_trigger("check", "maintain", infra_id=s.infra_id, interval=60, first_time=T0)
    s.occo.create_trigger("grow", "scale", infra_id=s.infra_id, interval=60, first_time=T0,
                          parameters={"node": "worker", "change": 1})
    before = {e.id for e in s.occo.executions(s.infra_id)}
    r = TriggerRunner(s.occo.store, run_execution=s.occo.run_execution,
                      run_group=lambda _group: None, clock=Clock(T0))
    fired = r.tick()
    r.stop()
    new = [e for e in s.occo.executions(s.infra_id) if e.id not in before]
    assert sorted(e.id for e in new) == sorted(str(f.execution_id) for f in fired)
    assert sorted((e.workflow, e.creator) for e in new) == \
        [("maintain", "trigger:check"), ("scale", "trigger:grow")]
    assert all(e.ended_at is not None and e.report is not None for e in new)
    assert any(e.kind == "brake_engaged" for e in s.occo.events(s.infra_id))


def test_scale_update_and_destroy_firings_do_their_work(sims: Sims) -> None:
    """Each workflow a trigger names runs to its end, as its console script would."""
    s = sims
    updated = s.occo.build(s.tmp_path / "infra.yaml").infra_id
    doomed = s.occo.build(s.tmp_path / "infra.yaml").infra_id
    s.occo.create_trigger("grow", "scale", infra_id=s.infra_id, interval=60,
                          first_time=T0, parameters={"node": "worker", "set_to": 3})
    s.occo.create_trigger("refresh", "update", infra_id=updated, interval=60, first_time=T0)
    s.occo.create_trigger("tidy", "destroy", infra_id=doomed, interval=60, first_time=T0)
    r = TriggerRunner(s.occo.store, run_execution=s.occo.run_execution,
                      run_group=lambda _group: None, clock=Clock(T0))
    fired = {f.trigger_name: f for f in r.tick()}
    r.stop()
    done = {name: s.occo.execution(str(f.execution_id)) for name, f in fired.items()}
    assert {name: (e.workflow, e.status, e.creator) for name, e in done.items()} == {
        "grow": ("scale", "terminated", "trigger:grow"),
        "refresh": ("update", "terminated", "trigger:refresh"),
        "tidy": ("destroy", "terminated", "trigger:tidy")}
    assert len(s.occo.store.instances.for_infra(s.infra_id)) == 3
    assert {i.id for i in s.occo.list_infrastructures()} == {s.infra_id, updated}
    assert [t.name for t in s.occo.triggers()] == ["grow", "refresh"]
    assert s.occo.store.dummy.count() == 4       # 3 scaled + the updated one's


def test_a_scale_firing_applies_its_own_request(sims: Sims) -> None:
    """The request is recorded under the lease of the firing's own pass: a maintenance
    pass under way while the firing waits for the lease does not apply it instead."""
    s = sims
    s.occo.create_trigger("grow", "scale", infra_id=s.infra_id, interval=60, first_time=T0,
                          parameters={"node": "worker", "change": 2})
    elsewhere = s.occo.maintainer(holder="other-host:1:pass")
    assert s.occo.store.leases.acquire(s.infra_id, elsewhere.holder, ttl=60)  # under way
    r = TriggerRunner(s.occo.store, run_execution=s.occo.run_execution,
                      run_group=lambda _group: None, clock=Clock(T0))
    try:
        (fired,) = r.tick()
        wait_until(lambda: s.occo.execution(str(fired.execution_id)).status == "started",
                   what="the firing to wait for the lease")
        passed = elsewhere.pass_over(s.infra_id)     # the pass goes on, then lets go
    finally:
        r.stop()
    assert passed.created == 0 and passed.applied_requests == 0
    grown = s.occo.execution(str(fired.execution_id))
    assert grown.status == "terminated"
    created_by = [i.execution_id for i in s.occo.store.instances.for_infra(s.infra_id)]
    assert created_by.count(grown.id) == 2
