"""Destroy wall time and CPU as the size grows.

One node of N dummy instances with no delays, for each N (default 1,000,
3,000 and 10,000): built first (not timed), then destroyed. Prints wall
time, CPU per instance (all threads of this process) and the log-log slope
of wall time between sizes: 1.0 is linear, 2.0 quadratic (target: 10,000
under 15 s, slope <= 1.1).

    python bench/destroy.py [--sizes 1000,3000,10000] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import one_node, parse_sizes, print_growth


def drop(n: int, concurrency: int) -> tuple[float, float]:
    """(wall s, CPU s) of destroying one node of ``n`` no-delay instances."""
    with one_node(n, concurrency) as (occo, description):
        result = occo.build(description, parallelize=True)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        occo.destroy(result.infra_id)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        left = occo.store.dummy.count()
        assert left == 0, f"{left} of {n} resources left"
        return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 3000, 10000])
    parser.add_argument("--concurrency", type=int, default=10,
                        help="10: what occopus-destroy uses by default")
    args = parser.parse_args()

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for n in args.sizes:
        wall, cpu = drop(n, args.concurrency)
        rows.append((n, wall, cpu))
    print_growth(f"destroy, concurrency {args.concurrency}", rows)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
