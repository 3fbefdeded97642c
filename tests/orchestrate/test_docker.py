"""Orchestration jobs in containers, through the Docker Engine's exec (the tests' own dockerd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from occo.api import Occo
from occo.config import Config
from occo.errors import JobsFailed
from occo.resources.docker import LABEL_INSTANCE
from tests.clouds.docker_engine import IMAGE, TAG, DockerEngine

DEFS = """\
'node_def:box':
  - resource:
      type: docker
      endpoint: {endpoint}
      image: {image}
      tag: "{tag}"
      origin: local
      network_mode: bridge
      stop_timeout: 2
    contextualisation:
      type: docker
      command: [sh, -c, 'trap "exit 0" TERM; sleep 600 & wait']
    health_check: {{ping: false}}
"""
INFRA = "infra_name: boxes\nnodes:\n  - {name: worker, type: box, scaling: {min: 2}}\n"
JOBS = """\
- jobs:
    - WORKDIR: /srv/site
    - ENV: GREETING=hello
    - ADD: --chmod=0640 app.conf conf/
    - RUN: echo "$GREETING from {{ node_id }}" > greeting.txt
    - RUN: [cat, conf/app.conf]
"""


def test_jobs_run_in_each_container_through_exec(docker_engine: DockerEngine,
                                                 tmp_path: Path) -> None:
    occo = Occo(Config(home=tmp_path / "home"))
    infra_id = None
    try:
        (tmp_path / "defs.yaml").write_text(DEFS.format(endpoint=docker_engine.url,
                                                        image=IMAGE, tag=TAG))
        (tmp_path / "infra.yaml").write_text(INFRA)
        (tmp_path / "app.conf").write_text("listen = 8080\n")
        (tmp_path / "jobs.yaml").write_text(JOBS)
        occo.import_node_definitions(tmp_path / "defs.yaml")
        infra_id = occo.build(tmp_path / "infra.yaml", parallelize=True).infra_id

        outcome = occo.orchestrate(infra_id, tmp_path / "jobs.yaml", parallelize=True)
        assert {str(t.status) for t in outcome.tasks} == {"succeeded"} and \
            len(outcome.tasks) == 10
        cats = [t for t in outcome.tasks if t.job == "RUN cat conf/app.conf"]
        assert [t.output for t in cats] == ["listen = 8080\n"] * 2
        client = docker_engine.client()
        for instance in occo.store.instances.for_infra(infra_id):
            (container,) = [c for c in docker_engine.containers()
                            if (c["Labels"] or {}).get(LABEL_INSTANCE) == instance.id]
            inside = client.containers.get(container["Id"])
            assert inside.exec_run(["cat", "/srv/site/greeting.txt"]).output == \
                f"hello from {instance.id}\n".encode()
            assert inside.exec_run(["ls", "-l", "/srv/site/conf/app.conf"]).output \
                .startswith(b"-rw-r-----")

        again = occo.orchestrate(infra_id, tmp_path / "jobs.yaml")
        assert {str(t.status) for t in again.tasks} == {"skipped"}

        (tmp_path / "fail.yaml").write_text("- jobs: [{RUN: 'echo no; exit 3'}]\n"
                                            "- jobs: [{RUN: 'sleep 30', timeout: 0.5}]\n")
        with pytest.raises(JobsFailed, match="exited with status 3"):
            occo.orchestrate(infra_id, tmp_path / "fail.yaml", ignore_cache=True)
        failed = occo.job_tasks(occo.executions(infra_id, 1)[0].id)
        assert [(t.exit_code, t.output, str(t.status)) for t in failed] == \
            [(3, "no\n", "failed")] * 2 + [(None, None, "cancelled")] * 2
        (tmp_path / "slow.yaml").write_text("- jobs: [{RUN: 'sleep 30', timeout: 0.5}]\n")
        with pytest.raises(JobsFailed, match=r"timed out after 0\.5 s"):
            occo.orchestrate(infra_id, tmp_path / "slow.yaml", parallelize=True)
    finally:
        if infra_id is not None:
            occo.destroy(infra_id)
        occo.close()
