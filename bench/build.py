"""Build wall time and CPU as the size grows, and against the critical-path floor.

Part 1, growth: one node of N dummy instances with no delays, for each N
(default 1,000, 3,000 and 10,000). Prints wall time, CPU per instance (all
threads of this process) and the log-log slope of wall time between sizes:
1.0 is linear, 2.0 quadratic (target: 10,000 under 15 s, slope <= 1.1, CPU
<= 1.5 ms per instance).

Part 2, the floor: a 10-deep DAG (10 nodes in a chain, 100 instances each).
Each instance takes CREATE s to create and BOOT s to boot, so no scheduler
can finish before DEPTH * (CREATE + BOOT): that floor is the baseline, and
the figure that matters is wall / floor (target <= 1.10). Run with 0.5 + 1.0 s
and with 0.2 + 0.3 s (where per-instance CPU shows), each after a one-instance
warm-up build (modules imported lazily).

    python bench/build.py [--sizes 1000,3000,10000] [--depth 10] [--width 100]
                          [--delays 0.5+1.0,0.2+0.3] [--concurrency 100]
                          [--growth-concurrency 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import (
    chain_description,
    discard,
    dummy_definition,
    fresh_occo,
    one_node,
    parse_sizes,
    print_growth,
)

from occo.api import Occo


def grow(n: int, concurrency: int) -> tuple[float, float]:
    """(wall s, CPU s) of building one node of ``n`` no-delay instances."""
    with one_node(n, concurrency) as (occo, description):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = occo.build(description, parallelize=True, concurrency=concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ready = len(occo.report(result.infra_id)["n0"]["instances"])
        assert ready == n, f"only {ready} of {n} instances ready"
        return wall, cpu


def warm_up(occo: Occo, home: Path) -> None:
    """Build and destroy one instance first: the modules a build imports lazily are
    loaded once per process, a cost no scheduler can save and the floor does not count."""
    occo.destroy(occo.build(chain_description(home, 1, 1), parallelize=True).infra_id)


def floor_run(depth: int, width: int, create: float, boot: float, concurrency: int) -> None:
    occo, home = fresh_occo(concurrency)
    try:
        occo.import_node_definitions(dummy_definition(home, create, boot))
        warm_up(occo, home)
        description = chain_description(home, depth, width)
        instances = depth * width
        floor = depth * (create + boot)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = occo.build(description, parallelize=True, concurrency=concurrency)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ready = sum(len(n["instances"]) for n in occo.report(result.infra_id).values())
        assert ready == instances, f"only {ready} of {instances} instances ready"
        critical = result.report["critical_path_seconds"] if result.report else None
        t0 = time.perf_counter()
        occo.destroy(result.infra_id)
        destroy = time.perf_counter() - t0
        left = occo.store.dummy.count()
    finally:
        discard(occo, home)
    print(f"DAG {depth} levels x {width}, create {create:g} s + boot {boot:g} s, "
          f"concurrency {concurrency}")
    print(f"  critical-path floor       {floor:.2f} s")
    print(f"  build wall time           {wall:.2f} s")
    print(f"  ratio wall / floor        {wall / floor:.3f}   (target <= 1.10)")
    print(f"  critical path (report)    {critical} s")
    print(f"  CPU per instance          {cpu / instances * 1000:.2f} ms")
    print(f"  destroy wall time         {destroy:.2f} s, resources left {left}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=[1000, 3000, 10000])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--delays", default="0.5+1.0,0.2+0.3",
                        help="create+boot pairs for the DAG, comma separated ('' skips it)")
    parser.add_argument("--concurrency", type=int, default=100, help="of the DAG")
    parser.add_argument("--growth-concurrency", type=int, default=10,
                        help="of the growth runs (10: what occopus-build --parallelize uses)")
    args = parser.parse_args()

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.sizes:
        rows = []
        for n in args.sizes:
            wall, cpu = grow(n, args.growth_concurrency)
            rows.append((n, wall, cpu))
        print_growth(f"build, concurrency {args.growth_concurrency}", rows)
    for pair in filter(None, args.delays.split(",")):
        create, boot = (float(x) for x in pair.split("+"))
        floor_run(args.depth, args.width, create, boot, args.concurrency)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
