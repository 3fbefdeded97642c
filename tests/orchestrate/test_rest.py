"""POST /infrastructures/<id>/orchestrations: 202 with the task ids, then poll the execution."""

from __future__ import annotations

import json

from tests.orchestrate.conftest import Running
from tests.rest.conftest import start
from tests.support.wait import wait_until

BODY = """\
- jobs:
    - RUN: echo "rest says hi to {{ node_id }}" > rest.txt
- targets: [worker]
  jobs:
    - RUN: cat rest.txt
"""


def test_rest_runs_an_orchestration_in_the_background(workers: Running) -> None:
    w = workers
    service = start(w.occo)
    try:
        path = f"/infrastructures/{w.infra_id}/orchestrations"
        answer = service("POST", path, data=BODY, headers={"Content-Type": "application/x-yaml"})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert answer.headers["Location"].endswith(f"/executions/{body['execution_id']}")
        assert len(body["tasks"]) == 6 and {t["status"] for t in body["tasks"]} == {"queued"}
        assert {t["instance_id"] for t in body["tasks"]} == set(w.instances)

        def finished() -> dict | None:
            shown = service("GET", f"/executions/{body['execution_id']}").json()
            return shown if shown["status"] == "terminated" else None

        shown = wait_until(finished, what="the orchestration to end")
        assert shown["workflow"] == "orchestrate" and shown["creator"] == "rest"
        assert [t["id"] for t in shown["job_tasks"]] == [t["id"] for t in body["tasks"]]
        cats = [t for t in shown["job_tasks"] if t["job"] == "RUN cat rest.txt"]
        assert sorted(t["output"] for t in cats) == \
            sorted(f"rest says hi to {i}\n" for i in w.instances)
        assert all(t["exit_code"] == 0 for t in shown["job_tasks"])

        # JSON works too; the same content is cached, unless the cache is ignored
        as_json = json.dumps([{"jobs": [{"RUN": 'echo "rest says hi to {{ node_id }}" > rest.txt'}]}])
        cached = service("POST", path, data=as_json, headers={"Content-Type": "application/json"})
        assert {t["status"] for t in cached.json()["tasks"]} == {"skipped"}
        cached_run = f"/executions/{cached.json()['execution_id']}"
        wait_until(lambda: service("GET", cached_run).json()["ended_at"],
                   what="the cached run to end (it holds the lease while it runs)")
        forced = service("POST", path + "?ignore_cache=true&parallelize=true", data=as_json,
                         headers={"Content-Type": "application/json"})
        assert {t["status"] for t in forced.json()["tasks"]} == {"queued"}

        # bad input: 4xx, nothing recorded
        before = len(service("GET", f"/executions?infra_id={w.infra_id}").json()["executions"])
        add = service("POST", path, data="- jobs:\n    - ADD: /etc/shadow stolen\n",
                      headers={"Content-Type": "application/x-yaml"})
        assert add.status_code == 400
        assert add.json()["location"] == {"source": "<request>", "line": 2, "column": 7}
        assert "ADD" in add.json()["message"]
        unknown = service("POST", "/infrastructures/nope/orchestrations", data=BODY,
                          headers={"Content-Type": "application/x-yaml"})
        assert unknown.status_code == 404
        target = service("POST", path, data="- targets: [wrokers]\n  jobs: [{RUN: 'true'}]\n",
                         headers={"Content-Type": "application/x-yaml"})
        assert target.status_code == 400 and "'wrokers'" in target.json()["message"]
        after = len(service("GET", f"/executions?infra_id={w.infra_id}").json()["executions"])
        assert after == before
        wait_until(lambda: all(e["ended_at"] for e in service(
            "GET", f"/executions?infra_id={w.infra_id}").json()["executions"]),
            what="every orchestration to end")
    finally:
        service.stop()


