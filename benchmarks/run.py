"""Requests, wall time and memory of reconciler against the raw-HTTP floor.

Starts `reconciler serve` as a separate process (so the server's CPU is not charged to
the client) on a fresh store per scenario, seeded with N submissions of which a drift
fraction is VALIDATED; the spec moves VALIDATED → ACCEPTED. For each (N, drift) it runs:

  reconciler   `plan -o plan.json` then `apply plan.json` (CLI subprocesses)
  apply SPEC   `apply SPEC --auto-approve`: the same plan and writes in one process
  floor        benchmarks/raw_floor.py (plain requests, a child process like the CLI):
               GET every page, PUT the same changes in 500-batches
  naive        raw_floor.py --naive: list all, batch-write ALL items without diffing
               (rotates every etag)
  per-item     GET + PUT one status per changed item (the official client's get/store
               loop), in-process, measured on at most 500 items and extrapolated (*)

and prints a markdown table, then each reconciler route's wall time over the floor's.
Request counts come from the sandbox's request log (a 429 is a request too, and is also
counted on its own).

    python benchmarks/run.py                 # N = 20,000 and 100,000; drift 1 % and 10 %
    python benchmarks/run.py --quick         # N = 2,000, drift 10 % (a smoke run)
    python benchmarks/run.py --throttled     # adds N = 100,000, 10 % under Synapse's throttle
    python benchmarks/run.py --repeat 3      # best of 3 wall times (the VM is noisy)

The throttled scenario (`serve --max-concurrent 3 --max-per-minute 600`) needs more than
600 requests for the per-minute allowance to bite, hence N = 100,000 (about 70 s). Its
floors are computed, not run (a raw script without retries just fails on the first 429):
the issue's "requests ÷ 10/s", and the sliding window's own floor: whole minutes for
each full allowance plus what the same requests after them took in the unthrottled
floor's run (from its request log: deep pages cost the server more than early ones).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

QUEUE = "9615000"
TOKEN = "bench-token"
FIRST_ID = 9700001
PER_ITEM_CAP = 500
RAW_FLOOR = Path(__file__).resolve().parent / "raw_floor.py"
ALLOWANCE, PERIOD = 600, 60.0  # Synapse: 600 requests a minute per user
THROTTLE = ["--max-concurrent", "3", "--max-per-minute", str(ALLOWANCE)]


@dataclass
class Row:
    scenario: str
    n: int
    drift: float
    requests: int
    reads: int
    writes: int
    rotated: int
    seconds: float
    rss_mb: float | None = None
    extrapolated: bool = False
    throttled: int = 0  # 429 answers among `requests`
    # the sandbox's handling time of each request, in order (raw floor runs only)
    server_ms: tuple[float, ...] = field(default=(), repr=False)


class Server:
    """`reconciler serve` on a free port with a fresh store seeded for one scenario."""

    def __init__(self, workdir: Path, n: int, drift: float, extra: list[str] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        seed = workdir / "seed.json"
        step = max(1, round(1 / drift)) if drift else 0
        items = [
            {"id": str(FIRST_ID + i), "status": "VALIDATED" if step and i % step == 0 else "RECEIVED"} for i in range(n)
        ]
        seed.write_text(json.dumps({"queues": [{"id": QUEUE, "items": items}]}))
        self.changes = sum(1 for it in items if it["status"] == "VALIDATED")
        self.log = workdir / "requests.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "serve",
                "--port",
                "0",
                "--token",
                TOKEN,
                "--seed",
                str(seed),
                "--db",
                str(workdir / "sandbox.db"),
                "--log-requests",
                str(self.log),
                *extra,
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/repo/v1)", line)
        if not match:
            self.stop()
            raise SystemExit(f"sandbox did not start: {line}")
        self.url = match.group(1)

    def mark(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0

    def since(self, mark: int) -> list[dict]:
        time.sleep(0.05)  # the log line is written after the response is sent
        return [json.loads(line) for line in self.log.read_text().splitlines()[mark:]]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def counts(log: list[dict]) -> tuple[int, int, int]:
    reads = sum(1 for r in log if r["method"] == "GET")
    writes = sum(1 for r in log if r["method"] == "PUT")
    return len(log), reads, writes


def refused(log: list[dict]) -> int:
    return sum(1 for r in log if r["status"] == 429)


def run_cli(args: list[str], env: dict) -> tuple[float, float]:
    """Run the CLI as a child process; (wall seconds, peak RSS MB of that child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "-q", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"reconciler {' '.join(args)} failed ({code}): {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def write_spec(workdir: Path, url: str) -> Path:
    spec = workdir / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\nqueues:\n'
        f'  - id: "{QUEUE}"\n    safety: {{max_change_percent: 100}}\n    rules:\n'
        "      - {name: accept, where: {status: VALIDATED}, set: {status: ACCEPTED}}\n"
    )
    return spec


