"""Local nodes are real processes: they run after build and are gone after destroy or rollback."""

from __future__ import annotations

import urllib.request

from tests.e2e.helpers import DATA, Occopus, process_runs, processes_under
from tests.support.wait import wait_until


def http_get(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/") as response:
        return response.read().decode()


def test_local_build_runs_processes_and_destroy_stops_them(local: Occopus) -> None:
    infra_id = local.build(DATA / "local_infra.yaml", "--parallelize")

    report = local.report(infra_id)
    assert set(report) == {"web", "client"}
    for node, entry in report.items():
        assert entry["scaling"]["actual"] == 1, node
        for inst in entry["instances"].values():
            assert inst == {"state": "ready", "resource_address": "127.0.0.1"}, node

    instances = {i.node_name: i for i in local.instances(infra_id)}
    processes = {name: (int(i.resource_data["pid"]), int(i.resource_data["start_time"]))
                 for name, i in instances.items()}
    for name, (pid, start) in processes.items():
        assert process_runs(pid, start), f"{name} (pid {pid}) is not running"

    # The web server answers on its allocated port; the client reached it through
    # the address and port that {{getip('web')}} and {{getport('web', 8080)}} gave it.
    web_port = int(instances["web"].resource_data["ports"]["8080"])
    client_port = int(instances["client"].resource_data["ports"]["9000"])
    assert http_get(web_port) == "hello from web"
    assert http_get(client_port) == f"http://127.0.0.1:{web_port}/ -> hello from web"

    local.run("occopus-destroy", "-i", infra_id)
    for name, (pid, start) in processes.items():
        assert not process_runs(pid, start), f"{name} (pid {pid}) survived destroy"
    assert processes_under(local.home) == []
    assert local.listed() == {}


def test_failing_local_node_rolls_back_the_running_one(local: Occopus) -> None:
    build = local.start("occopus-build", DATA / "local_failing.yaml")

    # Catch the web server's PID while the build runs: after the rollback
    # no record of it is left.
    def web_process() -> tuple[int, int] | None:
        for infra_id in local.store.infras.list():
            for inst in local.instances(infra_id.id):
                if inst.node_name == "web" and "pid" in inst.resource_data:
                    return int(inst.resource_data["pid"]), int(inst.resource_data["start_time"])
        return None

    pid, start = wait_until(web_process, what="the web server's pid", interval=0.005)
    stdout, stderr = local.finish(build)
    assert build.returncode == 1, stderr
    assert stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert "'crasher'" in last and "status 1" in last, stderr
    assert not process_runs(pid, start), f"web (pid {pid}) survived the rollback"
    assert processes_under(local.home) == []
    assert local.listed() == {}
