"""Resolve + diff throughput on one core, and peak memory, for N items in-process.

    python benchmarks/core.py               # N = 100,000, example-like rules
    python benchmarks/core.py --n 20000

No I/O: items are built in memory, so this measures the pure engine alone. Each figure
is the best of --repeat runs: on the shared 2-core VM the same CPU-bound loop varies by
±20 % from one run to the next.
"""
from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders import item, queue, rule  # noqa: E402  (test builders: YAML-like shorthand)

from reconciler.diff import plan_queue  # noqa: E402


def build(n: int, drift: float, policy: str):
    step = max(1, round(1 / drift))
    items = [
        item(str(9700001 + i), "VALIDATED" if i % step == 0 else "SCORED",
             tags={"score": 0.5, "team": f"t{i % 50}"})
        for i in range(n)
    ]
    spec = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED", "tags": {"stage": "review"}}),
        rule("flag", {"status": "ACCEPTED", "tags": {"score": {"exists": True}}}, {"tags": {"needs_review": True}}),
        policy=policy,
        ignore=("team", "score") if policy == "exact" else (),
    )
    return spec, items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| policy | drift | items | changes | seconds | items/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for policy in ("merge", "exact"):
        for drift in (0.01, 0.10, 1.0):
            spec, items = build(args.n, drift, policy)
            elapsed = math.inf
            for _ in range(args.repeat):
                start = time.perf_counter()
                plan = plan_queue(spec, items)
                elapsed = min(elapsed, time.perf_counter() - start)
            print(f"| {policy} | {drift:.0%} | {args.n:,} | {len(plan.changes):,} | {elapsed:.2f} | {args.n / elapsed:,.0f} |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
