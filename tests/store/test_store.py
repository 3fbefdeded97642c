"""The store's repositories, each test run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from occo.errors import IllegalTransition, NotFound
from occo.model.states import ExecutionStatus, InfraState, InstanceState
from occo.store.migrate import HEAD_REVISION, MIGRATIONS
from occo.store.records import NodeRecord, TaskRecord
from occo.store.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url)
    yield opened
    opened.close()


def make_infra(store: Store, name: str = "cluster") -> str:
    infra_id = str(uuid.uuid4())
    store.infras.create(infra_id, name, "me@example.org",
                        {"infra_name": name, "nodes": [{"name": "web", "type": "t"}],
                         "variables": {"greeting": "héllo ✓"}},
                        "infra.yaml", [
                            NodeRecord(infra_id, "web", "t", 1, 3, 2, {"name": "web"},
                                       {"resource": {"type": "dummy"}}),
                            NodeRecord(infra_id, "db", "t", 1, 1, 1, {"name": "db"}, None)])
    return infra_id


def add_instances(store: Store, infra_id: str, *ids: str, node: str = "web") -> None:
    store.instances.add_intents([{"id": i, "infra_id": infra_id, "node_name": node,
                                  "resource_type": "dummy", "resource_config": {"k": 1}}
                                 for i in ids])


# -- migrations ------------------------------------------------------------------------

OPEN_AND_REPORT = (
    "import sys; from occo.store.store import Store; s = Store(sys.argv[1]); "
    "print('alembic' in sys.modules); s.close()")


def _open_in_fresh_process(url: str) -> bool:
    """Open the store in a new interpreter; whether Alembic had to be loaded."""
    done = subprocess.run([sys.executable, "-c", OPEN_AND_REPORT, url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {"True\n": True, "False\n": False}[done.stdout]


def test_first_open_creates_the_schema_and_second_open_is_a_noop(store_url: str) -> None:
    assert _open_in_fresh_process(store_url) is False  # a new store needs no migration
    store = Store(store_url)
    infra_id = make_infra(store)
    with store.read() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    store.close()
    assert versions == [HEAD_REVISION]

    assert _open_in_fresh_process(store_url) is False  # no Alembic, no migration
    again = Store(store_url)
    assert again.infras.get(infra_id).name == "cluster"  # data untouched
    with again.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() \
            == [HEAD_REVISION]
    again.close()


def test_head_revision_constant_matches_the_newest_migration() -> None:
    """HEAD_REVISION short-cuts the upgrade; a new migration must move it too."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD_REVISION]


def test_times_keep_sub_second_precision(store: Store) -> None:
    """Lease expiries and timings are floats; a 4-byte float would round to minutes."""
    before = time.time()
    infra_id = make_infra(store)
    created = store.infras.get(infra_id).created_at
    assert before <= created <= time.time()
    start = time.time()
    assert store.leases.acquire(infra_id, "h", 10.0)
    end = time.time()
    held = store.leases.holder(infra_id)   # exact to well under a second, however slow
    # database time: SQLite's is the machine's, to the millisecond
    assert held is not None and start + 10.0 - 0.001 <= held[1] <= end + 10.0


# -- node definitions ------------------------------------------------------------------

def test_reimporting_a_node_type_replaces_its_implementations(store: Store) -> None:
    first = [{"resource": {"type": "dummy", "n": 1}}, {"resource": {"type": "dummy", "n": 2}}]
    store.node_defs.replace({"web": first, "db": [{"resource": {"type": "local"}}]}, "a.yaml")
    assert store.node_defs.get("web") == first
    store.node_defs.replace({"web": [{"resource": {"type": "nova", "n": 3}}]}, "b.yaml")
    assert store.node_defs.get("web") == [{"resource": {"type": "nova", "n": 3}}]
    assert store.node_defs.get("db") == [{"resource": {"type": "local"}}]  # untouched
    assert store.node_defs.types() == {"web", "db"}
    assert list(store.node_defs.all()) == ["db", "web"]

    store.node_defs.delete("db")
    assert store.node_defs.types() == {"web"}
    with pytest.raises(NotFound, match="unknown node type 'db'"):
        store.node_defs.get("db")
    with pytest.raises(NotFound):
        store.node_defs.delete("db")


# -- infrastructures -------------------------------------------------------------------

