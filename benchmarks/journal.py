"""Journal entries: the time to build and write the entry of an apply of N changes
(BENCHMARKS.md "Journal entries").

    python benchmarks/journal.py                 # N = 200,000, 5 rounds
    python benchmarks/journal.py --n 2000 --repeat 1

In-process: journal.build_entry then journal.write_entry (JSON text, fsync, rename),
against json.dumps(indent=1) of the same entry, which the entry format avoids because
indenting makes json fall back to its pure-Python encoder. Best round of each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from reconciler.journal import build_entry, write_entry
from reconciler.model import ApplyReport, Change, FieldChange, ItemResult, Plan, QueuePlan, Source, tag_field


def sample(n: int) -> tuple[Plan, ApplyReport]:
    source = Source("spec.yaml", 9, rule="validate-received")
    changes = tuple(
        Change(
            str(9_700_001 + i),
            f"etag-{i}",
            (
                FieldChange("status", "RECEIVED", "VALIDATED", source),
                FieldChange(tag_field("phase"), None, (1,), source),
            ),
            {"id": str(9_700_001 + i), "etag": f"etag-{i}", "status": "RECEIVED"},
        )
        for i in range(n)
    )
    plan = Plan(
        "synapse", "https://repo-prod.prod.sagebase.org/repo/v1", "sha256:0", (QueuePlan("9615000", n, changes),)
    )
    report = ApplyReport(
        tuple(ItemResult("9615000", c.item_id, "applied") for c in changes), requests=n // 500 + n // 100
    )
    return plan, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plan, report = sample(args.n)
    best = {"entry (one line per item)": float("inf"), "json.dumps(indent=1)": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            t = time.perf_counter()
            entry = build_entry(
                plan, report, command="apply", targets=["spec.yaml"], started_at=datetime.now(timezone.utc), env={}
            )
            path = write_entry(Path(tmp), entry)
            best["entry (one line per item)"] = min(best["entry (one line per item)"], time.perf_counter() - t)
            size = path.stat().st_size
            t = time.perf_counter()
            json.dumps(entry, indent=1, sort_keys=True, ensure_ascii=True)
            best["json.dumps(indent=1)"] = min(best["json.dumps(indent=1)"], time.perf_counter() - t)
    print("| N | build and write the entry | json.dumps(indent=1) alone | entry size |")
    print("|---|---|---|---|")
    print(
        f"| {args.n:,} | {best['entry (one line per item)']:.2f} s | {best['json.dumps(indent=1)']:.2f} s "
        f"| {size / 1e6:.1f} MB |"
    )


if __name__ == "__main__":
    main()
