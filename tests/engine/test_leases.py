"""Leases that cannot be lost silently: a lost lease stops the work that held it,
and expiry is the database's time, not a client's clock."""

from __future__ import annotations

import glob
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.engine.leasing import held_lease
from occo.errors import LeaseLost
from occo.model.states import ExecutionStatus, InfraState
from occo.store.store import Store
from tests.support.wait import wait_until

DEFS = """
'node_def:slow':
  - resource: {type: dummy, create_delay: 0.6, boot_delay: 0.0}
"""
INFRA = """
infra_name: leased
nodes:
  - &A {name: first, type: slow}
  - &B {name: second, type: slow, scaling: {min: 2}}
dependencies:
  - [*B, *A]
"""
ELSEWHERE = "another-machine:4242:0123abcd"


def test_a_build_whose_lease_is_taken_stops_and_touches_nothing(tmp_path: Path) -> None:
    occo = Occo(Config(home=tmp_path / "home", concurrency=10, lease_ttl=1.5))
    try:
        (tmp_path / "d.yaml").write_text(DEFS)
        (tmp_path / "i.yaml").write_text(INFRA)
        occo.import_node_definitions(tmp_path / "d.yaml")
        ids: list[str] = []
        outcome: list[BaseException] = []

        def build() -> None:
            try:
                occo.build(tmp_path / "i.yaml", parallelize=True, on_infra_id=ids.append)
            except BaseException as exc:  # inspected by the test
                outcome.append(exc)

        thread = threading.Thread(target=build)
        thread.start()
        try:
            wait_until(lambda: ids and any(i.state == "creating"
                                           for i in occo.store.instances.for_infra(ids[0])),
                       timeout=20, what="the build to be creating")
            infra_id = ids[0]
            held = occo.store.leases.holder(infra_id)
            assert held is not None
            # Another machine takes the lease over (its holder looked dead from there).
            assert occo.store.leases.take_over(infra_id, held[0], ELSEWHERE, 60)
        finally:
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], LeaseLost), outcome
        execution = occo.executions(infra_id)[0]
        assert execution.status == ExecutionStatus.CANCELLED
        assert "lost the lease" in (execution.error or "")
        # Nothing rolled back, no state written over the new holder's, lease not released.
        assert occo.infrastructure(infra_id).state == InfraState.BUILDING
        assert all(i.node_name == "first" for i in occo.store.instances.for_infra(infra_id)
                   if i.state != "pending")
        assert occo.store.leases.holder(infra_id)[0] == ELSEWHERE

        occo.store.leases.release(infra_id, ELSEWHERE)
        occo.destroy(infra_id)
        assert occo.store.dummy.count() == 0
    finally:
        occo.close()


HOLD = """
import sys
from occo.store.store import Store
store = Store(sys.argv[1])
print("held" if store.leases.acquire("skewed", "slow-clock:1:a", 30.0) else "refused",
      flush=True)
sys.stdin.read()
store.close()
"""


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        pytest.fail("libfaketime is missing: apt-get install faketime (.ci/run does)",
                    pytrace=False)
    return found[0]


def test_a_client_clock_an_hour_behind_cannot_share_a_lease(pg_store_url: str,
                                                            tmp_path: Path) -> None:
    Store(pg_store_url).close()   # migrated once, before the skewed process opens it
    env = {"LD_PRELOAD": _libfaketime(), "FAKETIME": "-1h", "PATH": "/usr/bin:/bin"}
    skewed = subprocess.Popen([sys.executable, "-c", HOLD, pg_store_url], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    store = Store(pg_store_url)
    try:
        assert skewed.stdout is not None
        assert skewed.stdout.readline().strip() == "held"
        # Its lease was written to last 30 s of the database's time, not to have
        # expired an hour ago by this machine's clock.
        assert not store.leases.acquire("skewed", "right-clock:2:b", 30.0)
        assert store.leases.holder("skewed")[0] == "slow-clock:1:a"
    finally:
        store.close()
        try:
            skewed.communicate(timeout=30)   # end of stdin: it lets go and exits
        finally:
            if skewed.poll() is None:
                skewed.kill()
                skewed.wait()


def _server_log(store: Store) -> Path:
    """The log of this session's PostgreSQL server (beside its data directory)."""
    with store.read() as conn:
        data = Path(str(conn.exec_driver_sql("SHOW data_directory").scalar()))
    return data.parent / "server.log"


def test_a_renewal_the_store_refuses_once_is_retried(pg_store_url: str) -> None:
    store, admin = Store(pg_store_url), Store(pg_store_url)
    try:
        with held_lease(store, "busy", "me:1:a", ttl=6.0) as lost:
            assert lost is not None
            log = _server_log(admin)
            seen = log.stat().st_size
            with admin.write() as conn:        # the lease table vanishes for a while
                conn.exec_driver_sql("ALTER TABLE leases RENAME TO leases_away")
            try:
                # a renewal (every 2 s) failed: the server logged its error
                wait_until(lambda: 'relation "leases" does not exist'
                           in log.read_bytes()[seen:].decode(errors="replace"),
                           timeout=10, what="a renewal to fail")
            finally:
                with admin.write() as conn:
                    conn.exec_driver_sql("ALTER TABLE leases_away RENAME TO leases")
            assert not lost.is_set()
            held = wait_until(lambda: store.leases.holder("busy"), what="the lease row")
            assert held[0] == "me:1:a"
            renewed = held[1]
            # renewing goes on (the next renewal moves the expiry) and the lease is kept
            wait_until(lambda: store.leases.holder("busy")[1] > renewed,
                       timeout=10, what="a later renewal")
            assert not lost.is_set()
    finally:
        store.close()
        admin.close()