def test_infrastructure_round_trip_and_listing(store: Store) -> None:
    first = make_infra(store, "first")
    second = make_infra(store, "second")
    record = store.infras.get(first)
    assert (record.name, record.user_id, record.state) == \
        ("first", "me@example.org", InfraState.BUILDING)
    assert record.description["variables"] == {"greeting": "héllo ✓"}
    assert [i.id for i in store.infras.list()] == [first, second]
    nodes = {n.name: n for n in store.infras.nodes(first)}
    assert (nodes["web"].min, nodes["web"].max, nodes["web"].target) == (1, 3, 2)
    assert nodes["web"].implementation == {"resource": {"type": "dummy"}}
    assert nodes["db"].implementation is None

    store.infras.set_target(first, "web", 3)
    assert {n.name: n.target for n in store.infras.nodes(first)}["web"] == 3
    store.infras.set_state(first, InfraState.READY)
    assert store.infras.get(first).state == InfraState.READY


def test_deleting_an_infrastructure_removes_everything_hanging_off_it(store: Store) -> None:
    doomed, kept = make_infra(store), make_infra(store)
    add_instances(store, doomed, "d-1", "d-2")
    add_instances(store, kept, "k-1")
    store.scaling.add(doomed, "web", "change", 1)
    store.scaling.add(kept, "web", "change", 1)
    assert store.leases.acquire(doomed, "me", 30)
    store.events.add("built", "done", infra_id=doomed)

    store.infras.delete(doomed)

    assert not store.infras.exists(doomed)
    with pytest.raises(NotFound):
        store.infras.get(doomed)
    assert store.infras.nodes(doomed) == []
    assert store.instances.for_infra(doomed, include_destroyed=True) == []
    assert store.scaling.all(doomed) == []
    assert store.leases.holder(doomed) is None
    assert "built" in [e.kind for e in store.events.recent(infra_id=doomed)]  # kept
    # The other infrastructure is untouched.
    assert [i.id for i in store.instances.for_infra(kept)] == ["k-1"]
    assert len(store.scaling.all(kept)) == 1
    assert len(store.infras.nodes(kept)) == 2


def test_unknown_ids_are_not_found(store: Store) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=f"unknown infrastructure id '{missing}'"):
        store.infras.get(missing)
    with pytest.raises(NotFound):
        store.infras.set_state(missing, InfraState.READY)
    with pytest.raises(NotFound, match="unknown instance id"):
        store.instances.get(missing)
    with pytest.raises(NotFound):
        store.instances.transition(missing, InstanceState.CREATING)
    with pytest.raises(NotFound, match="unknown execution id"):
        store.executions.get(missing)
    with pytest.raises(NotFound):
        store.executions.finish(missing, ExecutionStatus.TERMINATED)
    infra_id = make_infra(store)
    with pytest.raises(NotFound, match="no instance with id or address 'nope'"):
        store.instances.find(infra_id, "web", "nope")
    assert not store.infras.exists(missing)


def test_an_illegal_infrastructure_transition_is_refused(store: Store) -> None:
    infra_id = make_infra(store)
    store.infras.set_state(infra_id, InfraState.DESTROYING)
    store.infras.set_state(infra_id, InfraState.DESTROYED)
    with pytest.raises(IllegalTransition, match="from destroyed to ready"):
        store.infras.set_state(infra_id, InfraState.READY)
    assert store.infras.get(infra_id).state == InfraState.DESTROYED


# -- instances -------------------------------------------------------------------------

def test_instances_follow_the_state_machine(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, "i-1")
    intent = store.instances.get("i-1")
    assert intent.state == InstanceState.PENDING and intent.resource_id is None

    store.instances.transition("i-1", InstanceState.CREATING)
    store.instances.transition("i-1", InstanceState.BOOTING, resource_id="r-1")
    store.instances.transition("i-1", InstanceState.READY, address="10.0.0.7",
                               ready_at=time.time())
    ready = store.instances.get("i-1")
    assert (ready.state, ready.resource_id, ready.address) == \
        (InstanceState.READY, "r-1", "10.0.0.7")
    assert ready.state_since >= intent.state_since
    assert store.instances.find(infra_id, "web", "10.0.0.7").id == "i-1"
    assert store.instances.find(infra_id, "web", "i-1").id == "i-1"
    store.instances.transition("i-1", InstanceState.READY)  # same state: allowed


