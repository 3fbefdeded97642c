"""Recovery of real local processes, unhealthy timeouts, the brake and events."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from occo.api import Occo
from occo.model.states import InstanceState
from tests.support.cli import Cli, write
from tests.support.wait import wait_until

# A stdlib HTTP server that answers 200 while the file "healthy" exists in its cwd.
SERVER = (
    "import http.server, os, socketserver\n"
    "open('healthy', 'w').close()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        code = 200 if os.path.exists('healthy') else 503\n"
    "        self.send_response(code); self.end_headers(); self.wfile.write(b'ok')\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "socketserver.TCPServer.allow_reuse_address = True\n"
    "socketserver.TCPServer(('127.0.0.1', int(os.environ['OCCO_PORT_8080'])), H)"
    ".serve_forever()\n"
)


def local_defs(timeout: float) -> str:
    return json.dumps({"node_def:web": [{
        "resource": {"type": "local", "command": [sys.executable, "-c", SERVER],
                     "ports": [8080], "stop_timeout": 2},
        "health_check": {"urls": ["http://{{ip}}:8080/"], "timeout": timeout}}]})


WEB_INFRA = """
infra_name: web
nodes:
  - {name: web, type: web, scaling: {min: 2, max: 4}}
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_local_process_is_replaced_in_one_pass(cli: Cli, tmp_path: Path) -> None:
    cli.run("occopus-import", str(write(tmp_path / "web.yaml", local_defs(30))))
    infra_id = cli.run("occopus-build", "--parallelize",
                       str(write(tmp_path / "infra.yaml", WEB_INFRA))).stdout.strip()
    report = json.loads(cli.run("occopus-maintain", "-r", "-i", infra_id, "--json").stdout)
    before = set(report["web"]["instances"])
    assert len(before) == 2
    home = cli.home
    victim = sorted(before)[0]
    process = json.loads((home / "instances" / victim / "process.json").read_text())
    os.killpg(process["pid"], signal.SIGKILL)
    wait_until(lambda: not _alive(process["pid"]), what="the killed instance to be gone")

    cli.run("occopus-maintain", "-i", infra_id)
    report = json.loads(cli.run("occopus-maintain", "-r", "-i", infra_id, "--json").stdout)
    after = report["web"]["instances"]
    assert victim not in after and len(after) == 2
    assert all(i["state"] == "ready" for i in after.values())
    text = cli.run("occopus-maintain", "-r", "-i", infra_id).stdout
    assert f"instance_failed: web {victim}" in text and "instance_dropped" in text

    cli.run("occopus-destroy", "-i", infra_id)
    for instance_id in after:
        pid = json.loads((home / "instances" / instance_id / "process.json").read_text())["pid"] \
            if (home / "instances" / instance_id / "process.json").exists() else None
        assert pid is None or not _alive(pid)


def test_unhealthy_instance_fails_after_its_timeout_and_is_replaced(occo: Occo,
                                                                     tmp_path: Path) -> None:
    # Healthy unless a file named after its address exists, checked by a command: ready
    # at once, no server that must start within the (short) timeout on a loaded machine.
    sick = tmp_path / "sick"
    sick.mkdir()
    occo.import_node_definitions(write(tmp_path / "d.yaml", json.dumps({"node_def:sim": [{
        "resource": {"type": "dummy"},
        "health_check": {"command": ["test", "!", "-e", f"{sick}/{{{{ip}}}}"],
                         "timeout": 2}}]})))
    infra_id = occo.build(write(tmp_path / "i.yaml", WEB_INFRA.replace("type: web",
                                                                        "type: sim")),
                          parallelize=True).infra_id
    victim = occo.store.instances.for_infra(infra_id)[0]
    (sick / str(victim.address)).touch()
    occo.maintain([infra_id])
    unhealthy = occo.store.instances.get(victim.id)
    assert unhealthy.state == InstanceState.UNHEALTHY and unhealthy.unhealthy_since
    result = wait_until(lambda: (r := occo.maintain([infra_id])[0]).failed and r,
                        what="a pass to fail the unhealthy instance")
    assert time.time() - unhealthy.unhealthy_since > 2     # not before its timeout
    assert result.failed == [victim.id] and result.created == 1 and result.dropped == 1
    assert occo.store.instances.get(victim.id).state == InstanceState.DESTROYED
    live = occo.store.instances.for_infra(infra_id)
    assert len(live) == 2 and all(i.state == InstanceState.READY for i in live)


def test_recovering_instance_goes_back_to_ready(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "web.yaml", local_defs(30)))
    infra_id = occo.build(write(tmp_path / "infra.yaml", WEB_INFRA), parallelize=True).infra_id
    try:
        victim = occo.store.instances.for_infra(infra_id)[0]
        flag = occo.config.home / "instances" / victim.id / "healthy"
        flag.unlink()
        occo.maintain([infra_id])
        assert occo.store.instances.get(victim.id).state == InstanceState.UNHEALTHY
        flag.touch()
        result = occo.maintain([infra_id])[0]
        assert not result.acted
        assert occo.store.instances.get(victim.id).state == InstanceState.READY
    finally:
        occo.destroy(infra_id)


def test_brake_stops_mass_replacement(occo: Occo, tmp_path: Path) -> None:
    occo.import_node_definitions(write(tmp_path / "d.yaml", """
'node_def:sim':
  - resource: {type: dummy}
"""))
    infra_id = occo.build(write(tmp_path / "i.yaml", """
infra_name: fragile
nodes:
  - {name: worker, type: sim, scaling: {min: 6, max: 6}}
"""), parallelize=True).infra_id
    instances = occo.store.instances.for_infra(infra_id)
    for inst in instances[:4]:  # the simulated cloud loses 4 of 6 at once
        assert occo.store.dummy.remove(inst.resource_id)
    result = occo.maintain([infra_id])[0]
    assert result.brake and result.created == 0 and len(result.failed) == 4
    assert len(occo.store.instances.for_infra(infra_id)) == 6  # nothing replaced or dropped
    assert any(e.kind == "brake_engaged" for e in occo.events(infra_id))
    # The brake holds on later passes, until an operator forces a pass.
    assert occo.maintain([infra_id])[0].brake
    forced = occo.maintain([infra_id], force=True)[0]
    assert not forced.brake and forced.created == 4 and forced.dropped == 4
    assert occo.store.dummy.count() == 6