def scenario_reconciler(workdir: Path, n: int, drift: float, extra: list[str] = ()) -> list[Row]:
    server = Server(workdir, n, drift, list(extra))
    try:
        env = dict(os.environ, SYNAPSE_AUTH_TOKEN=TOKEN)
        spec, plan = write_spec(workdir, server.url), workdir / "plan.json"
        m0 = server.mark()
        plan_s, plan_rss = run_cli(["plan", str(spec), "-o", str(plan)], env)
        m1 = server.mark()
        apply_s, apply_rss = run_cli(["apply", str(plan), "--auto-approve"], env)
        plan_log, apply_log = server.since(m0)[: m1 - m0], server.since(m1)
        name = "reconciler (throttled)" if extra else "reconciler"
        total, reads, writes = counts(plan_log + apply_log)
        rows = [
            Row(f"{name}: plan", n, drift, *counts(plan_log), 0, plan_s, plan_rss, throttled=refused(plan_log)),
            Row(
                f"{name}: apply plan.json",
                n,
                drift,
                *counts(apply_log),
                server.changes,
                apply_s,
                apply_rss,
                throttled=refused(apply_log),
            ),
            Row(
                f"{name}: plan + apply",
                n,
                drift,
                total,
                reads,
                writes,
                server.changes,
                plan_s + apply_s,
                max(plan_rss, apply_rss),
                throttled=refused(plan_log + apply_log),
            ),
        ]
        return rows
    finally:
        server.stop()


def scenario_apply_spec(workdir: Path, n: int, drift: float) -> Row:
    """`apply SPEC --auto-approve`: plan and write in one process, as the floor script
    does (the two-process plan-file route pays a second interpreter start-up)."""
    server = Server(workdir, n, drift)
    try:
        env = dict(os.environ, SYNAPSE_AUTH_TOKEN=TOKEN)
        spec = write_spec(workdir, server.url)
        mark = server.mark()
        seconds, rss = run_cli(["apply", str(spec), "--auto-approve"], env)
        log = server.since(mark)
        return Row(
            "reconciler: apply SPEC (one process)",
            n,
            drift,
            *counts(log),
            server.changes,
            seconds,
            rss,
            throttled=refused(log),
        )
    finally:
        server.stop()


ROUTES = ("reconciler: plan + apply", "reconciler: apply SPEC (one process)")


