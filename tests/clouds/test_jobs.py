"""Orchestration jobs: run in order on local nodes, turned into cloud-init for cloud nodes."""

from __future__ import annotations

import base64
import json
import os
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from occo.api import Occo
from occo.configure.jobs import plan_jobs
from occo.context.templating import NodeAddresses, TemplateContext, TemplateRenderer
from occo.errors import BuildFailed, DescriptionError

MakeOcco = Callable[[dict[str, Any] | None], Occo]
SLEEPER = '[python3, -c, "import time; time.sleep(120)"]'


def ctx(node: str = "worker", **variables: Any) -> TemplateContext:
    return TemplateContext(infra_id="infra-1", infra_name="demo", node_name=node,
                           instance_id="0123456789abcdef", variables=variables,
                           addresses={"head": NodeAddresses((("192.0.2.10", "10.0.0.10"),))})


def plan(jobs: list[Any], node: str = "worker", **variables: Any) -> Any:
    return plan_jobs({"type": "jobs", "jobs": jobs}, TemplateRenderer(), ctx(node, **variables))


# --------------------------------------------------------------------------- parsing


def test_targets_select_groups_and_templates_are_rendered() -> None:
    jobs = [{"RUN": "echo all"},
            {"targets": ["head"], "jobs": [{"RUN": "echo head only"}]},
            {"targets": ["worker"], "jobs": [{"RUN": "echo join {{ getip('head') }}"}]},
            {"jobs": [{"RUN": ["printf", "%s", "{{ name }}"]}]}]
    assert plan(jobs).describe() == ["RUN echo all", "RUN echo join 192.0.2.10",
                                     "RUN printf %s worker"]
    assert plan(jobs, node="head").describe() == ["RUN echo all", "RUN echo head only",
                                                  "RUN printf %s head"]


def test_arg_takes_a_node_variable_over_its_default() -> None:
    steps = plan([{"ARG": "PORT=8080"}, {"ARG": "MODE=dev"}, {"ENV": "A=1 B='two words'"},
                  {"ENV": "GREETING hello there"}, {"ENV": {"C": 3}}], PORT=9090).steps
    assert [s.values for s in steps] == [(("PORT", "9090"),), (("MODE", "dev"),),
                                         (("A", "1"), ("B", "two words")),
                                         (("GREETING", "hello there"),), (("C", "3"),)]


@pytest.mark.parametrize(("job", "message"), [
    ({"FETCH": "x"}, "unknown key(s) FETCH"),
    ({"RUN": "a", "ENV": "B=1"}, "2 verbs in one job"),
    ({"RUN": ""}, "RUN needs a command"),
    ({"ADD": "only-one"}, "ADD needs at least one source and a destination"),
    ({"ADD": "--owner=x a b"}, "ADD knows --chown=USER[:GROUP] and --chmod=MODE"),
    ({"ADD": "https://example.org/x /tmp/x"}, "fetch URLs with RUN"),
    ({"ENV": "1BAD=x"}, "invalid variable name(s) 1BAD"),
    ({"ARG": "TOKEN"}, "ARG TOKEN has no value"),
    ({"RUN": "x", "timeout": -1}, "timeout must be a positive number"),
    ({"targets": "head", "jobs": []}, "'targets' must be a list of node names"),
])
def test_bad_jobs_are_refused_with_their_position(job: dict[str, Any], message: str) -> None:
    with pytest.raises(DescriptionError) as caught:
        plan([{"RUN": "true"}, job])
    assert "node 'worker' config_management.jobs[1]" in str(caught.value)
    assert message in str(caught.value)


# --------------------------------------------------------------------------- cloud-init


def test_jobs_become_runcmd_and_write_files_in_order(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("[app]\nport = 1\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho run\n")
    (tmp_path / "run.sh").chmod(0o755)
    fragment = plan([
        {"RUN": "apt-get update"},
        {"WORKDIR": "/opt/app"},
        {"ENV": "MODE=prod"},
        {"ADD": f"--chown=app:app --chmod=0600 {tmp_path}/conf config/"},
        {"COPY": f"{tmp_path}/run.sh bin/start"},
        {"RUN": "./bin/start --mode $MODE"},
    ]).cloud_config()
    assert fragment["runcmd"] == [
        ["/bin/sh", "-c", "apt-get update"],
        ["mkdir", "-p", "/opt/app"],
        ["env", "MODE=prod", "sh", "-c", 'cd -- "$1" && shift && exec "$@"', "occo-job",
         "/opt/app", "/bin/sh", "-c", "./bin/start --mode $MODE"]]
    config, script = fragment["write_files"]
    assert config["path"] == "/opt/app/config/app.ini" and config["owner"] == "app:app"
    assert config["permissions"] == "0600" and config["encoding"] == "b64"
    assert base64.b64decode(config["content"]).decode() == "[app]\nport = 1\n"
    assert script["path"] == "/opt/app/bin/start" and script["permissions"] == "0755"
    assert script["defer"] is True


def test_missing_add_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match=r"ADD source .*nothing-here.* does not exist"):
        plan([{"ADD": f"{tmp_path}/nothing-here /etc/x"}]).cloud_config()


