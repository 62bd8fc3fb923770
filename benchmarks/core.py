"""Resolve + diff throughput on one core, and peak memory, for N items in-process.

    python benchmarks/core.py               # N = 100,000, example-like rules
    python benchmarks/core.py --n 20000
    python benchmarks/core.py --rules-memory   # planning's peak allocation, 1 vs 50 rules

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
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders import item, queue, rule

from reconciler.diff import plan_queue


def build(n: int, drift: float, policy: str):
    step = max(1, round(1 / drift))
    items = [
        item(str(9700001 + i), "VALIDATED" if i % step == 0 else "SCORED", tags={"score": 0.5, "team": f"t{i % 50}"})
        for i in range(n)
    ]
    spec = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED", "tags": {"stage": "review"}}),
        rule("flag", {"status": "ACCEPTED", "tags": {"score": {"exists": True}}}, {"tags": {"needs_review": True}}),
        policy=policy,
        ignore=("team", "score") if policy == "exact" else (),
    )
    return spec, items


def rules_memory(n: int) -> None:
    """Peak memory allocated while planning N items (10 % drift) under 1 and under 50
    rules: it must grow with N, not with N × rules (nothing per item is kept per rule)."""
    print("| items | rules | changes | peak allocated while planning MB |")
    print("|---:|---:|---:|---:|")
    for count in (1, 50):
        spec, items = build(n, 0.10, "merge")
        extra = [rule(f"r{k}", {"status": f"S{k}"}, {"tags": {f"k{k}": k}}) for k in range(count - 1)]
        spec = queue(*spec.rules[:1], *extra)
        tracemalloc.start()
        plan = plan_queue(spec, items)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"| {n:,} | {count} | {len(plan.changes):,} | {peak / 2**20:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rules-memory", action="store_true", help="planning's peak allocation, 1 vs 50 rules")
    args = parser.parse_args()
    if args.rules_memory:
        for n in (20_000, args.n):
            rules_memory(n)
        return 0
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
            print(
                f"| {policy} | {drift:.0%} | {args.n:,} | {len(plan.changes):,} | {elapsed:.2f} "
                f"| {args.n / elapsed:,.0f} |"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
