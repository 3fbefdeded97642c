"""Two ``occopus-maintain --cyclic`` and a REST service share one PostgreSQL store:
a 1-second trigger fires once per second, each second exactly once, even when
one of them is killed halfway.

Asserted on the claimed firing rows (what the store committed), never on
timing: the fire times are exactly the scheduled ones, with no gap and no
duplicate, and each started one execution created by the trigger.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from occo.api import Occo
from occo.config import Config
from tests.support.cli import BIN
from tests.support.wait import wait_until

FIRINGS = 10
DEFS = "'node_def:sim':\n  - resource: {type: dummy}\n"
INFRA = "infra_name: sims\nnodes:\n  - {name: sim, type: sim, scaling: {min: 1}}\n"


class Processes:
    """Console scripts started by the test, each killed (by pid) at the end."""

    def __init__(self, tmp_path: Path, store_url: str) -> None:
        self.tmp_path = tmp_path
        self.env = {**os.environ, "OCCOPUS_STORE_URL": store_url,
                    "OCCOPUS_HOME": str(tmp_path / "home")}
        self.env.pop("OCCOPUS_CONFIG_PATH", None)
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.tmp_path / f"{name}-{len(self.started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(BIN / name), *args], env=self.env, cwd=self.tmp_path,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        self.started.append((proc, log))
        return proc, log

    def stop_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.started:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path, pg_store_url: str) -> Iterator[Processes]:
    procs = Processes(tmp_path, pg_store_url)
    try:
        yield procs
    finally:
        procs.stop_all()


def test_a_one_second_trigger_fires_exactly_once_per_second_across_processes(
        tmp_path: Path, pg_store_url: str, processes: Processes) -> None:
    occo = Occo(Config(home=tmp_path / "home", store_url=pg_store_url))
    try:
        (tmp_path / "defs.yaml").write_text(DEFS)
        (tmp_path / "infra.yaml").write_text(INFRA)
        occo.import_node_definitions(tmp_path / "defs.yaml")
        infra_id = occo.build(tmp_path / "infra.yaml").infra_id

        maintainers = [processes.start("occopus-maintain", "-c", "-t", "3600")
                       for _ in range(2)]
        _, rest_log = processes.start("occopus-rest-service", "--port", "0")
        url = wait_until(lambda: next((line.split()[-1] for line in rest_log.read_text()
                                       .splitlines() if "serving on" in line), None),
                         timeout=60, what="the REST service to listen")
        for _, log in maintainers:
            wait_until(lambda log=log: "firing cron triggers" in log.read_text(),
                       timeout=60, what="a maintainer to start")

        answer = requests.post(f"{url}/cron-triggers", timeout=30, json={
            "name": "every-second", "workflow": "maintain", "infra_id": infra_id,
            "interval": 1, "first_time": math.ceil(time.time()) + 2.0, "count": FIRINGS})
        assert answer.status_code == 201, answer.text
        first = answer.json()["next_fire_time"]     # later if creating it took a while

        def fired() -> list:
            return occo.trigger_firings("every-second", 1000)

        wait_until(lambda: len(fired()) >= FIRINGS // 2, timeout=60, what="half the firings")
        victim, _ = maintainers[0]
        victim.send_signal(signal.SIGKILL)             # mid-run, without a word
        victim.wait(30)
        wait_until(lambda: len(fired()) >= FIRINGS, timeout=60, what="every firing")

        firings = sorted(fired(), key=lambda f: f.fire_time)
        times = [f.fire_time for f in firings]
        assert times == [first + k for k in range(FIRINGS)]     # no gap, no duplicate
        assert occo.trigger("every-second").next_fire_time is None   # count used up
        executions = {f.execution_id for f in firings}
        assert None not in executions and len(executions) == FIRINGS

        def settled() -> bool:   # a firing the victim claimed but never started is run too
            records = [occo.execution(e) for e in executions if e is not None]
            return all(r.status != "queued" for r in records)

        wait_until(settled, timeout=60, what="no claimed execution left queued")
        for execution_id in executions:
            record = occo.execution(str(execution_id))
            assert (record.creator, record.workflow, record.infra_id) == \
                ("trigger:every-second", "maintain", infra_id)
        assert victim.returncode == -signal.SIGKILL
        assert all(p.poll() is None for p, _ in processes.started[1:]), "a survivor died"
    finally:
        occo.close()
