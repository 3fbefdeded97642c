"""Hostile bodies: 400 JSON naming ``<request>:line:col``, nothing recorded, no 500.

In-process through Flask's test client: the subject is the answer, not HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from occo.api import Occo
from occo.config import Config
from occo.rest import ServiceSettings, create_app
from tests.rest.conftest import DATA
from tests.support import hostile


@pytest.fixture(scope="module")
def occo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Occo]:
    """One store for the module: every test checks that nothing was recorded in it."""
    api = Occo(Config(home=tmp_path_factory.mktemp("hostile") / "home"))
    api.import_node_definitions(DATA / "nodes.yaml")
    yield api
    api.close()


@pytest.fixture(scope="module")
def client(occo: Occo) -> FlaskClient:
    return create_app(occo, ServiceSettings(maintain=False)).test_client()


def located_400(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 400, answer.get_data(as_text=True)
    body = answer.get_json()
    assert set(body) >= {"error", "message", "location"}, body
    assert body["location"]["source"] == "<request>"
    assert "\n" not in body["message"] and "Traceback" not in body["message"]
    return dict(body)


def nothing_recorded(occo: Occo) -> None:
    assert occo.list_infrastructures() == []
    assert occo.executions() == []
    assert occo.store.dummy.count() == 0


@pytest.mark.parametrize("name", sorted(hostile.DESCRIPTIONS))
def test_hostile_descriptions_are_400_with_a_position(client: FlaskClient, occo: Occo,
                                                      name: str) -> None:
    body = hostile.DESCRIPTIONS[name]
    for path in ("/infrastructures/", "/validate"):
        for content_type in ("application/x-yaml", "text/plain"):
            located_400(client.post(path, data=body, content_type=content_type))
    nothing_recorded(occo)


@pytest.mark.parametrize("name", sorted(hostile.NODE_DEFINITIONS))
def test_hostile_node_definitions_are_400_with_a_position(client: FlaskClient, occo: Occo,
                                                          name: str) -> None:
    before = occo.node_definitions()
    located_400(client.put("/node-definitions/hostile", data=hostile.NODE_DEFINITIONS[name]))
    assert occo.node_definitions() == before


def test_a_hundred_million_instances_are_refused_at_once(client: FlaskClient,
                                                         occo: Occo) -> None:
    """Once this grew the service until it died and left a 'building' record."""
    started = time.monotonic()
    body = located_400(client.post("/infrastructures/",
                                   data=hostile.DESCRIPTIONS["min_hundred_million"]))
    assert time.monotonic() - started < 5
    assert body["location"] == {"source": "<request>", "line": 5, "column": 20}
    assert "at most 100000" in body["message"]
    nothing_recorded(occo)


def test_json_nested_too_deeply_is_400(client: FlaskClient, occo: Occo) -> None:
    deep = '{"infra_name": "x", "nodes": ' + "[" * 5000 + "]" * 5000 + "}"
    located_400(client.post("/infrastructures/", data=deep, content_type="application/json"))
    nothing_recorded(occo)
