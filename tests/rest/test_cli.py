"""occopus-rest-service as a user runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import select
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

DATA = Path(__file__).parent / "data"
SLOW = "infra_name: slow-one\nnodes:\n  - {name: only, type: slow}\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An occo home with the test node types, and a config file naming it."""
    home = tmp_path / "home"
    with Occo(Config(home=home)) as api:
        api.import_node_definitions(DATA / "nodes.yaml")
    (tmp_path / "occopus_config.yaml").write_text(f"home: {home}\n")
    return home


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OCCO_REST_TOKENS", "OCCOPUS_STORE_URL", "OCCOPUS_CONFIG_PATH")}
    env.update(HOME=str(tmp_path), **extra)
    return env


def _launch(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "occopus-rest-service"), "--cfg", str(tmp_path / "occopus_config.yaml"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=_env(tmp_path, **env))


def _url(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """Read stderr until the service says where it listens."""
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            line = proc.stderr.readline()
            seen.append(line)
            match = re.search(r"serving on (http://\S+)", line)
            if match:
                return match.group(1)
        if proc.poll() is not None:
            break
    raise AssertionError("the service did not start: " + "".join(seen))


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()                    # reaps it and closes its pipes


def test_non_loopback_bind_without_token_refuses_to_start(tmp_path: Path, home: Path) -> None:
    result = subprocess.run(
        [str(BIN / "occopus-rest-service"), "--cfg", str(tmp_path / "occopus_config.yaml"),
         "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, env=_env(tmp_path))
    assert result.returncode == 2
    assert "without a bearer token" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stderr


def test_non_loopback_bind_with_a_token_from_the_environment_serves(
        tmp_path: Path, home: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc = _launch(tmp_path, "--host", "0.0.0.0", "--port", "0", OCCO_REST_TOKENS="tok-123")
    procs.append(proc)
    port = _url(proc).rsplit(":", 1)[1]
    base = f"http://127.0.0.1:{port}"
    assert requests.get(f"{base}/infrastructures/", timeout=10).status_code == 401
    ok = requests.get(f"{base}/infrastructures/", timeout=10,
                      headers={"Authorization": "Bearer tok-123"})
    assert ok.status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_sigterm_lets_a_background_build_finish_and_exits_0(
        tmp_path: Path, home: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc = _launch(tmp_path, "--port", "0")
    procs.append(proc)
    url = _url(proc)
    answer = requests.post(f"{url}/infrastructures/", data=SLOW, timeout=10)
    assert answer.status_code == 201
    infra_id = answer.json()["infraid"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    _, err = proc.communicate()
    assert "Traceback" not in err
    with Occo(Config(home=home)) as api:
        assert str(api.store.infras.get(infra_id).state) == "ready"
        assert api.store.dummy.count() == 1
        assert api.attached_infrastructures() == [infra_id]   # a restart maintains it


def test_ctrl_c_without_grace_rolls_the_build_back(
        tmp_path: Path, home: Path, procs: list[subprocess.Popen[str]]) -> None:
    proc = _launch(tmp_path, "--port", "0", "--grace", "0")
    procs.append(proc)
    url = _url(proc)
    answer = requests.post(f"{url}/infrastructures/", data=SLOW, timeout=10)
    assert answer.status_code == 201
    time.sleep(0.3)                                   # the handler call is in flight
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    with Occo(Config(home=home)) as api:
        assert api.list_infrastructures() == []
        assert api.store.dummy.count() == 0
        (build,) = api.executions()
        assert str(build.status) == "cancelled"


def test_help_lists_the_occopus_flags(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "occopus-rest-service"), "--help"],
                            capture_output=True, text=True, timeout=30, env=_env(tmp_path))
    assert result.returncode == 0, result.stderr
    for flag in ("--cfg", "--auth_data_path", "--host", "--port", "--parallelize"):
        assert flag in result.stdout


@pytest.mark.parametrize("host", ["", "  ", "no such host!"])
def test_a_host_that_cannot_be_listened_on_is_exit_2(tmp_path: Path, host: str) -> None:
    from click.testing import CliRunner

    from occo.cli.rest_service import main

    result = CliRunner().invoke(main, ["--host", host, "--port", "0"],
                                env={**_env(tmp_path), "OCCO_REST_TOKENS": "tok-123"})
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert len(result.output.strip().splitlines()) == 1