def test_an_illegal_instance_transition_raises_and_changes_nothing(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, "i-1")
    before = store.instances.get("i-1")
    with pytest.raises(IllegalTransition, match="cannot go from pending to ready"):
        store.instances.transition("i-1", InstanceState.READY, address="10.0.0.9",
                                   reason="should not stick")
    assert store.instances.get("i-1") == before


def test_transition_many_is_all_or_nothing(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, "i-1", "i-2", "i-3")
    store.instances.transition("i-3", InstanceState.DESTROYED)
    with pytest.raises(IllegalTransition):
        store.instances.transition_many([
            ("i-1", InstanceState.CREATING, {"reason": "first"}),
            ("i-2", InstanceState.FAILED, {"reason": "second"}),
            ("i-3", InstanceState.CREATING, {}),  # destroyed is final
        ])
    assert [(i.id, i.state, i.reason) for i in
            store.instances.for_infra(infra_id, include_destroyed=True)] == [
        ("i-1", InstanceState.PENDING, None), ("i-2", InstanceState.PENDING, None),
        ("i-3", InstanceState.DESTROYED, None)]

    store.instances.transition_many([("i-1", InstanceState.CREATING, {"reason": "first"}),
                                     ("i-2", InstanceState.FAILED, {"reason": "second"})])
    assert {i.id: i.state for i in store.instances.for_infra(infra_id)} == {
        "i-1": InstanceState.CREATING, "i-2": InstanceState.FAILED}


def test_a_batch_keeps_each_instances_changes_in_order(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, *(f"i-{n}" for n in range(6)))
    # Mixed shapes, and one instance moved twice: creating must land before booting.
    store.instances.transition_many(
        [(f"i-{n}", InstanceState.CREATING, {"resource_config": {"n": n}}) for n in range(6)]
        + [("i-0", InstanceState.BOOTING, {"resource_id": "r-0", "resource_data": {"a": 1}}),
           ("i-5", InstanceState.FAILED, {"reason": "gave up"})])
    got = {i.id: i for i in store.instances.for_infra(infra_id)}
    assert got["i-0"].state == InstanceState.BOOTING and got["i-0"].resource_id == "r-0"
    assert got["i-0"].resource_data == {"a": 1} and got["i-0"].resource_config == {"n": 0}
    assert got["i-5"].state == InstanceState.FAILED and got["i-5"].reason == "gave up"
    assert {got[f"i-{n}"].state for n in range(1, 5)} == {InstanceState.CREATING}


def test_a_lenient_batch_returns_what_it_refused_and_keeps_the_rest(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, "i-1", "i-2", "i-3")
    store.instances.transition("i-2", InstanceState.DESTROYED)
    with store.write() as conn:
        refused = store.instances.transition_batch(conn, [
            ("i-1", InstanceState.DESTROYED, {}), ("i-2", InstanceState.CREATING, {}),
            ("i-3", InstanceState.DESTROYED, {}), ("i-9", InstanceState.DESTROYED, {})],
            strict=False)
    assert sorted(refused) == [("i-2", "instance i-2 cannot go from destroyed to creating"),
                               ("i-9", "unknown instance id 'i-9'")]
    assert {i.id: i.state for i in store.instances.for_infra(infra_id, include_destroyed=True)} \
        == {"i-1": InstanceState.DESTROYED, "i-2": InstanceState.DESTROYED,
            "i-3": InstanceState.DESTROYED}


def test_destroyed_instances_are_hidden_unless_asked_for(store: Store) -> None:
    infra_id = make_infra(store)
    add_instances(store, infra_id, "w-1", "w-2")
    add_instances(store, infra_id, "d-1", node="db")
    store.instances.transition("w-2", InstanceState.DESTROYED)
    assert {i.id for i in store.instances.for_infra(infra_id)} == {"w-1", "d-1"}
    assert [i.id for i in store.instances.for_infra(infra_id, node_name="web")] == ["w-1"]
    assert len(store.instances.for_infra(infra_id, include_destroyed=True)) == 3
    assert {i.id for i in store.instances.for_infras([infra_id])} == {"w-1", "d-1"}
    store.instances.update_fields("w-1", unhealthy_since=123.5)
    assert store.instances.get("w-1").unhealthy_since == 123.5


