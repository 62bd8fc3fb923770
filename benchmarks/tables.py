"""Table sources: `validate` and `plan` of a spec including an N-row, 6-column CSV,
against the same entries written as YAML (BENCHMARKS.md "Table sources").

    python benchmarks/tables.py                 # N = 100,000, 5 interleaved rounds
    python benchmarks/tables.py --n 2000 --repeat 1

Each command runs as a CLI child process (`python -m reconciler`, as a user runs it),
so wall times include the interpreter's start-up; peak RSS is the child's (wait4).
The local store is seeded once with N items, half of which the entries change (score
and status), so `plan` reads all N and diffs them; both specs point at that store.
Rounds interleave the scenarios, so a slow spell on the shared VM falls on all of them;
the table keeps each scenario's best round and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = "submission_id,status,auc,team,rank,checked"


def write_inputs(root: Path, n: int) -> dict[str, Path]:
    """live.json (the seed), scores.csv, and the two specs stating the same entries."""
    rng = random.Random(1)
    rows = [
        (str(9_700_000 + i), "SCORED", round(rng.random(), 6), f"team-{i % 500}", i + 1, i % 2 == 1) for i in range(n)
    ]
    live = [
        {
            "id": r[0],
            "status": "SCORED" if i % 2 else "VALIDATED",
            "tags": {"auc": r[2] if i % 2 else 0.0, "team": r[3], "rank": r[4], "checked": r[5]},
        }
        for i, r in enumerate(rows)
    ]
    (root / "live.json").write_text(json.dumps({"queues": [{"id": "q", "items": live}]}))
    with open(root / "scores.csv", "w", encoding="utf-8") as fh:
        fh.write(COLUMNS + "\n")
        for r in rows:
            fh.write(f"{r[0]},{r[1]},{r[2]!r},{r[3]},{r[4]},{'true' if r[5] else 'false'}\n")
    head = (
        "version: 1\nprovider: {type: local, path: state.db, seed: live.json}\n"
        "queues:\n  - id: q\n    safety: {max_change_percent: 100}\n"
    )
    (root / "table.yaml").write_text(
        head + "    include:\n      - table: scores.csv\n        id: submission_id\n        status: status\n"
        "        tags: {auc: {type: float}, team: team, rank: {type: integer}, checked: {type: boolean}}\n"
    )
    # A YAML file may be 5 MiB at most: the entries go to included files of 10,000 each.
    (root / "entries.yaml").write_text(head + "    include: [entries/*.yaml]\n")
    (root / "entries").mkdir()
    for part in range(0, n, 10_000):
        with open(root / "entries" / f"{part // 10_000:03d}.yaml", "w", encoding="utf-8") as fh:
            fh.write("submissions:\n")
            for r in rows[part : part + 10_000]:
                fh.write(
                    f'  "{r[0]}": {{status: {r[1]}, tags: {{auc: {r[2]!r}, team: {r[3]}, '
                    f"rank: {r[4]}, checked: {'true' if r[5] else 'false'}}}}}\n"
                )
    return {"table": root / "table.yaml", "yaml": root / "entries", "csv": root / "scores.csv"}


def run(args: list[str], cwd: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one CLI child. CPU time (user +
    system) is the steadier figure on a shared VM, where wall time waits for a core."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "-q", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    code = child.returncode
    if code not in (0, 2):
        raise SystemExit(f"{args}: exit {code}: {child.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


SCENARIOS = {
    "validate: table spec": ["validate", "table.yaml"],
    "validate: same entries as YAML": ["validate", "entries.yaml"],
    "plan: table spec": ["plan", "table.yaml", "--detailed-exitcode"],
    "plan: same entries as YAML": ["plan", "entries.yaml", "--detailed-exitcode"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--table-only",
        action="store_true",
        help="only the table spec's scenarios (the YAML ones take minutes at 100,000)",
    )
    opts = parser.parse_args(argv)
    scenarios = {k: v for k, v in SCENARIOS.items() if not (opts.table_only and "YAML" in k)}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parent.parent / "reconciler")],
        check=True,
    )  # as pip install does (BENCHMARKS.md: PYTHONDONTWRITEBYTECODE)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_inputs(root, opts.n)
        run(["plan", "table.yaml"], root)  # seeds the store (not timed)
        rounds: dict[str, list[tuple[float, float, float]]] = {name: [] for name in scenarios}
        for _ in range(opts.repeat):
            for name, args in scenarios.items():
                rounds[name].append(run(args, root))
        csv_mib = paths["csv"].stat().st_size / 2**20
        yaml_mib = sum(p.stat().st_size for p in paths["yaml"].iterdir()) / 2**20
    figures = {
        name: {
            "best_s": min(w for w, _, _ in r),
            "median_s": statistics.median(w for w, _, _ in r),
            "best_cpu_s": min(c for _, c, _ in r),
            "peak_rss_mib": max(m for _, _, m in r),
        }
        for name, r in rounds.items()
    }
    ratio = (
        None
        if opts.table_only
        else statistics.median(
            t[0] / y[0] for t, y in zip(rounds["plan: table spec"], rounds["plan: same entries as YAML"], strict=False)
        )
    )
    print(
        f"N = {opts.n:,} rows x 6 columns; scores.csv {csv_mib:.1f} MiB, entries.yaml {yaml_mib:.1f} MiB; "
        f"{opts.repeat} round(s)\n"
    )
    print("| scenario | best wall s | median wall s | best CPU s | peak RSS MiB |\n|---|---:|---:|---:|---:|")
    for name, f in figures.items():
        print(f"| {name} | {f['best_s']:.2f} | {f['median_s']:.2f} | {f['best_cpu_s']:.2f} | {f['peak_rss_mib']:.0f} |")
    if ratio is not None:
        print(f"\nplan, table / YAML: median of per-round ratios {ratio:.2f}")
    if opts.json:
        opts.json.write_text(json.dumps({"n": opts.n, "figures": figures, "plan_ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
