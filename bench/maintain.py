"""A no-op maintenance pass over 10,000 instances, and a 1,000-instance report.

Targets: the pass under 0.5 s (DESIGN §6 asked for 1 s), the report under
0.1 s. Occopus 1.10 took 11.6 s for a no-op pass and 9.5 s for a 50-node
report; the baseline printed here is the same pass over a single
100-instance infrastructure, to show how the cost grows.

    python bench/maintain.py [--infras 100] [--per-infra 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import chain_description, dummy_definition, fresh_occo


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--infras", type=int, default=100)
    parser.add_argument("--per-infra", type=int, default=100)
    parser.add_argument("--report-size", type=int, default=1000)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    occo, home = fresh_occo(concurrency=200)
    occo.import_node_definitions(dummy_definition(home, 0, 0))
    description = chain_description(home, 1, args.per_infra)
    t0 = time.perf_counter()
    ids = [occo.build(description, parallelize=True).infra_id for _ in range(args.infras)]
    setup = time.perf_counter() - t0
    total = args.infras * args.per_infra
    print(f"setup: built {args.infras} x {args.per_infra} = {total} instances in {setup:.1f} s")

    maintainer = occo.maintainer()
    baseline = statistics.median(timed(lambda: maintainer.run_pass(ids[:1]), 5))
    passes = timed(lambda: maintainer.run_pass(ids), 5)
    results = maintainer.run_pass(ids)
    assert not any(r.acted or r.skipped for r in results), "the pass was not a no-op"
    print(f"no-op pass, 1 infra x {args.per_infra}      {baseline * 1000:8.1f} ms  (baseline)")
    print(f"no-op pass, {total} instances   {statistics.median(passes) * 1000:8.1f} ms  "
          f"median of 5 (best {min(passes) * 1000:.1f}, target < 500)")
    print(f"ratio to baseline x {args.infras}            "
          f"{statistics.median(passes) / (baseline * args.infras):8.3f}")

    big = chain_description(home, 1, args.report_size)
    big_id = occo.build(big, parallelize=True).infra_id
    reports = timed(lambda: json.dumps(occo.report(big_id)), 20)
    small = timed(lambda: json.dumps(occo.report(ids[0])), 20)
    print(f"report of {args.report_size} instances (JSON)   "
          f"{statistics.median(reports) * 1000:8.1f} ms  median of 20 (target < 100)")
    print(f"report of {args.per_infra} instances (baseline) "
          f"{statistics.median(small) * 1000:8.1f} ms")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    occo.close()


if __name__ == "__main__":
    main()
