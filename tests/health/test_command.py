"""The ``command`` health check against real processes."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.health.base import HealthTarget
from occo.health.command import CommandCheck, command_argv, interpret_exit
from occo.model.states import InstanceState
from tests.support.wait import wait_until

PYTHON = sys.executable
LOCAL = HealthTarget("127.0.0.1")


def test_command_pure_parts() -> None:
    assert command_argv(["nc", "-z", "{{ip}}", 22], "10.1.2.3") == ["nc", "-z", "10.1.2.3", "22"]
    assert command_argv("check --url 'http://{{ ip }}/a b'", "h") == \
        ["check", "--url", "http://h/a b"]
    with pytest.raises(ValueError, match="no IP address"):
        command_argv(["ping", "{{ip}}"], None)
    with pytest.raises(ValueError, match="names no program"):
        command_argv("", "h")
    assert interpret_exit(0, "noise").ok
    assert interpret_exit(2, "a\nlast words\n\n").reason == "exit status 2: last words"
    assert interpret_exit(-9, "").reason == "killed by signal 9 (nothing on stderr)"


def test_command_exit_status_decides() -> None:
    assert CommandCheck().probe(LOCAL, ["true"], 5.0).ok
    result = CommandCheck().probe(LOCAL, "false", 5.0)
    assert not result.ok and result.reason == "exit status 1 (nothing on stderr)"
    missing = CommandCheck().probe(LOCAL, ["no-such-program-occo"], 5.0)
    assert not missing.ok and "cannot run 'no-such-program-occo'" in missing.reason


def test_command_gets_the_instance_ip_and_reports_stderr() -> None:
    script = ("import sys\n"
              "if sys.argv[1] != '10.213.7.7':\n"
              "    sys.exit(f'expected 10.213.7.7, got {sys.argv[1]}')\n")
    argv = [PYTHON, "-c", script, "{{ip}}"]
    assert CommandCheck().probe(HealthTarget("10.213.7.7"), argv, 5.0).ok
    result = CommandCheck().probe(HealthTarget("10.213.7.8"), argv, 5.0)
    assert result == CommandCheck().probe(HealthTarget("10.213.7.8"),
                                          f'{PYTHON} -c "{script}" {{{{ip}}}}', 5.0)
    assert not result.ok and result.reason == "exit status 1: expected 10.213.7.7, got 10.213.7.8"


def test_a_command_string_is_never_given_to_a_shell() -> None:
    script = "import sys; sys.exit('args: ' + repr(sys.argv[1:]))"
    result = CommandCheck().probe(LOCAL, f"{PYTHON} -c \"{script}\" 'a;b' $HOME '*' | cat", 5.0)
    assert result.reason == "exit status 1: args: ['a;b', '$HOME', '*', '|', 'cat']"


def test_a_command_that_hangs_is_killed_with_its_children() -> None:
    started = time.monotonic()
    # The shell's background child holds stderr open: only killing the group ends it.
    result = CommandCheck().probe(LOCAL, ["sh", "-c", "sleep 30 & sleep 30"], 0.5)
    assert time.monotonic() - started < 3
    assert not result.ok and result.reason == "sh did not finish within 0.5 s (killed)"


# ---------------------------------------------------------------- end to end


def test_a_local_instance_becomes_ready_only_when_its_command_check_passes(tmp_path: Path) -> None:
    home, checks = tmp_path / "home", tmp_path / "checks.log"
    check = textwrap.dedent(f"""\
        import pathlib, sys
        ready = list(pathlib.Path({str(home / 'instances')!r}).glob('*/go'))
        with open({str(checks)!r}, 'a') as log:
            log.write(sys.argv[1] + (' ready' if ready else ' waiting') + '\\n')
        sys.exit(0 if ready and sys.argv[1] == '127.0.0.1' else 'no go file yet')
        """)
    (tmp_path / "nodes.yaml").write_text(textwrap.dedent(f"""\
        'node_def:waiter':
          - resource:
              type: local
              command: [{json.dumps(PYTHON)}, -c, "import time; time.sleep(120)"]
            health_check:
              command: [{json.dumps(PYTHON)}, -c, {json.dumps(check)}, "{{{{ip}}}}"]
              timeout: 60
        """))
    (tmp_path / "infra.yaml").write_text("infra_name: gated\nnodes:\n  - {name: w, type: waiter}\n")

    with Occo(Config(home=home)) as api:
        api.import_node_definitions(tmp_path / "nodes.yaml")
        ids: list[str] = []
        outcome: dict[str, object] = {}

        def build() -> None:
            try:
                outcome["result"] = api.build(tmp_path / "infra.yaml", on_infra_id=ids.append)
            except BaseException as exc:
                outcome["error"] = exc

        builder = threading.Thread(target=build)
        builder.start()
        try:
            wait_until(lambda: checks.exists() and checks.read_text().count("waiting") >= 2,
                       timeout=30, what="the command check to run twice")
            # The process runs, the check keeps failing: the instance is not ready.
            [instance] = api.store.instances.for_infra(ids[0])
            assert instance.state == InstanceState.BOOTING
            assert builder.is_alive()
            (home / "instances" / instance.id / "go").touch()
            builder.join(30)
            assert not builder.is_alive() and "error" not in outcome, outcome
        finally:
            if builder.is_alive():
                builder.join(60)
        try:
            assert api.store.instances.get(instance.id).state == InstanceState.READY
            assert checks.read_text().splitlines()[-1] == "127.0.0.1 ready"
            assert api.report(ids[0])["w"]["instances"][instance.id]["state"] == "ready"
        finally:
            api.destroy(ids[0])
        assert not (home / "instances" / instance.id).exists()
