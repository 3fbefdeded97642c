"""The plugin registry creates each handler once, however many threads ask."""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint
from pathlib import Path

from occo.registry import RESOURCE_GROUP, PluginRegistry
from occo.resources.base import HandlerEnv
from occo.store.store import Store
from tests.support.plugins import SlowToCreateHandler


def test_concurrent_first_use_creates_one_handler(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'occo.db'}")
    try:
        registry = PluginRegistry(HandlerEnv(home=tmp_path, store=store, auth_data=None))
        point = EntryPoint(name="slow", group=RESOURCE_GROUP,
                           value="tests.support.plugins:SlowToCreateHandler")
        registry._group(RESOURCE_GROUP)["slow"] = point   # a plugin installed by a third party
        before = SlowToCreateHandler.created
        start = threading.Barrier(8)
        got: list[object] = []

        def ask() -> None:
            start.wait()
            got.append(registry.handler("slow"))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert SlowToCreateHandler.created - before == 1
        assert len({id(h) for h in got}) == 1 and len(got) == 8
    finally:
        store.close()
