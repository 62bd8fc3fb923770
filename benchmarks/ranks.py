"""Ranks: ranking N items in N/100 groups (100,000 in 1,000 by default), and what a
rank adds to a whole-queue diff (BENCHMARKS.md "Ranks").

    python benchmarks/ranks.py                  # N up to 200,000, best of 5
    python benchmarks/ranks.py --n 2000 --repeat 1 --json out.json

Pure core, one process, no I/O: `ranks.rank_queue` over candidates with a float score
(desc, with ties: 3 decimals), a timestamp tie-break (asc) and a team (`per`), `min`
ties, top 3 marked. The scaling table doubles N: if ranking is O(n log n), the time per
n·log2(n) stays flat while N grows. The diff rows run `QueueDiffer` on the same items
with and without the rank (the items' ranks already hold, as on a re-plan), which is
the cost a rank adds to `plan` beyond reading, which it does not change.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from reconciler.diff import QueueDiffer, item_order
from reconciler.model import Item, Match, QueueSpec, Rank, RankKey, Source
from reconciler.ranks import Candidate, positions, rank_queue

SOURCE = Source("spec.yaml", 5, "leaderboard")
RANK = Rank(
    name="leaderboard",
    where=Match(statuses=frozenset({"SCORED"})),
    into="rank",
    by=(RankKey("score", descending=True), RankKey("at")),
    ties="min",
    source=SOURCE,
    per=RankKey("team"),
    top="best",
    top_count=3,
)


def candidates(n: int) -> list[Candidate]:
    rng = random.Random(n)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    groups = max(1, n // 100)
    out = [
        Candidate(
            str(9_700_000 + i),
            "SCORED",
            False,
            {
                "score": (round(rng.random(), 3),),
                "at": (start + timedelta(seconds=rng.randrange(86_400)),),
                "team": (f"team-{rng.randrange(groups)}",),
            },
        )
        for i in range(n)
    ]
    rng.shuffle(out)  # listing order is not id order
    return out


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def held_items(cands: list[Candidate]) -> list[Item]:
    """The candidates as live items whose ranks and tops already hold."""
    places = positions(RANK, cands, item_order)
    return [
        Item(
            c.id,
            f"e{c.id}",
            c.status,
            {
                **c.tags,
                "rank": (places[c.id],),
                **({"best": (True,)} if places[c.id] <= 3 else {}),
            },
        )
        for c in cands
    ]


def diff_time(items: list[Item], ranks: tuple[Rank, ...], repeat: int) -> float:
    queue = QueueSpec(id="q", source=SOURCE, ranks=ranks)

    def run() -> None:
        differ = QueueDiffer(queue)
        for page in range(0, len(items), 100):
            differ.add(items[page : page + 100])
        assert differ.plan().changes == ()

    return best_of(repeat, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="largest N (halved down to N/16)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sizes = sorted({max(16, args.n >> k) for k in range(5)})
    rows = []
    for n in sizes:
        cands = candidates(n)
        seconds = best_of(args.repeat, lambda cands=cands: rank_queue([RANK], cands, item_order))
        rows.append(
            {"n": n, "groups": max(1, n // 100), "seconds": seconds, "ns_per_nlogn": seconds * 1e9 / (n * math.log2(n))}
        )
    n = 100_000 if 100_000 in sizes else sizes[-1]
    items = held_items(candidates(n))
    plain = diff_time(items, (), args.repeat)
    ranked = diff_time(items, (RANK,), args.repeat)
    figures = {"scaling": rows, "diff": {"n": n, "without_rank_s": plain, "with_rank_s": ranked}}
    print("| N | groups | rank_queue best s | ns per n·log2 n |\n|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['n']:,} | {row['groups']:,} | {row['seconds']:.3f} | {row['ns_per_nlogn']:.0f} |")
    print(f"\n| whole-queue diff, N = {n:,}, ranks hold | best s |\n|---|---:|")
    print(f"| without a rank | {plain:.3f} |\n| with the rank | {ranked:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
