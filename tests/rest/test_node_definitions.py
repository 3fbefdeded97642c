"""Node definitions over HTTP: list, show, replace (validated), delete."""

from __future__ import annotations

import json
from typing import Any

from occo.api import Occo

WEB = """\
- resource:
    type: dummy
    create_delay: 0.01
    boot_delay: 0.01
  health_check: {ping: false}
"""


def test_list_and_show(rest: Any) -> None:
    assert rest("GET", "/node-definitions").json() == {"node_types": ["fast", "slow"]}
    shown = rest("GET", "/node-definitions/fast").json()
    assert shown["node_type"] == "fast"
    assert shown["implementations"] == [
        {"resource": {"type": "dummy", "create_delay": 0.02, "boot_delay": 0.03}}]


def test_put_creates_a_type_that_descriptions_can_use(rest: Any, cluster: str) -> None:
    answer = rest("PUT", "/node-definitions/web", data=WEB,
                  headers={"Content-Type": "application/x-yaml"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["implementations"][0]["resource"]["type"] == "dummy"
    assert "web" in rest("GET", "/node-definitions").json()["node_types"]
    infra_id = rest.build(cluster.replace("type: fast\n    scaling", "type: web\n    scaling"))
    assert rest.ready(infra_id)


def test_put_accepts_json_and_a_one_type_file(rest: Any) -> None:
    body = json.dumps([{"resource": {"type": "dummy", "create_delay": 0.5}}])
    answer = rest("PUT", "/node-definitions/fast", data=body,
                  headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["implementations"] == [
        {"resource": {"type": "dummy", "create_delay": 0.5}}]
    as_file = "'node_def:fast':\n" + "".join("  " + line + "\n" for line in WEB.splitlines())
    assert rest("PUT", "/node-definitions/fast", data=as_file).status_code == 200
    wrong_name = "'node_def:other':\n" + "".join("  " + ln + "\n" for ln in WEB.splitlines())
    assert rest("PUT", "/node-definitions/fast", data=wrong_name).status_code == 400


def test_invalid_definitions_are_400_at_their_line_and_change_nothing(rest: Any,
                                                                      occo: Occo) -> None:
    before = occo.node_definitions()["fast"]
    bad = WEB.replace("create_delay: 0.01", "create_dealy: 0.01")
    answer = rest("PUT", "/node-definitions/fast", data=bad)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_description"
    assert body["location"] == {"source": "<request>", "line": 3, "column": 5}
    assert "create_dealy" in body["message"] and "create_delay" in body["message"]
    for junk in ("[]", "just text", "- resource: {}\n"):
        assert rest("PUT", "/node-definitions/fast", data=junk).status_code == 400, junk
    unknown = rest("PUT", "/node-definitions/fast", data=WEB.replace("dummy", "dumy"))
    assert unknown.status_code == 400
    assert unknown.json()["location"] == {"source": "<request>", "line": 2, "column": 11}
    assert "unknown resource type 'dumy'" in unknown.json()["message"]
    assert "did you mean 'dummy'?" in unknown.json()["message"]
    assert occo.node_definitions()["fast"] == before


def test_delete_and_unknown_types(rest: Any, cluster: str) -> None:
    assert rest("GET", "/node-definitions/nope").status_code == 404
    assert rest("DELETE", "/node-definitions/nope").status_code == 404
    assert rest("DELETE", "/node-definitions/slow").status_code == 204
    assert rest("GET", "/node-definitions/slow").json()["error"] == "not_found"
    answer = rest("POST", "/infrastructures/",
                  data=cluster.replace("type: fast\n    scaling", "type: slow\n    scaling"))
    assert answer.status_code == 400
    assert "unknown node type 'slow'" in answer.json()["message"]
