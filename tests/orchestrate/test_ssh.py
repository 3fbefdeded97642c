"""The same orchestration file over SSH, against the tests' own OpenSSH server.

The workers are local processes that occo is told to reach over SSH (their
node definition has an ``ssh`` section), so each job crosses a real SSH
connection to a real sshd; each instance logs in to a directory of its own.
"""

from __future__ import annotations

from pathlib import Path

from occo.cli.orchestrate import main as orchestrate
from tests.orchestrate.conftest import Running, build
from tests.orchestrate.test_local import DATA, SITE_JOBS, tasks_of
from tests.support.sshd import Sshd

SECRET = "hunter2-but-longer"


def ssh_defs(sshd: Sshd, root: Path) -> str:
    return f"""\
'node_def:box':
  - resource:
      type: local
      command: [sh, -c, 'exec sleep 100000']
    health_check: {{ping: false}}
    ssh:
      user: root
      port: {sshd.port}
      workdir: "{root}/{{{{ node_id }}}}"
"""


def auth_data(sshd: Sshd) -> str:
    return f"""\
ssh:
  - type: local
    auth_data: {{private_key_file: {sshd.client_key}, password: {SECRET}}}
"""


def test_the_same_file_runs_over_ssh_with_pinned_host_keys(
        sshd: Sshd, tmp_path: Path) -> None:
    root = tmp_path / "logins"
    for w in build(tmp_path, ssh_defs(sshd, root), auth_data(sshd)):
        check_over_ssh(w, sshd, root)


def check_over_ssh(w: Running, sshd: Sshd, root: Path) -> None:
    first = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(DATA / "site.yaml"))
    assert first.exit_code == 0, first.stderr
    _, tasks = tasks_of(first.stdout)
    assert len(tasks) == SITE_JOBS * 3 and {t["status"] for t in tasks} == {"queued"}
    for instance_id in w.instances:
        site = root / instance_id / "site"
        assert (site / "greeting.txt").read_text() == f"hello from worker {instance_id}\n"
        assert (site / "seen.conf").read_text() == (DATA / "files/app.conf").read_text()
        assert oct((site / "conf/app.conf").stat().st_mode & 0o777) == "0o640"
        assert (site / "runs.log").read_text() == "run\n"
        # the key the server showed was pinned, per instance
        assert w.occo.store.host_keys.get(instance_id) == sshd.host_public_key
        assert not (w.instance_dir(instance_id) / "site").exists()   # not run locally

    again = w.cli(orchestrate, "-i", w.infra_id, str(DATA / "site.yaml"))
    assert {t["status"] for t in tasks_of(again.stdout)[1]} == {"skipped"}

    # auth_data secrets never reach task output, errors or reports
    leak = w.home.parent / "leak.yaml"
    leak.write_text(f"- jobs:\n    - RUN: echo 'the password is {SECRET}'; exit 3\n")
    leaked = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(leak))
    assert leaked.exit_code == 1
    assert SECRET not in leaked.output
    execution = w.occo.executions(w.infra_id, 1)[0]
    outputs = [t.output for t in w.occo.job_tasks(execution.id)]
    assert outputs == ["the password is ***\n"] * 3
    assert SECRET not in str(execution.report) and SECRET not in str(execution.error)
    assert SECRET not in str([t.job for t in w.occo.job_tasks(execution.id)])

    # a host key that changes is refused
    victim = w.instances[0]
    w.occo.store.host_keys.forget(victim)
    w.occo.store.host_keys.pin(victim, "127.0.0.1", sshd.port, "ssh-ed25519",
                               "AAAAC3NzaC1lZDI1NTE5AAAAIJ7dt3Gfi2ywrXd8cGBWrHV2v1zMUJtsUnJNa9gv8sxe")
    tiny = w.home.parent / "tiny.yaml"
    tiny.write_text("- jobs: [{RUN: 'echo again >> runs.log'}]\n")
    changed = w.cli(orchestrate, "-i", w.infra_id, "--parallelize", str(tiny))
    assert changed.exit_code == 1
    assert "host key of root@127.0.0.1" in changed.stderr and "changed" in changed.stderr
    execution = w.occo.executions(w.infra_id, 1)[0]
    failed = [t for t in w.occo.job_tasks(execution.id) if t.status == "failed"]
    assert [t.instance_id for t in failed] == [victim]
    assert (root / w.instances[1] / "runs.log").read_text() == "again\n"
