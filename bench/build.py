"""Build wall time against the critical-path floor.

1,000 dummy instances in a 10-deep DAG (10 nodes in a chain, 100 instances
each). Each instance takes CREATE s to create and BOOT s to boot, so no
scheduler can finish before DEPTH * (CREATE + BOOT): that floor is the
baseline, and the figure that matters is wall / floor (target <= 1.10).

    python bench/build.py [--depth 10] [--width 100] [--create 0.5] [--boot 1.0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import chain_description, dummy_definition, fresh_occo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--create", type=float, default=0.5)
    parser.add_argument("--boot", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()

    occo, home = fresh_occo(args.concurrency)
    occo.import_node_definitions(dummy_definition(home, args.create, args.boot))
    description = chain_description(home, args.depth, args.width)
    instances = args.depth * args.width
    floor = args.depth * (args.create + args.boot)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = occo.build(description, parallelize=True, concurrency=args.concurrency)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    ready = sum(len(n["instances"]) for n in occo.report(result.infra_id).values())
    assert ready == instances, f"only {ready} of {instances} instances ready"
    critical = result.report["critical_path_seconds"] if result.report else None

    t0 = time.perf_counter()
    occo.destroy(result.infra_id)
    destroy = time.perf_counter() - t0
    left = occo.store.dummy.count()

    print(f"instances                 {instances} ({args.depth} levels x {args.width})")
    print(f"create+boot per instance  {args.create:g} s + {args.boot:g} s, "
          f"concurrency {args.concurrency}")
    print(f"critical-path floor       {floor:.2f} s")
    print(f"build wall time           {wall:.2f} s")
    print(f"ratio wall / floor        {wall / floor:.3f}   (target <= 1.10)")
    print(f"critical path (report)    {critical} s")
    print(f"CPU per instance          {cpu / instances * 1000:.2f} ms")
    print(f"destroy wall time         {destroy:.2f} s, resources left {left}")
    occo.close()


if __name__ == "__main__":
    main()
