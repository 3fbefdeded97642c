"""Start-up of the console scripts, as a ratio to the interpreter's own start-up.

Each command runs N times as a fresh process against an isolated home holding a
few infrastructures, interleaved with ``python -c pass`` (the floor) so that a
machine busy with other work slows both alike. Printed per command: the median
wall time and CPU time (user + system), each as a ratio to the floor's.

Targets, on the wall-time ratio: at most 6x for ``occopus-maintain -l``,
``occopus-maintain -r -i ID`` and ``occopus-scale -i ID -n NODE -c 1``; at most
3x for every command's ``--help``. None of them may import a cloud SDK
(openstacksdk, keystoneauth1, boto3, botocore, docker, azure, requests),
SQLAlchemy or pydantic.

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
        print(f"  {'command':<36} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}  target")
        failed = False
        for label, (argv, target) in commands.items():
            wall = statistics.median(w for w, _ in samples[label])
            cpu = statistics.median(c for _, c in samples[label])
            ratio = wall / wall0
            heavy = heavy_imports(argv, home, env)
            ok = ratio <= target and not heavy
            failed |= not ok
            verdict = "ok" if ok else (f"imports {', '.join(heavy)}" if heavy else "OVER")
            print(f"  {label:<36} {wall * 1000:6.0f}ms {ratio:5.1f}x {cpu * 1000:6.0f}ms "
                  f"{cpu / cpu0:5.1f}x  <= {target:g}x {verdict}")
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
