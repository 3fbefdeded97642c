"""A real occo store, a real waitress server on a free port, a real HTTP client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from occo.api import Occo
from occo.config import Config
from occo.rest import RestService, ServiceSettings
from tests.support.wait import wait_until

DATA = Path(__file__).parent / "data"
CLUSTER = (DATA / "cluster.yaml").read_text()


@dataclass
class Running:
    """A service serving in a thread, and a client pointed at it."""

    service: RestService
    thread: threading.Thread
    url: str
    http: requests.Session

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=30, **kwargs)

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(60)
        self.http.close()
        assert not self.thread.is_alive(), "the service did not stop"

    def build(self, text: str = CLUSTER) -> str:
        """POST a description and wait until every instance is ready."""
        answer = self("POST", "/infrastructures/", data=text,
                      headers={"Content-Type": "application/x-yaml"})
        assert answer.status_code == 201, answer.text
        infra_id = answer.json()["infraid"]
        wait_until(lambda: self.ready(infra_id) and self.build_ended(infra_id))
        return infra_id

    def build_ended(self, infra_id: str) -> bool:
        """The build's execution is over (its lease released, its report written)."""
        runs = self("GET", f"/executions?infra_id={infra_id}").json()["executions"]
        return bool(runs) and all(run["ended_at"] is not None for run in runs)

    def ready(self, infra_id: str) -> bool:
        answer = self("GET", f"/infrastructures/{infra_id}")
        if answer.status_code != 200 or answer.headers["X-Occo-State"] != "ready":
            return False
        return all(inst["state"] == "ready" for node in answer.json().values()
                   for inst in node["instances"].values())

    def count(self, infra_id: str, node: str) -> int:
        return int(self("GET", f"/infrastructures/{infra_id}").json()[node]["scaling"]["actual"])


def start(occo: Occo, **settings: Any) -> Running:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "maintain": False,
                              "grace": 10.0, "notify_poll": 0.05}
    values.update(settings)
    service = RestService(occo, ServiceSettings(**values))
    thread = threading.Thread(target=service.serve, name="rest-test-server", daemon=True)
    thread.start()
    return Running(service, thread, service.urls[0], requests.Session())


@pytest.fixture
def occo(tmp_path: Path) -> Iterator[Occo]:
    api = Occo(Config(home=tmp_path / "home", concurrency=20))
    api.import_node_definitions(DATA / "nodes.yaml")
    yield api
    api.close()


@pytest.fixture
def rest(occo: Occo) -> Iterator[Running]:
    running = start(occo)
    yield running
    running.stop()


@pytest.fixture
def start_service() -> Iterator[Callable[..., Running]]:
    """Start more services (e.g. with other settings, or a restart); all stopped after."""
    started: list[Running] = []

    def _start(api: Occo, **settings: Any) -> Running:
        running = start(api, **settings)
        started.append(running)
        return running

    yield _start
    for running in started:
        if running.thread.is_alive():
            running.stop()


@pytest.fixture
def cluster() -> str:
    return CLUSTER


@pytest.fixture
def maintain(occo: Occo) -> Callable[[str], None]:
    """One maintenance pass that really ran (retried while a lease is still being let go)."""
    def _pass(infra_id: str) -> None:
        wait_until(lambda: not occo.maintain([infra_id])[0].skipped)
    return _pass