# --------------------------------------------------------------------------- local nodes


def write_local_infra(tmp_path: Path, jobs: list[Any]) -> tuple[Path, Path]:
    defs = tmp_path / "nodes.yaml"
    defs.write_text(textwrap.dedent(f"""\
        'node_def:box':
          - resource:
              type: local
              command: {SLEEPER}
              env: {{FROM_CONFIG: config-value}}
            config_management:
              type: jobs
              jobs: {json.dumps(jobs)}
        """))
    infra = tmp_path / "infra.yaml"
    infra.write_text(textwrap.dedent("""\
        infra_name: jobs-demo
        variables: {PORT: 9090}
        nodes:
          - &H {name: head, type: box}
          - &W {name: worker, type: box}
        dependencies:
          - [*W, *H]
        """))
    return defs, infra


def instance_dirs(occo: Occo, infra_id: str) -> dict[str, Path]:
    return {i.node_name: occo.config.home / "instances" / i.id
            for i in occo.store.instances.for_infra(infra_id)}


def test_local_jobs_run_in_order_in_the_instance_directory(tmp_path: Path,
                                                           make_occo: MakeOcco) -> None:
    (tmp_path / "greeting.txt").write_text("hello from the laptop\n")
    jobs = [{"WORKDIR": "app"},
            {"ENV": "GREETING=hi"},
            {"ARG": "PORT=8080"},
            {"ADD": f"--chmod=0600 {tmp_path}/greeting.txt files/"},
            {"RUN": 'echo "$GREETING $PORT $OCCO_NODE_NAME $FROM_CONFIG $(pwd)" > out.txt'},
            {"targets": ["worker"],
             "jobs": [{"RUN": "echo head is {{ getip('head') }} > head.txt"}]}]
    defs, infra = write_local_infra(tmp_path, jobs)
    occo = make_occo(None)
    occo.import_node_definitions(defs)
    result = occo.build(infra)
    try:
        dirs = instance_dirs(occo, result.infra_id)
        app = dirs["worker"] / "app"
        assert (app / "out.txt").read_text() == f"hi 9090 worker config-value {app}\n"
        assert (app / "head.txt").read_text() == "head is 127.0.0.1\n"
        copied = app / "files" / "greeting.txt"
        assert copied.read_text() == "hello from the laptop\n"
        assert oct(copied.stat().st_mode & 0o777) == "0o600"
        assert (dirs["head"] / "app" / "out.txt").exists()
        assert not (dirs["head"] / "app" / "head.txt").exists()      # targets: worker only
        assert json.loads((dirs["worker"] / "jobs" / "result.json").read_text())["ok"]
    finally:
        occo.destroy(result.infra_id)


def test_a_failing_job_fails_the_node_with_its_output(tmp_path: Path,
                                                      make_occo: MakeOcco) -> None:
    jobs = [{"RUN": "echo preparing"},
            {"targets": ["worker"],
             "jobs": [{"RUN": "echo 'disk full' >&2; exit 3"}, {"RUN": "touch never"}]}]
    defs, infra = write_local_infra(tmp_path, jobs)
    occo = make_occo(None)
    occo.import_node_definitions(defs)
    with pytest.raises(BuildFailed) as caught:
        occo.build(infra)
    expected = ("job 2/3 (RUN echo 'disk full' >&2; exit 3) exited with status 3; "
                "output:\ndisk full")
    assert expected in str(caught.value)
    [execution] = occo.executions()
    assert execution.report is not None and expected in execution.report["error"]
    assert occo.list_infrastructures() == []                      # rolled back
    assert not any((occo.config.home / "instances").glob("*/app"))
    assert not list((occo.config.home / "instances").glob("*"))


def test_a_job_over_its_timeout_is_killed(tmp_path: Path, make_occo: MakeOcco) -> None:
    # a duration no other process on the machine uses, so the scan below finds only ours
    seconds = f"30.{uuid.uuid4().int % 10**6:06d}"
    defs, infra = write_local_infra(tmp_path, [{"RUN": f"sleep {seconds}", "timeout": 0.3}])
    occo = make_occo(None)
    occo.import_node_definitions(defs)
    with pytest.raises(BuildFailed, match=rf"job 1/1 \(RUN sleep {seconds}\) timed out after 0.3 s"):
        occo.build(infra)
    assert not [p for p in os.listdir("/proc") if p.isdigit()
                and _cmdline(p) == f"sleep\x00{seconds}\x00"]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""