# -- scaling requests, events, executions, dummy resources -----------------------------

def test_scaling_requests_stay_pending_until_applied_in_order(store: Store) -> None:
    infra_id = make_infra(store)
    first = store.scaling.add(infra_id, "web", "change", 2)
    second = store.scaling.add(infra_id, "web", "set", 1)
    third = store.scaling.add(infra_id, "web", "drop", None, target_instance="10.0.0.7")
    assert first < second < third
    with store.write() as conn:
        pending = store.scaling.pending(infra_id, conn)
        assert [(r.id, r.kind, r.count, r.target_instance) for r in pending] == [
            (first, "change", 2, None), (second, "set", 1, None),
            (third, "drop", None, "10.0.0.7")]
        store.scaling.mark_applied(conn, first, "target 2 -> 3")
    with store.write() as conn:
        assert [r.id for r in store.scaling.pending(infra_id, conn)] == [second, third]
    applied = store.scaling.all(infra_id)[0]
    assert applied.outcome == "target 2 -> 3" and applied.applied_at is not None


def test_a_failed_transaction_applies_no_request(store: Store) -> None:
    infra_id = make_infra(store)
    request = store.scaling.add(infra_id, "web", "change", 1)
    with pytest.raises(RuntimeError), store.write() as conn:
        store.scaling.mark_applied(conn, request, "applied")
        raise RuntimeError("pass crashed")
    with store.write() as conn:
        assert [r.id for r in store.scaling.pending(infra_id, conn)] == [request]


def test_pending_requests_can_be_read_while_a_pass_applies_them(store: Store) -> None:
    """A maintainer checking for work is not blocked by another one applying it."""
    from concurrent.futures import ThreadPoolExecutor

    infra_id = make_infra(store)
    request = store.scaling.add(infra_id, "web", "change", 1)

    def look() -> list[int]:
        with store.read() as conn:
            return [r.id for r in store.scaling.pending(infra_id, conn)]

    pool = ThreadPoolExecutor(1)
    try:
        with store.write() as conn:
            assert [r.id for r in store.scaling.pending(infra_id, conn)] == [request]
            assert pool.submit(look).result(timeout=10) == [request]
            store.scaling.mark_applied(conn, request, "applied")
    finally:
        pool.shutdown(wait=False)
    assert look() == []


def test_events_are_kept_in_order(store: Store) -> None:
    infra_id, other = make_infra(store), make_infra(store)
    for n in range(60):
        store.events.add("step", f"event {n}", infra_id=infra_id, data={"n": n})
    store.events.add("elsewhere", "other infra", infra_id=other)
    recent = [e for e in store.events.recent(infra_id=infra_id, limit=1000) if e.kind == "step"]
    assert [e.message for e in recent] == [f"event {n}" for n in range(60)]
    assert [e.data for e in recent][:2] == [{"n": 0}, {"n": 1}]
    assert all(a.time <= b.time for a, b in itertools.pairwise(recent))
    assert [e.message for e in store.events.recent(infra_id=infra_id, limit=3)] == \
        ["event 57", "event 58", "event 59"]
    assert store.events.recent(limit=1)[0].message == "other infra"  # newest of all
    assert [e.message for e in store.events.recent(infra_id=other)][-1] == "other infra"


def test_a_batch_of_events_is_kept_in_order(store: Store) -> None:
    infra_id = make_infra(store)
    with store.write() as conn:
        store.events.add_many(conn, [("made", f"instance {n}") for n in range(300)],
                              infra_id=infra_id, execution_id="e-1")
    recent = store.events.recent(execution_id="e-1", limit=1000)
    assert [e.message for e in recent] == [f"instance {n}" for n in range(300)]
    assert {(e.kind, e.infra_id) for e in recent} == {("made", infra_id)}