def ratios(rows: list[Row], paired: dict[tuple[int, float, str], list[float]]) -> str:
    """Each reconciler route's wall time over the raw floor of the same (N, drift): the
    best against the best, and the median (and range) of the ratios within each round,
    where the route and the floor ran back to back on the same state of the VM."""
    floors = {(r.n, r.drift): r.seconds for r in rows if r.scenario.startswith("floor: raw")}
    out = [
        "| N | drift | route | best wall s | best floor s | ratio of bests | per-round ratio: median (range) |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        floor = floors.get((r.n, r.drift))
        if floor and r.scenario in ROUTES:
            rounds = sorted(paired.get((r.n, r.drift, r.scenario), []))
            spread = (
                f"{rounds[len(rounds) // 2]:.2f}× ({rounds[0]:.2f}–{rounds[-1]:.2f}, {len(rounds)} rounds)"
                if rounds
                else ""
            )
            out.append(
                f"| {r.n:,} | {r.drift:.0%} | {r.scenario.removeprefix('reconciler: ')} | "
                f"{r.seconds:.2f} | {floor:.2f} | {r.seconds / floor:.2f}× | {spread} |"
            )
    return "\n".join(out)


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def scenario_floor(workdir: Path, n: int, drift: float, *, naive: bool) -> Row:
    """benchmarks/raw_floor.py as a child process, timed from spawn to exit like the CLI."""
    server = Server(workdir, n, drift)
    try:
        mark, start = server.mark(), time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(RAW_FLOOR), server.url, QUEUE, TOKEN, *(["--naive"] if naive else [])],
            capture_output=True,
            text=True,
            check=True,
        )
        elapsed = time.perf_counter() - start
        name = "naive: list all, write all" if naive else "floor: raw GET pages + PUT batches"
        log = server.since(mark)
        return Row(
            name,
            n,
            drift,
            *counts(log),
            int(done.stdout),
            elapsed,
            throttled=refused(log),
            server_ms=tuple(float(r["ms"]) for r in log),
        )
    finally:
        server.stop()


def scenario_per_item(workdir: Path, n: int, drift: float) -> Row:
    server = Server(workdir, n, drift)
    try:
        ids = [str(FIRST_ID + i) for i in range(n) if drift and i % max(1, round(1 / drift)) == 0]
        sample = ids[:PER_ITEM_CAP]
        mark, start = server.mark(), time.perf_counter()
        with _session() as session:
            for sub_id in sample:
                status = session.get(f"{server.url}/evaluation/submission/{sub_id}/status", timeout=60).json()
                status["status"] = "ACCEPTED"
                session.put(
                    f"{server.url}/evaluation/submission/{sub_id}/status", json=status, timeout=60
                ).raise_for_status()
        elapsed = time.perf_counter() - start
        scale = len(ids) / len(sample) if sample else 1
        total, reads, writes = counts(server.since(mark))
        return Row(
            "per-item GET + PUT loop",
            n,
            drift,
            round(total * scale),
            round(reads * scale),
            round(writes * scale),
            len(ids),
            elapsed * scale,
            extrapolated=scale > 1,
        )
    finally:
        server.stop()


def throttled_floors(total: Row, unthrottled_floor: Row | None) -> list[Row]:
    """The two yardsticks for the throttled run, computed from its own request count."""
    r = total.requests - total.throttled  # the requests the work needs
    needed = (r, r - total.writes, total.writes, total.rotated)
    rows = [Row("floor (issue's model): requests ÷ 10/s", total.n, total.drift, *needed, r / (ALLOWANCE / PERIOD))]
    if unthrottled_floor is not None:
        full = (r - 1) // ALLOWANCE  # allowances used up, each costing a whole period
        rest = tail_seconds(unthrottled_floor, full * ALLOWANCE)
        rows.append(
            Row(
                "floor (sliding window): whole minutes + the rest as in the raw run",
                total.n,
                total.drift,
                *needed,
                full * PERIOD + rest,
            )
        )
    return rows


def tail_seconds(floor: Row, skip: int) -> float:
    """The raw floor's time for its requests after the first `skip`.

    Not an even share of its wall time: pages deep in a queue cost the server more
    (SQL OFFSET scans the rows before it; the last 400 of 1,001 pages take ~60 % of the
    listing's server time), and the PUTs come last. Each request counts its own server
    time plus an even share of everything else (client work, start-up); without a
    request log, an even share of the wall time.
    """
    ms = floor.server_ms
    if len(ms) != floor.requests:
        return floor.seconds * (floor.requests - skip) / floor.requests
    other = (floor.seconds * 1000 - sum(ms)) / len(ms)
    return sum(m + other for m in ms[skip:]) / 1000


