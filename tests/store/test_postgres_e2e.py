"""The whole engine on PostgreSQL: the console scripts, run as a user runs them,
with ``OCCOPUS_STORE_URL`` pointing at a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from occo.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _script(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"console script {name} is not installed (pip install -e .)"
    return found


def test_import_build_report_destroy_on_postgresql(pg_store_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "OCCOPUS_STORE_URL": pg_store_url, "OCCOPUS_HOME": str(home),
           "HOME": str(tmp_path)}

    def occopus(command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_script(command), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    imported = occopus("occopus-import", str(ROOT / "node_defs" / "dummy.yaml"))
    assert imported.returncode == 0, imported.stderr

    built = occopus("occopus-build", "--parallelize", str(ROOT / "examples" / "dummy_cluster.yaml"))
    assert built.returncode == 0, built.stderr
    infra_id = built.stdout.strip()
    assert UUID.fullmatch(infra_id), built.stdout

    reported = occopus("occopus-maintain", "-r", "-i", infra_id, "--json")
    assert reported.returncode == 0, reported.stderr
    report = json.loads(reported.stdout)
    assert set(report) == {"head", "worker"}
    assert report["worker"]["scaling"] == {"actual": 2, "target": 2, "min": 2, "max": 5}
    instances = [i for node in report.values() for i in node["instances"].values()]
    assert [i["state"] for i in instances] == ["ready"] * 3
    assert all(i["resource_address"] for i in instances)

    store = Store(pg_store_url)
    try:
        assert store.dummy.count() == 3  # the resources live in PostgreSQL...
        assert not (home / "occopus.db").exists()  # ...and no SQLite store was made

        destroyed = occopus("occopus-destroy", "-i", infra_id)
        assert destroyed.returncode == 0, destroyed.stderr
        assert store.dummy.count() == 0
        assert not store.infras.exists(infra_id)
    finally:
        store.close()
    listed = occopus("occopus-maintain", "-l")
    assert listed.returncode == 0, listed.stderr
    assert infra_id not in listed.stdout
    again = occopus("occopus-maintain", "-r", "-i", infra_id)
    assert again.returncode == 2 and infra_id in again.stderr
