"""occopus-rest-service as a user runs it: a real process, real signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from occo.api import Occo
from occo.config import Config
from tests.support.cli import BIN
from tests.support.wait import wait_until

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


class Service:
    """A started occopus-rest-service and the stderr lines it wrote so far."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def url(self) -> str:
        """Wait until the service says where it listens."""
        def served() -> str | None:
            for line in self.lines:
                if match := re.search(r"serving on (http://\S+)", line):
                    return match.group(1)
            if self.proc.poll() is not None and not self._reader.is_alive():
                pytest.fail("the service did not start: " + "".join(self.lines), pytrace=False)
            return None

        return str(wait_until(served, what="the service to say where it listens"))

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        """Its exit status and all it wrote to stderr."""
        status = self.proc.wait(timeout)
        self._reader.join(timeout)
        return status, "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(30)
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            stream.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start the service with ``--cfg`` and more flags; every one is killed at the end."""
    started: list[Service] = []

    def _launch(*args: str, **env: str) -> Service:
        proc = subprocess.Popen(
            [str(BIN / "occopus-rest-service"), "--cfg", str(tmp_path / "occopus_config.yaml"),
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            env=_env(tmp_path, **env), start_new_session=True)
        started.append(Service(proc))
        return started[-1]

    try:
        yield _launch
    finally:
        for service in started:
            service.stop()


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
        home: Path, launch: Callable[..., Service]) -> None:
    service = launch("--host", "0.0.0.0", "--port", "0", OCCO_REST_TOKENS="tok-123")
    port = service.url().rsplit(":", 1)[1]
    base = f"http://127.0.0.1:{port}"
    assert requests.get(f"{base}/infrastructures/", timeout=10).status_code == 401
    ok = requests.get(f"{base}/infrastructures/", timeout=10,
                      headers={"Authorization": "Bearer tok-123"})
    assert ok.status_code == 200
    service.proc.send_signal(signal.SIGTERM)
    assert service.wait()[0] == 0


def test_sigterm_lets_a_background_build_finish_and_exits_0(
        home: Path, launch: Callable[..., Service]) -> None:
    service = launch("--port", "0")
    url = service.url()
    answer = requests.post(f"{url}/infrastructures/", data=SLOW, timeout=10)
    assert answer.status_code == 201
    infra_id = answer.json()["infraid"]
    service.proc.send_signal(signal.SIGTERM)
    status, err = service.wait()
    assert status == 0, err
    assert "Traceback" not in err
    with Occo(Config(home=home)) as api:
        assert str(api.store.infras.get(infra_id).state) == "ready"
        assert api.store.dummy.count() == 1
        assert api.attached_infrastructures() == [infra_id]   # a restart maintains it


def test_ctrl_c_without_grace_rolls_the_build_back(
        home: Path, launch: Callable[..., Service]) -> None:
    service = launch("--port", "0", "--grace", "0")
    url = service.url()
    answer = requests.post(f"{url}/infrastructures/", data=SLOW, timeout=10)
    assert answer.status_code == 201
    with Occo(Config(home=home)) as api:             # the handler call is in flight
        wait_until(lambda: [i for i in api.store.instances.for_infra(answer.json()["infraid"])
                            if i.state == "creating"], what="the instance to be creating")
    service.proc.send_signal(signal.SIGINT)
    assert service.wait()[0] == 130
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
