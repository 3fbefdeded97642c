"""README's quick start (after installing): the local demo builds, reports ready, and goes away."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.helpers import Occopus, describe_processes, processes_under, wait_until

REPO = Path(__file__).resolve().parents[2]


def test_readme_demo(occopus: Occopus) -> None:
    occopus.import_defs(REPO / "node_defs" / "local_demo.yaml")
    infra_id = occopus.build(REPO / "examples" / "local_demo.yaml", "--parallelize")

    text = occopus.ok("occopus-maintain", "-r", "-i", infra_id).stdout
    rows = [line.split() for line in text.splitlines()
            if re.match(r"\s+[0-9a-f]{8}-[0-9a-f-]{27}\s", line)]
    assert len(rows) == 3, text  # the store and its two workers
    for _instance_id, state, address in rows:
        assert state == "ready" and address == "127.0.0.1", text

    # The workers really talk to the store (each appends what it fetched).
    logs = [occopus.home / "instances" / row[0] / "fetched.log" for row in rows]
    wait_until(lambda: sum("answers request" in log.read_text()
                           for log in logs if log.exists()) == 2, timeout=10)
    assert processes_under(occopus.home)

    occopus.ok("occopus-destroy", "-i", infra_id)
    left = processes_under(occopus.home)
    assert left == [], describe_processes(left)
    assert occopus.listed() == {}
