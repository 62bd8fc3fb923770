"""Reads at the service's concurrency: reconciler (up to 3 pages in flight) against the
*sequential* raw floor, at a realistic latency and at none.

Every scenario runs against its own `reconciler serve --latency-ms L` (a fresh store of N
submissions, 10 % of them VALIDATED; the spec moves VALIDATED → ACCEPTED):

  floor: list        raw_floor.py --list-only: GET every page, one after the other
  floor: list + PUT  raw_floor.py: the same, then PUT the changes in 500-batches
  plan               `reconciler plan SPEC -o plan.json` (CLI child process)
  apply SPEC         `reconciler apply SPEC --auto-approve` (plan + writes, one process)

plan is compared with the listing floor, apply SPEC with the full one. Request counts
come from the sandbox's request log; the wall times are the best of --repeat rounds
(every scenario once per round, so a slow spell of the shared VM falls on all of them),
and the per-round ratios compare runs made back to back.

    python benchmarks/concurrency.py                        # L = 100 and 0 ms, N = 20,000 and 100,000
    python benchmarks/concurrency.py --latency 100 --sizes 20000 --repeat 2
    python benchmarks/concurrency.py --throttled            # also N = 100,000 under Synapse's throttle

--throttled runs `serve --max-concurrent 3 --max-per-minute 600` (latency 0) once, and
compares it with the sliding window's floor computed from the raw floor's request log at
latency 0 and the same N (benchmarks/run.py `tail_seconds`): whole minutes for each full
allowance of 600 requests plus what the requests after them cost in the raw run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    ALLOWANCE,
    PERIOD,
    QUEUE,
    RAW_FLOOR,
    THROTTLE,
    TOKEN,
    Row,
    Server,
    compile_bytecode,
    counts,
    refused,
    run_cli,
    scenario_reconciler,
    table,
    tail_seconds,
    write_spec,
)

DRIFT = 0.10


def floor(workdir: Path, n: int, extra: list[str], *, list_only: bool) -> Row:
    server = Server(workdir, n, DRIFT, extra)
    try:
        mark, start = server.mark(), time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(RAW_FLOOR), server.url, QUEUE, TOKEN, *(["--list-only"] if list_only else [])],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - start
        log = server.since(mark)
        name = "floor: list (sequential)" if list_only else "floor: list + PUT (sequential)"
        return Row(
            name,
            n,
            DRIFT,
            *counts(log),
            int(done.stdout),
            elapsed,
            throttled=refused(log),
            server_ms=tuple(float(r["ms"]) for r in log),
        )
    finally:
        server.stop()


def reconciler(workdir: Path, n: int, extra: list[str], *, plan_only: bool, label: str = "") -> Row:
    server = Server(workdir, n, DRIFT, extra)
    try:
        env = dict(os.environ, SYNAPSE_AUTH_TOKEN=TOKEN)
        spec = write_spec(workdir, server.url)
        args = (
            ["plan", str(spec), "-o", str(workdir / "plan.json")]
            if plan_only
            else ["apply", str(spec), "--auto-approve"]
        )
        mark = server.mark()
        seconds, rss = run_cli(args, env)
        log = server.since(mark)
        name = "reconciler: plan" if plan_only else "reconciler: apply SPEC"
        return Row(
            name + label,
            n,
            DRIFT,
            *counts(log),
            0 if plan_only else server.changes,
            seconds,
            rss,
            throttled=refused(log),
        )
    finally:
        server.stop()


SCENARIOS = {
    "floor: list": lambda d, n, x: floor(d, n, x, list_only=True),
    "floor: list + PUT": lambda d, n, x: floor(d, n, x, list_only=False),
    "plan": lambda d, n, x: reconciler(d, n, x, plan_only=True),
    "apply SPEC": lambda d, n, x: reconciler(d, n, x, plan_only=False),
}
PAIRS = (("plan", "floor: list"), ("apply SPEC", "floor: list + PUT"))


def fresh(scenario, *args) -> Row:
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        return scenario(Path(tmp), *args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--latency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[100, 0],
        help="sandbox latency per request in ms (default 100,0)",
    )
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[20_000, 100_000])
    parser.add_argument(
        "--repeat",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="rounds per (latency, N), one value or one per size (e.g. 2,1)",
    )
    parser.add_argument(
        "--throttled",
        type=int,
        nargs="?",
        const=100_000,
        metavar="N",
        help="also N items (default 100,000) under Synapse's throttle, once",
    )
    args = parser.parse_args(argv)
    compile_bytecode()

    rows: list[tuple[int, Row]] = []
    ratio_lines = [
        "| latency ms | N | route | floor | best route s | best floor s | ratio of bests | per-round ratios |",
        "|---:|---:|---|---|---:|---:|---:|---|",
    ]
    floors_at_zero: dict[int, Row] = {}
    for latency in args.latency:
        extra = ["--latency-ms", str(latency)] if latency else []
        for k, n in enumerate(args.sizes):
            repeat = args.repeat[min(k, len(args.repeat) - 1)]
            runs: dict[str, list[Row]] = {name: [] for name in SCENARIOS}
            for _ in range(repeat):
                for name, scenario in SCENARIOS.items():
                    row = fresh(scenario, n, extra)
                    runs[name].append(row)
                    print(f"latency {latency} ms " + table([row]).splitlines()[2], file=sys.stderr, flush=True)
            bests = {name: min(found, key=lambda r: r.seconds) for name, found in runs.items()}
            rows += [(latency, bests[name]) for name in SCENARIOS]
            if latency == 0:
                floors_at_zero[n] = bests["floor: list + PUT"]
            for route, against in PAIRS:
                per_round = sorted(r.seconds / f.seconds for r, f in zip(runs[route], runs[against], strict=False))
                best_route, best_floor = bests[route].seconds, bests[against].seconds
                ratio_lines.append(
                    f"| {latency} | {n:,} | {route} | {against} | {best_route:.2f} | {best_floor:.2f} | "
                    f"{best_route / best_floor:.2f}× | {', '.join(f'{x:.2f}×' for x in per_round)} |"
                )

    out = ["| latency ms " + table([]).splitlines()[0], "|---:" + table([]).splitlines()[1]]
    out += [f"| {latency} " + table([row]).splitlines()[2] for latency, row in rows]
    print("\n".join(out))
    print()
    print("\n".join(ratio_lines))

    if args.throttled:
        n = args.throttled
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
            found = reconciler(Path(tmp), n, list(THROTTLE), plan_only=False, label=" (throttled)")
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
            two = scenario_reconciler(Path(tmp), n, DRIFT, THROTTLE)[-1]
        raw = floors_at_zero.get(n)
        if raw is None:  # the unthrottled raw floor at latency 0 was not part of this run
            raw = fresh(SCENARIOS["floor: list + PUT"], n, [])
        full = (raw.requests - 1) // ALLOWANCE
        window = full * PERIOD + tail_seconds(raw, full * ALLOWANCE)
        floor_row = Row(
            "floor (sliding window): whole minutes + the rest as in the raw run",
            n,
            DRIFT,
            raw.requests,
            raw.reads,
            raw.writes,
            raw.rotated,
            window,
        )
        print()
        print(table([found, two, floor_row]))
        print()
        print(
            f"apply SPEC (throttled) / sliding-window floor: {found.seconds / window:.3f}×; "
            f"plan + apply (throttled) / floor: {two.seconds / window:.3f}× "
            f"(raw floor at latency 0 used: {raw.seconds:.2f} s, {raw.requests:,} requests)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
