"""The Occopus endpoints under /infrastructures/, against a real server."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from ruamel.yaml import YAML

from occo.api import Occo
from tests.support.wait import wait_until


def _as_json(yaml_text: str) -> str:
    return json.dumps(YAML(typ="safe", pure=True).load(io.StringIO(yaml_text)))


def test_posted_description_is_built_and_reported_ready(rest: Any, occo: Occo, cluster: str) -> None:
    answer = rest("POST", "/infrastructures/", data=cluster,
                  headers={"Content-Type": "application/x-yaml"})
    assert answer.status_code == 201, answer.text
    infra_id = answer.json()["infraid"]
    assert answer.json() == {"infraid": infra_id}
    assert answer.headers["Location"].endswith(f"/infrastructures/{infra_id}")

    wait_until(lambda: rest.ready(infra_id))
    report = rest("GET", f"/infrastructures/{infra_id}").json()
    assert set(report) == {"head", "worker"}
    assert report["worker"]["scaling"] == {"actual": 1, "target": 1, "min": 1, "max": 5}
    (instance,) = report["head"]["instances"].values()
    assert instance["state"] == "ready" and instance["resource_address"]
    assert rest("GET", "/infrastructures/").json() == {"infrastructures": [infra_id]}
    assert occo.store.dummy.count() == 2


def test_json_body_is_accepted(rest: Any, cluster: str) -> None:
    answer = rest("POST", "/infrastructures/", data=_as_json(cluster),
                  headers={"Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    wait_until(lambda: rest.ready(answer.json()["infraid"]))


def test_unknown_node_type_is_400_at_its_line_and_nothing_is_recorded(rest: Any, occo: Occo,
                                                                      cluster: str) -> None:
    text = cluster.replace("type: fast\n    scaling", "type: fsat\n    scaling")
    answer = rest("POST", "/infrastructures/", data=text)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_description"
    line = text.splitlines().index("    type: fsat") + 1
    assert body["location"] == {"source": "<request>", "line": line, "column": 11}
    assert f"<request>:{line}:11" in body["message"] and "'fast'" in body["message"]
    assert occo.list_infrastructures() == []
    assert occo.store.dummy.count() == 0


def test_syntax_errors_name_line_and_column(rest: Any) -> None:
    answer = rest("POST", "/infrastructures/", data="infra_name: x\nnodes: [\n  {name: a\n")
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("<request>:")
    bad_json = rest("POST", "/infrastructures/", data='{"infra_name": "x",\n  "nodes": [}',
                    headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["location"]["line"] == 2


def test_a_request_cannot_import_local_files(rest: Any, occo: Occo, cluster: str) -> None:
    secret = occo.config.home / "private.yaml"
    secret.write_text("{min: 1, max: 5}\n")
    text = cluster.replace("    scaling:\n      min: 1\n      max: 5\n",
                           f"    scaling: !yaml_import {{url: 'file://{secret}'}}\n")
    assert "yaml_import" in text
    answer = rest("POST", "/infrastructures/", data=text)
    assert answer.status_code == 400
    assert "import" in answer.json()["message"]
    assert occo.list_infrastructures() == []


def test_empty_and_non_utf8_bodies_are_400(rest: Any) -> None:
    assert rest("POST", "/infrastructures/", data="").status_code == 400
    answer = rest("POST", "/infrastructures/", data=b"infra_name: \xff\xfe")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_description"
    assert answer.json()["location"] == {"source": "<request>", "line": 1, "column": 13}


def test_unknown_ids_are_404_json(rest: Any, cluster: str) -> None:
    infra_id = rest.build(cluster)
    for method, path in [("GET", "/infrastructures/nope"),
                         ("DELETE", "/infrastructures/nope"),
                         ("POST", "/infrastructures/nope/scaleup/worker"),
                         ("POST", "/infrastructures/nope/attach"),
                         ("POST", "/infrastructures/nope/detach"),
                         ("POST", f"/infrastructures/{infra_id}/scaleup/nobody"),
                         ("POST", f"/infrastructures/{infra_id}/scaledown/worker/no-such-id"),
                         ("GET", "/no/such/path")]:
        answer = rest(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.json()["error"] == "not_found"
        assert "Traceback" not in answer.text


def test_wrong_method_is_405_json(rest: Any) -> None:
    answer = rest("PUT", "/infrastructures/")
    assert answer.status_code == 405
    assert answer.json()["error"] == "method_not_allowed"
    assert "POST" in answer.headers["Allow"]


def test_oversized_body_is_413_json(occo: Occo, start_service: Callable[..., Any],
                                    cluster: str) -> None:
    rest = start_service(occo, max_body_bytes=len(cluster) - 1)
    answer = rest("POST", "/infrastructures/", data=cluster)
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_entity_too_large"
    assert occo.list_infrastructures() == []


def test_scaling_changes_the_count_after_the_next_pass(rest: Any, occo: Occo, cluster: str,
                                                       maintain: Callable[[str], None]) -> None:
    infra_id = rest.build(cluster)
    base = f"/infrastructures/{infra_id}"

    up = rest("POST", f"{base}/scaleup/worker")
    assert up.status_code == 200
    assert up.json() == {"infraid": infra_id, "method": "scaleup", "nodename": "worker",
                         "count": 1}
    assert rest.count(infra_id, "worker") == 1       # recorded, not yet applied
    maintain(infra_id)
    assert rest.count(infra_id, "worker") == 2

    assert rest("POST", f"{base}/scaleup/worker/2").json()["count"] == 2
    maintain(infra_id)
    assert rest.count(infra_id, "worker") == 4

    down = rest("POST", f"{base}/scaledown/worker")
    assert down.json() == {"infraid": infra_id, "method": "scaledown", "nodename": "worker",
                           "count": 1}
    maintain(infra_id)
    assert rest.count(infra_id, "worker") == 3

    victim = sorted(rest("GET", base).json()["worker"]["instances"])[0]
    named = rest("POST", f"{base}/scaledown/worker/{victim}")
    assert named.json() == {"infraid": infra_id, "method": "scaledown", "nodename": "worker",
                            "nodeid": victim}
    maintain(infra_id)
    instances = rest("GET", base).json()["worker"]["instances"]
    assert len(instances) == 2 and victim not in instances

    to = rest("POST", f"{base}/scaleto/worker/5")
    assert to.json() == {"infraid": infra_id, "method": "scaleto", "nodename": "worker",
                         "count": 5}
    maintain(infra_id)
    assert rest.count(infra_id, "worker") == 5
    assert occo.store.dummy.count() == 6

    rest("POST", f"{base}/scaleto/worker/0")         # below min: clamped to min 1
    maintain(infra_id)
    assert rest.count(infra_id, "worker") == 1


def test_bad_counts_are_400(rest: Any, cluster: str) -> None:
    infra_id = rest.build(cluster)
    base = f"/infrastructures/{infra_id}"
    for path in ("scaleup/worker/0", "scaleup/worker/-2", "scaleto/worker/-1",
                 "scaleto/worker/100001"):
        answer = rest("POST", f"{base}/{path}")
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"] == "bad_request"


def test_delete_removes_every_resource(rest: Any, occo: Occo, cluster: str,
                                       maintain: Callable[[str], None]) -> None:
    infra_id = rest.build(cluster)
    rest("POST", f"/infrastructures/{infra_id}/scaleup/worker/3")
    maintain(infra_id)
    assert occo.store.dummy.count() == 5

    answer = rest("DELETE", f"/infrastructures/{infra_id}")
    assert answer.status_code == 200
    assert answer.json() == {"infraid": infra_id}
    assert occo.store.dummy.count() == 0
    assert rest("GET", f"/infrastructures/{infra_id}").status_code == 404
    assert rest("GET", "/infrastructures/?all=true").json() == {"infrastructures": []}


def test_delete_while_another_holds_the_lease_is_409(rest: Any, occo: Occo, cluster: str) -> None:
    infra_id = rest.build(cluster)
    wait_until(lambda: occo.store.leases.acquire(infra_id, "other-host:1:maintainer", 60))
    answer = rest("DELETE", f"/infrastructures/{infra_id}")
    assert answer.status_code == 409
    assert answer.json()["error"] == "conflict"
    assert "other-host:1:maintainer" in answer.json()["message"]
    assert occo.store.dummy.count() == 2             # nothing was touched
    occo.store.leases.release(infra_id, "other-host:1:maintainer")
    assert rest("DELETE", f"/infrastructures/{infra_id}").status_code == 200


def test_attach_and_detach(rest: Any, occo: Occo, cluster: str) -> None:
    infra_id = rest.build(cluster)                   # built here: attached at once
    assert occo.list_infrastructures()[0].attached
    detached = rest("POST", f"/infrastructures/{infra_id}/detach")
    assert detached.json() == {"infraid": infra_id}
    assert rest("GET", "/infrastructures/").json() == {"infrastructures": []}
    assert rest("GET", "/infrastructures/?all=true").json() == {"infrastructures": [infra_id]}
    assert rest("POST", f"/infrastructures/{infra_id}/attach").json() == {"infraid": infra_id}
    assert rest("GET", "/infrastructures/").json() == {"infrastructures": [infra_id]}


def test_attached_infrastructures_are_maintained_and_survive_a_restart(
        occo: Occo, start_service: Callable[..., Any], cluster: str) -> None:
    first = start_service(occo)
    infra_id = first.build(cluster)
    first.stop()

    # A new service on the same store picks the attachment up and keeps maintaining.
    second = start_service(occo, maintain=True, maintain_interval=0.1)
    assert second("POST", f"/infrastructures/{infra_id}/scaleup/worker/2").status_code == 200
    wait_until(lambda: second.count(infra_id, "worker") == 3 and second.ready(infra_id))
    assert occo.store.dummy.count() == 4


def test_stopping_answers_the_requests_in_flight(occo: Occo, start_service: Callable[..., Any],
                                                 cluster: str) -> None:
    rest = start_service(occo)
    infra_id = rest.build(cluster)
    wait_until(lambda: occo.store.leases.acquire(infra_id, "other-host:1:maintainer", 60))
    answers: list[Any] = []
    pending = threading.Thread(
        target=lambda: answers.append(rest("DELETE", f"/infrastructures/{infra_id}")))
    pending.start()
    wait_until(lambda: rest.service.requests_in_flight, what="the DELETE to wait for the lease")
    rest.service.stop()
    pending.join(30)
    assert [a.status_code for a in answers] == [409]  # answered, not cut off
    rest.thread.join(30)
    assert not rest.thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{rest.url}/infrastructures/", timeout=5)


def test_instance_links_in_reports_resolve(rest, occo) -> None:
    """Every instance link a build report gives is a real URL of this service."""
    infra_id = rest.build()
    execution = rest("GET", f"/executions?infra_id={infra_id}").json()["executions"][0]
    report = rest("GET", f"/executions/{execution['id']}").json()["report"]
    links = [inst["links"]["rest"] for node in report["nodes"].values()
             for inst in node["instances"].values()]
    assert links and all(link.startswith(rest.service.public_url) for link in links)
    for link in links:
        answer = rest.http.get(link, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == "ready" and link.endswith(body["id"])
        assert body["infra_id"] == infra_id and "resource_config" not in body
    missing = rest("GET", f"/infrastructures/{infra_id}/instances/no-such-instance")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_a_body_far_over_the_limit_is_413_json_too(occo: Occo,
                                                   start_service: Callable[..., Any]) -> None:
    """Bodies far over the limit are cut off by waitress itself, before Flask sees them."""
    rest = start_service(occo, max_body_bytes=1000)
    answer = rest("POST", "/infrastructures/", data=b"x" * 200_000,
                  headers={"Content-Type": "application/x-yaml"})
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == "request_entity_too_large"
    assert occo.list_infrastructures() == []
