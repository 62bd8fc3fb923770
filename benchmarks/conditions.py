"""Conditions (issue 23): resolve + diff of 100,000 items under five operator rules
against the same five rules written as equality; and the Synapse bundle listing against
the status listing (requests and time).

    python benchmarks/conditions.py            # N = 100,000 in-process; 20,000 over HTTP
    python benchmarks/conditions.py --n 20000 --listing-n 5000

The in-process part has no I/O and is the best of --repeat runs (the shared 2-core VM
varies ±20 % run to run). The listing part starts the Synapse sandbox in-process on
loopback with --synthetic items and reads the queue once per listing with one reader.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from builders import item

from reconciler.diff import plan_queue
from reconciler.spec import load_spec

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)
# Five rules each way; each pair selects the same items (10 % of them change).
EQUALITY = """\
- where: {status: VALIDATED}
  set: {status: ACCEPTED}
- where: {tags: {team: t7}}
  set: {tags: {seven: true}}
- where: {tags: {score: 0.25}}
  set: {tags: {low: true}}
- where: {tags: {round: 3}}
  set: {tags: {late: true}}
- where: {tags: {lab: lab-1}}
  set: {tags: {lab_one: true}}
"""
OPERATORS = """\
- where: {status: VALIDATED, tags: {score: {between: [0, 1]}}}
  set: {status: ACCEPTED}
- where: {tags: {team: {in: [t7]}}}
  set: {tags: {seven: true}}
- where: {tags: {score: {lt: 0.3}}}
  set: {tags: {low: true}}
- where: {tags: {submitted: {lt: now-7d}, round: {ge: 3}}}
  set: {tags: {late: true}}
- where: {tags: {lab: {matches: "^lab-1$"}}}
  set: {tags: {lab_one: true}}
"""


def spec_of(rules: str):
    folder = Path(tempfile.mkdtemp(prefix="bench-conditions-"))
    path = folder / "spec.yaml"
    path.write_text("version: 1\nqueues:\n  - id: q\n    rules:\n" + textwrap.indent(rules, "      "))
    return load_spec(path).queues[0]


def items(n: int):
    old, new = datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 4, tzinfo=timezone.utc)
    return [
        item(
            str(9700001 + i),
            "VALIDATED" if i % 10 == 0 else "SCORED",
            tags={
                "score": 0.25 if i % 10 == 1 else 0.5,
                "team": f"t{i % 50}",
                "round": 3 if i % 10 == 2 else 1,
                "submitted": old if i % 10 == 2 else new,
                "lab": "lab-1" if i % 10 == 3 else "lab-2",
            },
        )
        for i in range(n)
    ]


def core(n: int, repeat: int) -> None:
    data = items(n)
    print("| rules | items | changes | seconds | items/s |")
    print("|---|---:|---:|---:|---:|")
    rates = {}
    queues = {"five equality rules": spec_of(EQUALITY), "five operator rules": spec_of(OPERATORS)}
    best = {name: math.inf for name in queues}
    changes = {}
    for _ in range(repeat):  # interleaved, so a burst of load on the shared VM hits both
        for name, queue in queues.items():
            start = time.perf_counter()
            plan = plan_queue(queue, data, now=NOW)
            best[name] = min(best[name], time.perf_counter() - start)
            changes[name] = len(plan.changes)
    for name, elapsed in best.items():
        rates[name] = n / elapsed
        print(f"| {name} | {n:,} | {changes[name]:,} | {elapsed:.2f} | {n / elapsed:,.0f} |")
    ratio = rates["five equality rules"] / rates["five operator rules"]
    print(f"\noperator rules take {ratio:.2f}x the time of equality rules (target: at most 1.5x)")


def listing(n: int) -> None:
    from reconciler.providers.synapse import SynapseProvider
    from reconciler.sandbox.server import SandboxConfig, start

    folder = Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    log = folder / "requests.jsonl"
    running = start(
        SandboxConfig(token="bench", db_path=folder / "sandbox.db", log_requests=log, synthetic=[("9615000", n)])
    )
    try:
        print("\n| listing | items | requests | seconds |")
        print("|---|---:|---:|---:|")
        for name, where in (("status/all", "{status: RECEIVED}"), ("bundle/all", "{item: {createdOn: {lt: now}}}")):
            path = folder / f"{name.split('/')[0]}.yaml"
            path.write_text(
                f'version: 1\nprovider: {{type: synapse, endpoint: "{running.url}"}}\n'
                f'queues:\n  - id: "9615000"\n    rules:\n      - where: {where}\n'
                "        set: {tags: {x: 1}}\n"
            )
            queue = load_spec(path).queues[0]
            provider = SynapseProvider(running.url, "bench", readers=1)
            before = len(running.request_log())
            start_time = time.perf_counter()
            count = len(provider.list_items(queue))
            elapsed = time.perf_counter() - start_time
            provider.close()
            print(f"| {name} | {count:,} | {len(running.request_log()) - before} | {elapsed:.2f} |")
    finally:
        running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--listing-n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    core(args.n, args.repeat)
    listing(args.listing_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
