"""What a conflict costs at bulk scale (issue 21 part 1): requests, 412s, bytes uploaded
and wall time when a run meets items that are already written.

Every scenario runs against its own `reconciler serve` (N submissions, all VALIDATED; the
spec moves them to ACCEPTED), under Synapse's throttle by default
(`--max-concurrent 3 --max-per-minute 600`):

  re-apply plan.json   `plan -o plan.json`, `apply plan.json` (the first apply), then
                       `apply plan.json` again: every item is already written
  two apply SPEC       two `apply SPEC --auto-approve` started together on a fresh store

Counts come from the sandbox's request log (a 412 and a 429 are requests too, counted
also on their own); "report" is the `requests` figure of the run's own JSON report.

    python benchmarks/conflicts.py                      # N = 3,000, throttled
    python benchmarks/conflicts.py --unthrottled
    PYTHONPATH=/path/to/other/checkout python benchmarks/conflicts.py   # another version
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import THROTTLE, TOKEN, Server, compile_bytecode, write_spec


@dataclass
class Row:
    scenario: str
    n: int
    log: list[dict] | None  # None: a client's own row (the log cannot tell clients apart)
    seconds: float
    report: int | None = None

    def cells(self) -> list[str]:
        report = "" if self.report is None else f"{self.report:,}"
        if self.log is None:
            return [self.scenario, f"{self.n:,}", *[""] * 6, f"{self.seconds:.2f}", report]
        log = self.log
        gets = sum(1 for r in log if r["method"] == "GET")
        puts = sum(1 for r in log if r["method"] == "PUT")
        status = [r["status"] for r in log]
        uploaded = sum(r.get("bytes_in", 0) for r in log) / 1e6
        return [
            self.scenario,
            f"{self.n:,}",
            f"{len(log):,}",
            f"{gets:,}",
            f"{puts:,}",
            f"{status.count(412):,}",
            f"{status.count(429):,}",
            f"{uploaded:.1f}",
            f"{self.seconds:.2f}",
            report,
        ]


HEADER = ["scenario", "N", "requests", "GET", "PUT", "412", "429", "MB up", "wall s", "report"]


def start(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "-q", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, started: float) -> tuple[float, int | None]:
    """(wall seconds, the report's request count if it printed a JSON report)."""
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    if proc.returncode not in (0, 2):
        summary = report.get("summary") if isinstance(report, dict) else out[-2000:]
        details = (
            sorted({r["detail"] for r in report["results"] if r["outcome"] == "failed"})[:3]
            if isinstance(report, dict)
            else []
        )
        print(
            f"note: reconciler exited {proc.returncode} after {seconds:.1f} s: {summary} {details} {err[-500:]}",
            file=sys.stderr,
        )
    return seconds, report.get("requests") if isinstance(report, dict) else None


def timed(args: list[str], env: dict) -> tuple[float, int | None]:
    return finish(start(args, env), time.perf_counter())


def reapply(workdir: Path, n: int, extra: list[str]) -> list[Row]:
    server = Server(workdir, n, 1.0, extra)
    try:
        env = dict(os.environ, SYNAPSE_AUTH_TOKEN=TOKEN)
        spec, plan = write_spec(workdir, server.url), workdir / "plan.json"
        timed(["plan", str(spec), "-o", str(plan)], env)
        m1 = server.mark()
        first = timed(["apply", str(plan), "--auto-approve", "--format", "json"], env)
        m2 = server.mark()
        again = timed(["apply", str(plan), "--auto-approve", "--format", "json"], env)
        first_log, again_log = server.since(m1)[: m2 - m1], server.since(m2)
        return [
            Row("apply plan.json (first)", n, first_log, *first),
            Row("apply plan.json again (all applied)", n, again_log, *again),
        ]
    finally:
        server.stop()


def two_at_once(workdir: Path, n: int, extra: list[str]) -> list[Row]:
    server = Server(workdir, n, 1.0, extra)
    try:
        env = dict(os.environ, SYNAPSE_AUTH_TOKEN=TOKEN)
        spec = write_spec(workdir, server.url)
        mark = server.mark()
        started = time.perf_counter()
        procs = [start(["apply", str(spec), "--auto-approve", "--format", "json"], env) for _ in range(2)]
        results = sorted(finish(p, started) for p in procs)
        log = server.since(mark)
        return [
            Row("two apply SPEC at once: first done", n, None, *results[0]),
            Row("two apply SPEC at once: second done", n, None, *results[1]),
            Row("two apply SPEC at once: both (server log)", n, log, results[1][0], sum(r[1] or 0 for r in results)),
        ]
    finally:
        server.stop()


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|---|" + "---:|" * (len(HEADER) - 1)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=3_000)
    parser.add_argument("--unthrottled", action="store_true")
    args = parser.parse_args(argv)
    compile_bytecode()
    extra = [] if args.unthrottled else list(THROTTLE)
    with tempfile.TemporaryDirectory(prefix="bench-conflicts-") as tmp:
        rows = reapply(Path(tmp) / "reapply", args.size, extra)
        rows += two_at_once(Path(tmp) / "two", args.size, extra)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