def test_executions_finish_through_a_transition_check(store: Store) -> None:
    infra_id = make_infra(store)
    store.executions.create("e-1", infra_id, "build", {"parallelize": True}, creator="cli")
    started = store.executions.get("e-1")
    assert started.status == ExecutionStatus.STARTED and started.ended_at is None
    store.executions.save_tasks([
        TaskRecord("e-1", f"i-{n}", "web", "create", "ready", 1.0, 2.0, 3.0, 4.0, None)
        for n in range(3)])
    store.executions.finish("e-1", ExecutionStatus.TERMINATED, report={"nodes": {"web": 3}})

    done = store.executions.get("e-1")
    assert done.status == ExecutionStatus.TERMINATED and done.ended_at is not None
    assert done.report == {"nodes": {"web": 3}}
    assert done.parameters == {"parallelize": True}
    assert [t.instance_id for t in store.executions.tasks("e-1")] == ["i-0", "i-1", "i-2"]
    with pytest.raises(IllegalTransition, match="from terminated to failed"):
        store.executions.finish("e-1", ExecutionStatus.FAILED, error="too late")
    assert store.executions.get("e-1") == done

    store.executions.create("e-2", infra_id, "destroy", {}, status=ExecutionStatus.PENDING)
    assert store.executions.get("e-2").started_at is None
    store.executions.finish("e-2", ExecutionStatus.CANCELLED)
    assert {e.id for e in store.executions.list(infra_id=infra_id)} == {"e-1", "e-2"}


def test_dummy_resources_can_be_counted(store: Store) -> None:
    assert store.dummy.count() == 0
    for n in range(3):
        store.dummy.add(f"r-{n}", f"i-{n}", 1.0, 2.0, n == 2, f"10.0.0.{n}")
    assert store.dummy.count() == 3
    assert store.dummy.get_many(["r-0", "r-2", "gone"]) == {
        "r-0": (2.0, False, "10.0.0.0"), "r-2": (2.0, True, "10.0.0.2")}
    assert store.dummy.remove("r-1") is True
    assert store.dummy.remove("r-1") is False
    assert store.dummy.count() == 2


def test_writes_from_many_threads_are_each_committed_once(store: Store) -> None:
    """The dummy's writes are group-committed: every caller returns after its own
    row is in, and a failing batch reaches every caller in it."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda n: store.dummy.add(f"r-{n}", f"i-{n}", 1.0, 2.0, False, "a"),
                      range(200)))
        assert store.dummy.count() == 200
        removed = list(pool.map(store.dummy.remove, [f"r-{n}" for n in range(0, 200, 2)]))
    assert removed == [True] * 100 and store.dummy.count() == 100
    with pytest.raises(IntegrityError):   # the same id again: that caller sees the error
        store.dummy.add("r-1", "i-1", 1.0, 2.0, False, "a")
    assert store.dummy.count() == 100


def test_sqlite_store_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'home' / 'occopus.db'}"
    store = Store(url)
    assert store.infras.list() == []
    store.close()
    assert (tmp_path / "new" / "home" / "occopus.db").is_file()


def test_plain_postgresql_urls_use_psycopg_3(pg_store_url: str) -> None:
    """Users write postgresql://; occo needs no psycopg2 for it."""
    store = Store(pg_store_url.replace("postgresql+psycopg://", "postgresql://"))
    assert store.engine.dialect.driver == "psycopg"
    assert store.infras.list() == []
    store.close()


def test_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    """tables.py and the migrations agree (a column changed in one only is caught):
    a store migrated from nothing is what a new store is created as."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from occo.store.db import make_engine
    from occo.store.migrate import alembic_config
    from occo.store.tables import metadata

    engine = make_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                == HEAD_REVISION
    finally:
        engine.dispose()


def test_an_old_store_is_upgraded_with_its_data(store_url: str) -> None:
    """A store made by the first release opens with the current code and keeps its rows."""
    from alembic import command

    from occo.store.db import make_engine
    from occo.store.migrate import alembic_config

    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO dummy_resources (id, instance_id, created_at, ready_at, "
                          "failed, address) VALUES ('old', 'i', 1, 2, false, '10.0.0.1')"))
    engine.dispose()

    store = Store(store_url)
    assert store.dummy.get_many(["old"]) == {"old": (2.0, False, "10.0.0.1")}
    store.dummy.add(f"dummy-{uuid.uuid4()}", "i-2", 1.0, 2.0, False, "10.0.0.2")
    assert store.dummy.count() == 2
    with store.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == HEAD_REVISION
    store.close()


def test_a_store_dropped_without_close_leaves_no_connection_open(pg_store_url: str) -> None:
    import gc

    dropped = Store(pg_store_url)
    dropped.infras.list()
    del dropped
    gc.collect()
    watcher = Store(pg_store_url)
    with watcher.read() as conn:
        others = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    watcher.close()
    assert others == 0