def best(runs: list[list[Row]]) -> list[Row]:
    """Of repeated runs, the one with the least total wall time (counts are identical)."""
    return min(runs, key=lambda rows: rows[-1].seconds)


def table(rows: list[Row]) -> str:
    out = [
        "| scenario | N | drift | requests | GET | PUT | 429 | etags rotated | wall s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        star = "*" if r.extrapolated else ""
        rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else ""
        out.append(
            f"| {r.scenario} | {r.n:,} | {r.drift:.0%} | {r.requests:,}{star} | {r.reads:,}{star} | "
            f"{r.writes:,}{star} | {r.throttled:,} | {r.rotated:,} | {r.seconds:.2f}{star} | {rss} |"
        )
    return "\n".join(out)


def compile_bytecode() -> None:
    """Compile reconciler's bytecode before timing, as installing it does.

    `pip install` compiles a package's modules to .pyc, so an installed reconciler (like
    the raw script's requests) loads bytecode. A checkout installed with -e compiles each
    module on first import and caches it, unless PYTHONDONTWRITEBYTECODE is set (it is
    on the machine BENCHMARKS.md was measured on): then every child process would compile
    all of reconciler from source again, ~50 ms the floor never pays.
    """
    import reconciler

    compileall.compile_dir(Path(reconciler.__file__).parent, quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 2,000 and drift 10 %% unless given")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--drifts", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument(
        "--throttled",
        type=int,
        nargs="?",
        const=100_000,
        metavar="N",
        help="also N items (default 100,000), drift 10 %%, under Synapse's throttle",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per timed scenario; the best is kept")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([2_000] if args.quick else [20_000, 100_000])
    drifts = args.drifts or ([0.10] if args.quick else [0.01, 0.10])

    compile_bytecode()

    def fresh(scenario, *scenario_args, **options) -> list[Row]:
        with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
            found = scenario(Path(tmp), *scenario_args, **options)
            return found if isinstance(found, list) else [found]

    rows: list[Row] = []
    floors: dict[tuple[int, float], Row] = {}
    paired: dict[tuple[int, float, str], list[float]] = {}
    timed = {
        "reconciler": lambda n, drift: fresh(scenario_reconciler, n, drift),
        "apply-spec": lambda n, drift: fresh(scenario_apply_spec, n, drift),
        "floor": lambda n, drift: fresh(scenario_floor, n, drift, naive=False),
        "naive": lambda n, drift: fresh(scenario_floor, n, drift, naive=True),
    }
    for n in sizes:
        for drift in drifts:
            # Rounds of every timed scenario in turn, so a slow spell of the VM falls on
            # all of them alike rather than on whichever was running; the best is kept.
            runs: dict[str, list[list[Row]]] = {name: [] for name in timed}
            for _ in range(args.repeat):
                for name, scenario in timed.items():
                    runs[name].append(scenario(n, drift))
            for i, floor_rows in enumerate(runs["floor"]):
                for name, route in (("reconciler", ROUTES[0]), ("apply-spec", ROUTES[1])):
                    paired.setdefault((n, drift, route), []).append(runs[name][i][-1].seconds / floor_rows[0].seconds)
            for name in timed:
                found = best(runs[name])
                if name == "floor":
                    floors[n, drift] = found[0]
                rows += found
                print("\n".join(table(found).splitlines()[2:]), file=sys.stderr)
            found = fresh(scenario_per_item, n, drift)
            rows += found
            print("\n".join(table(found).splitlines()[2:]), file=sys.stderr)
    if args.throttled:
        found = fresh(scenario_reconciler, args.throttled, 0.10, THROTTLE)
        rows += found + throttled_floors(found[-1], floors.get((args.throttled, 0.10)))
    print(table(rows))
    print()
    print(ratios(rows, paired))
    if args.json:
        args.json.write_text(
            json.dumps([{k: v for k, v in r.__dict__.items() if k != "server_ms"} for r in rows], indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
