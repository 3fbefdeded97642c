"""Start-up time of the console scripts a user types most (target: under 0.3 s each).

Measures the wall time of ``occopus-scale --help`` and ``occopus-maintain -l``
(median of N runs, each a fresh process against an isolated home holding a
few infrastructures), and checks that neither imports a cloud SDK
(openstacksdk, keystoneauth1, boto3, botocore): those alone take most of a
second to import, which is why the nova and ec2 handlers import them lazily.
The interpreter's own start-up (``python -c pass``) is printed as the floor.

    python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.3
SDKS = ("openstack", "keystoneauth1", "boto3", "botocore")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)\s*$", re.MULTILINE)


def script(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} is not installed (pip install -e .)")
    return found


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCCOPUS_", "OCCO_"))}
    env.update(OCCOPUS_HOME=str(home / "occo"), HOME=str(home))
    return env


def prepare(home: Path, env: dict[str, str]) -> None:
    """A home with a few small dummy infrastructures, so ``-l`` has something to list."""
    (home / "nodes.yaml").write_text("'node_def:n':\n  - resource: {type: dummy}\n")
    (home / "infra.yaml").write_text("infra_name: bench\nnodes:\n  - {name: a, type: n}\n")
    subprocess.run([script("occopus-import"), "nodes.yaml"], cwd=home, env=env, check=True,
                   capture_output=True)
    for _ in range(3):
        subprocess.run([script("occopus-build"), "infra.yaml"], cwd=home, env=env,
                       check=True, capture_output=True)


def timings(argv: list[str], home: Path, env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=home, env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def sdk_imports(argv: list[str], home: Path, env: dict[str, str]) -> list[str]:
    profiled = {**env, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, cwd=home, env=profiled, check=True, capture_output=True,
                          text=True)
    modules = set(_IMPORT_LINE.findall(done.stderr))
    return sorted(m for m in modules if m.split(".")[0] in SDKS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="occo-startup-"))
    try:
        env = isolated_env(home)
        prepare(home, env)
        commands = {"python -c pass (floor)": [sys.executable, "-c", "pass"],
                    "occopus-scale --help": [script("occopus-scale"), "--help"],
                    "occopus-maintain -l": [script("occopus-maintain"), "-l"]}
        failed = False
        print(f"median of {args.runs} runs (target < {TARGET} s):")
        for label, argv in commands.items():
            runs = timings(argv, home, env, args.runs)
            median = statistics.median(runs)
            line = f"  {label:<26} median {median:.3f} s  min {min(runs):.3f} s  " \
                   f"max {max(runs):.3f} s"
            if "floor" not in label:
                sdks = sdk_imports(argv, home, env)
                ok = median < TARGET and not sdks
                failed |= not ok
                line += "  ok" if ok else "  OVER TARGET" if not sdks else \
                    f"  imports {', '.join(sdks[:3])}"
            print(line)
        sys.exit(1 if failed else 0)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
