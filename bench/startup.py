"""Start-up of the console scripts, as a ratio to the interpreter's own start-up.

Each command runs N times as a fresh process against an isolated home holding a
few infrastructures, interleaved with ``python -c pass`` (the floor) so that a
machine busy with other work slows both alike. Printed per command: the median
wall time and CPU time (user + system), each as a ratio to the floor's.

Targets, on the wall-time ratio: at most 6x for ``occopus-maintain -l``,
``occopus-maintain -r -i ID`` and ``occopus-scale -i ID -n NODE -c 1``; at most
8x for the same commands reading an Occopus user's ``occopus_config.yaml`` and
``auth_data.yaml`` (rows marked "+ files": parsing two YAML files costs about
one interpreter start-up); at most 3x for every command's ``--help``. None of
them may import a cloud SDK (openstacksdk, keystoneauth1, boto3, botocore,
docker, azure, requests), SQLAlchemy or pydantic.

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SCRIPTS = ("occopus-import", "occopus-build", "occopus-destroy", "occopus-maintain",
           "occopus-scale", "occopus-groups", "occopus-executions", "occopus-rest-service",
           "occopus-orchestrate", "occopus-triggers")
HEAVY = ("openstack", "keystoneauth1", "boto3", "botocore", "docker", "azure", "requests",
         "sqlalchemy", "pydantic")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", re.MULTILINE)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCCOPUS_", "OCCO_"))}
    env.update(OCCOPUS_HOME=str(home / "occo"), HOME=str(home))
    return env


def prepare(home: Path, env: dict[str, str]) -> str:
    """A home with a few small dummy infrastructures; the id of the last one."""
    (home / "nodes.yaml").write_text("'node_def:n':\n  - resource: {type: dummy}\n")
    (home / "infra.yaml").write_text(
        "infra_name: bench\nnodes:\n  - {name: a, type: n, scaling: {min: 1, max: 1000}}\n")
    subprocess.run([BIN / "occopus-import", "nodes.yaml"], cwd=home, env=env, check=True,
                   capture_output=True)
    infra_id = ""
    for _ in range(3):
        infra_id = subprocess.run([BIN / "occopus-build", "infra.yaml"], cwd=home, env=env,
                                  check=True, capture_output=True, text=True).stdout.strip()
    return infra_id


# An Occopus user's ~/.occopus: Occopus's component sections (object tags and all),
# a logging section, occo's own settings, and auth_data for two clouds.
OCCOPUS_CONFIG = """\
components:
  resourcehandler: !ResourceHandler {protocol: basic}
  infraprocessor: !InfraProcessor {protocol: basic}
  configmanager: !ConfigManager {protocol: basic}
  rest: {host: 127.0.0.1, port: 5000}
logging:
  version: 1
  formatters: {short: {format: '%(asctime)s %(message)s'}}
  root: {level: WARNING, handlers: [console]}
  handlers:
    console: {class: logging.StreamHandler, formatter: short, stream: 'ext://sys.stdout'}
occo: {concurrency: 8, create_timeout: 300}
"""
AUTH_DATA = """\
resource:
  - type: nova
    endpoint: https://keystone.example:5000/v3
    auth_data: {type: application_credential, id: abc, secret: s3cret}
  - type: ec2
    auth_data: {accesskey: AKIAEXAMPLE, secretkey: s3cret}
"""


def with_files(home: Path, argv: list[str]) -> list[str]:
    """``argv`` reading the Occopus-style config and auth_data written below ``home``
    (not into it: the commands run there, and would find them without being told)."""
    cfg, auth = home / "files" / "occopus_config.yaml", home / "files" / "auth_data.yaml"
    if not cfg.exists():
        cfg.parent.mkdir()
        cfg.write_text(OCCOPUS_CONFIG)
        auth.write_text(AUTH_DATA)
        auth.chmod(0o600)
    return [*argv, "--cfg", str(cfg), "--auth_data_path", str(auth)]


def run_once(argv: list[str], home: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=home, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(argv: list[str], home: Path, env: dict[str, str]) -> list[str]:
    profiled = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, cwd=home, env=profiled, check=True, capture_output=True,
                          text=True)
    modules = set(_IMPORT_LINE.findall(done.stderr))
    return sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="occo-startup-"))
    try:
        env = isolated_env(home)
        infra_id = prepare(home, env)
        floor = [sys.executable, "-c", "pass"]
        commands: dict[str, tuple[list[str], float]] = {
            "occopus-maintain -l": ([str(BIN / "occopus-maintain"), "-l"], 6.0),
            "occopus-maintain -r -i ID": (
                [str(BIN / "occopus-maintain"), "-r", "-i", infra_id], 6.0),
            "occopus-scale -i ID -n a -c 1": (
                [str(BIN / "occopus-scale"), "-i", infra_id, "-n", "a", "-c", "1"], 6.0),
        }
        for label, (argv, _target) in list(commands.items()):
            commands[f"{label} + files"] = (with_files(home, argv), 8.0)
        for name in SCRIPTS:
            commands[f"{name} --help"] = ([str(BIN / name), "--help"], 3.0)
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in ["floor", *commands]}
        for _ in range(args.runs):          # interleaved: load drifts hit all alike
            samples["floor"].append(run_once(floor, home, env))
            for label, (argv, _target) in commands.items():
                samples[label].append(run_once(argv, home, env))
        wall0 = statistics.median(w for w, _ in samples["floor"])
        cpu0 = statistics.median(c for _, c in samples["floor"])
        print(f"median of {args.runs} runs; python -c pass: {wall0 * 1000:.0f} ms wall, "
              f"{cpu0 * 1000:.0f} ms CPU")
        print(f"  {'command':<38} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}  target")
        failed = False
        for label, (argv, target) in commands.items():
            wall = statistics.median(w for w, _ in samples[label])
            cpu = statistics.median(c for _, c in samples[label])
            ratio = wall / wall0
            heavy = heavy_imports(argv, home, env)
            ok = ratio <= target and not heavy
            failed |= not ok
            verdict = "ok" if ok else (f"imports {', '.join(heavy)}" if heavy else "OVER")
            print(f"  {label:<38} {wall * 1000:6.0f}ms {ratio:5.1f}x {cpu * 1000:6.0f}ms "
                  f"{cpu / cpu0:5.1f}x  <= {target:g}x {verdict}")
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
