"""occo.store.quick answers the quick queries exactly as the Store does, and steps
aside for any store it cannot read as is."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.errors import NotFound
from occo.store.quick import QuickStore
from occo.store.store import Store
from tests.support.cli import write

NODE_DEFS = "'node_def:sim':\n  - resource: {type: dummy}\n"
INFRA = """
infra_name: twins
variables: {colour: blue}
nodes:
  - &H {name: head, type: sim}
  - &W {name: worker, type: sim, scaling: {min: 2, max: 4}}
dependencies:
  - [*W, *H]
"""


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[tuple[Store, QuickStore, list[str]]]:
    """Two built infrastructures (one labelled, one scaled down by a pass), both ways."""
    home = tmp_path / "home"
    with Occo(Config(home=home)) as occo:
        occo.import_node_definitions(write(tmp_path / "d.yaml", NODE_DEFS))
        ids = [occo.build(write(tmp_path / "i.yaml", INFRA)).infra_id for _ in range(2)]
        occo.label_infrastructure(ids[0], {"team": "red"})
        occo.scale(ids[1], "worker", change=-1)
        occo.maintain([ids[1]])
    url = f"sqlite:///{home / 'occopus.db'}"
    store, quick = Store(url), QuickStore.open(url)
    assert quick is not None
    try:
        yield store, quick, ids
    finally:
        quick.close()
        store.close()


def test_the_same_answers_as_the_store(populated: tuple[Store, QuickStore, list[str]]) -> None:
    store, quick, ids = populated
    assert quick.infras.list() == store.infras.list()
    for infra_id in ids:
        assert quick.infras.get(infra_id) == store.infras.get(infra_id)
        assert quick.infras.nodes(infra_id) == store.infras.nodes(infra_id)
        assert quick.instances.briefs(infra_id) == store.instances.briefs(infra_id)
        assert quick.events.recent(infra_id=infra_id, limit=3) == \
            store.events.recent(infra_id=infra_id, limit=3)
        worker = store.instances.for_infra(infra_id, node_name="worker")[0]
        for key in (worker.id, worker.address):
            assert quick.instances.find(infra_id, "worker", str(key)) == \
                store.instances.find(infra_id, "worker", str(key))
    assert quick.events.recent(limit=500) == store.events.recent(limit=500)
    for ask in (lambda s: s.infras.get("nope"),
                lambda s: s.instances.find(ids[0], "worker", "10.9.9.9")):
        with pytest.raises(NotFound) as by_quick:
            ask(quick)
        with pytest.raises(NotFound) as by_store:
            ask(store)
        assert str(by_quick.value) == str(by_store.value)


def test_a_request_recorded_quickly_is_the_stores(
        populated: tuple[Store, QuickStore, list[str]]) -> None:
    store, quick, ids = populated
    request_id = quick.scaling.add(ids[0], "worker", "change", 2)
    (recorded,) = [r for r in store.scaling.all(ids[0]) if r.id == request_id]
    assert (recorded.node_name, recorded.kind, recorded.count, recorded.applied_at) == \
        ("worker", "change", 2, None)
    with pytest.raises(sqlite3.IntegrityError):           # the store's own constraints hold
        quick.scaling.add("no-such-infra", "worker", "change", 1)


def test_steps_aside_for_what_it_cannot_read_as_is(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    assert QuickStore.open(f"sqlite:///{fresh}") is None        # missing: the Store creates it
    assert not fresh.exists()
    write(tmp_path / "text.db", "not a database")
    assert QuickStore.open(f"sqlite:///{tmp_path / 'text.db'}") is None
    for url in ("postgresql://occo@localhost/occo", "sqlite://", f"sqlite:///{fresh}?mode=ro"):
        assert QuickStore.open(url) is None
    old = tmp_path / "old.db"
    Store(f"sqlite:///{old}").close()
    with sqlite3.connect(old) as conn:                     # as left by an older occo
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert QuickStore.open(f"sqlite:///{old}") is None       # the Store migrates it first


def test_the_api_uses_it_until_the_store_is_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Occo(Config(home=home)) as occo:
        occo.import_node_definitions(write(tmp_path / "d.yaml", NODE_DEFS))
        infra_id = occo.build(write(tmp_path / "i.yaml", INFRA)).infra_id
    with Occo(Config(home=home)) as occo:
        assert [i.id for i in occo.list_infrastructures()] == [infra_id]
        occo.scale(infra_id, "worker", set_to=3)
        assert occo.report(infra_id)["worker"]["scaling"]["actual"] == 2
        occo.maintain([infra_id])                          # the Store opens for this
        assert occo.report(infra_id)["worker"]["scaling"]["actual"] == 3
