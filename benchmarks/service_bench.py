"""Every provider side by side with its official client's way of doing the same job.

The shared driver of the per-service scripts (`omics_vs_boto3.py`, `supervisely_vs_sdk.py`,
`datamaker_vs_sdk.py`, `workflow_results_vs_client.py`): each describes one service as a
`Service` (how to build the fake's store with a given drift, the spec, the official
client's loop, how to name a request, the request-count minimum); this module starts the
fake, runs both sides, counts requests and times them.

For every (service, N, drift, latency):

  reconciler  `reconciler apply SPEC --auto-approve` as a child process (plan and apply in
              one command, interpreter start-up included), against a fresh copy of the
              store
  official    the official client's loop (or its exact wire calls with plain requests
              where the client cannot be installed), in this process, sequential as the
              client is, against another fresh copy; it processes at most `--sample`
              items and is extrapolated linearly to N (marked `*`); its client object is
              built before the clock starts and no interpreter start-up is charged to it

The fake is `reconciler serve --service S --db COPY --latency-ms L --log-requests LOG` in a
separate process. Request counts are exact, from that log, per operation. After each run
the store is opened again and every item the run was meant to reach is checked to hold
the desired state (the official loop: the items of its sample), so a fast wrong run
cannot pass.

    python benchmarks/service_bench.py                    # every service, the full grid
    python benchmarks/service_bench.py omics supervisely  # some services
    python benchmarks/omics_vs_boto3.py --sizes 1000 --latencies 0   # one service, one cell
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The per-service scripts, in the order their tables are printed (`service` name → module).
SCRIPTS = {
    "omics": "omics_vs_boto3",
    "supervisely": "supervisely_vs_sdk",
    "datamaker": "datamaker_vs_sdk",
    "workflow-results": "workflow_results_vs_client",
}
SIZES = (1_000, 10_000)
DRIFTS = (0.10, 1.0)
LATENCIES = (0, 50)
SAMPLE = {0: 1_000, 50: 300}  # items the official loop processes, per latency (ms)


@dataclass(frozen=True)
class Service:
    """One service's side of the benchmark (the per-service scripts build one)."""

    name: str  # the provider type and `serve --service` name
    token: str
    official_name: str  # what the official side is, for the table
    # prepare(db, n, drift): build the fake's store file with n items, `drift` of them to change
    prepare: Callable[[Path, int, float], None]
    # spec(url): the spec text (provider block pointing at url, the queue, the rules)
    spec: Callable[[str], str]
    # env(url): environment variables the CLI child needs (credentials)
    env: Callable[[str], Mapping[str, str]]
    # official(url, sample) -> items processed: the official client's loop over at most
    # `sample` items of the queue, doing the same job; a factory returns it ready to run
    # (client built), so construction stays outside the clock
    official: Callable[[str, int], Callable[[], int]]
    # operation(log entry) -> a short name ("GetBatch", "tasks.list", ...)
    operation: Callable[[Mapping[str, Any]], str]
    # minimum(n, drift) -> {operation: count}: what reconciler's `apply SPEC` must send
    minimum: Callable[[int, float], Mapping[str, int]]
    # check(db, n, drift, limit) -> problems: items among the first `limit` not in the
    # desired state after a run
    check: Callable[[Path, int, float, int], list[str]]
    # operations the official way sends a fixed number of times whatever N (a lookup of
    # the project's tags): not scaled up when a sample is extrapolated
    once: frozenset[str] = frozenset()
    # more `serve` options this fake needs (omics: --quirk one-host, as the official loop has one URL)
    serve_args: tuple[str, ...] = ()


def drifted(i: int, drift: float) -> bool:
    """Item i (0-based) must change: every round(1/drift)-th item, so any prefix of the
    queue has the same share of changes (what makes a sample extrapolate linearly)."""
    return drift > 0 and i % max(1, round(1 / drift)) == 0


def changes(n: int, drift: float) -> int:
    return sum(1 for i in range(n) if drifted(i, drift))


@dataclass
class Row:
    service: str
    side: str  # "reconciler" or the official client's name
    n: int
    drift: float
    latency_ms: int
    requests: int
    by_operation: dict[str, int]
    seconds: float
    processed: int  # items the run went through (the sample for the official loop)
    extrapolated: bool = False
    minimum: int | None = None  # the formula's count (reconciler rows)
    server_seconds: float = 0.0  # the fake's own handling time, summed over requests (latency included)
    problems: list[str] = field(default_factory=list)


class Fake:
    """`reconciler serve --service S` on a free port over a copy of a prepared store."""

    def __init__(self, service: Service, db: Path, workdir: Path, latency_ms: int) -> None:
        self.log = workdir / "requests.jsonl"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "serve",
                "--service",
                service.name,
                "--port",
                "0",
                "--token",
                service.token,
                "--db",
                str(db),
                "--log-requests",
                str(self.log),
                "--latency-ms",
                str(latency_ms),
                *service.serve_args,
            ],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=_child_env(),
        )
        line = self.proc.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+\S*)", line)
        if not match:
            self.stop()
            raise SystemExit(f"the {service.name} sandbox did not start: {line}{self.proc.stderr.read()}")
        self.url = match.group(1)

    def entries(self) -> list[dict[str, Any]]:
        time.sleep(0.05)  # the log line is written after the answer is sent
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        if self.proc.stderr:
            self.proc.stderr.close()


def _child_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def served(entries: Sequence[Mapping[str, Any]]) -> float:
    return sum(float(e["ms"]) for e in entries) / 1000


def tally(service: Service, entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    found = Counter(service.operation(e) for e in entries)
    refused = sum(1 for e in entries if e["status"] >= 400)
    if refused:
        found["(refused)"] = refused  # counted again under their operation
    return dict(sorted(found.items()))


class Prepared:
    """One prepared store per (service, N, drift), copied fresh for every run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[tuple[str, int, float], Path] = {}

    def copy(self, service: Service, n: int, drift: float, workdir: Path) -> Path:
        key = (service.name, n, drift)
        if key not in self._made:
            path = self.root / f"{service.name}-{n}-{drift}.db"
            service.prepare(path, n, drift)
            self._made[key] = path
        target = workdir / "sandbox.db"
        shutil.copyfile(self._made[key], target)
        return target


def run_reconciler(service: Service, prepared: Prepared, n: int, drift: float, latency_ms: int) -> Row:
    with tempfile.TemporaryDirectory(prefix=f"bench-{service.name}-") as tmp:
        work = Path(tmp)
        db = prepared.copy(service, n, drift, work)
        fake = Fake(service, db, work, latency_ms)
        try:
            spec = work / "spec.yaml"
            spec.write_text(service.spec(fake.url))
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "reconciler", "-q", "apply", str(spec), "--auto-approve"],
                env=_child_env(service.env(fake.url)),
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            seconds = time.perf_counter() - start
            entries = fake.entries()
        finally:
            fake.stop()
        if done.returncode != 0:
            raise SystemExit(f"{service.name}: reconciler apply failed ({done.returncode}): {done.stderr}")
        minimum = service.minimum(n, drift)
        return Row(
            service.name,
            "reconciler",
            n,
            drift,
            latency_ms,
            len(entries),
            tally(service, entries),
            seconds,
            n,
            minimum=sum(minimum.values()),
            server_seconds=served(entries),
            problems=service.check(db, n, drift, n),
        )


def run_official(service: Service, prepared: Prepared, n: int, drift: float, latency_ms: int, sample: int) -> Row:
    with tempfile.TemporaryDirectory(prefix=f"bench-{service.name}-official-") as tmp:
        work = Path(tmp)
        db = prepared.copy(service, n, drift, work)
        fake = Fake(service, db, work, latency_ms)
        try:
            loop = service.official(fake.url, min(sample, n))
            built = len(fake.entries())  # what building the client sent (a probe) is not counted
            start = time.perf_counter()
            processed = loop()
            seconds = time.perf_counter() - start
            entries = fake.entries()[built:]
        finally:
            fake.stop()
        scale = n / processed if processed else 1.0
        by_op = {
            op: count if op in service.once else round(count * scale) for op, count in tally(service, entries).items()
        }
        requests = sum(count for op, count in by_op.items() if op != "(refused)")
        return Row(
            service.name,
            service.official_name,
            n,
            drift,
            latency_ms,
            requests,
            by_op,
            seconds * scale,
            processed,
            extrapolated=processed < n,
            server_seconds=served(entries) * scale,
            problems=service.check(db, n, drift, processed),
        )


def run_service(
    service: Service,
    prepared: Prepared,
    sizes: Sequence[int],
    drifts: Sequence[float],
    latencies: Sequence[int],
    sample: Mapping[int, int] | None = None,
) -> list[Row]:
    rows: list[Row] = []
    for latency in latencies:
        for n in sizes:
            for drift in drifts:
                mine = run_reconciler(service, prepared, n, drift, latency)
                theirs = run_official(
                    service, prepared, n, drift, latency, (sample or SAMPLE).get(latency, min(SAMPLE.values()))
                )
                for row in (mine, theirs):
                    print(line(row, mine), file=sys.stderr, flush=True)
                rows += [mine, theirs]
    return rows


def _num(value: float, star: bool) -> str:
    return f"{value:,.0f}{'*' if star else ''}"


def line(row: Row, mine: Row) -> str:
    star = row.extrapolated
    ops = " · ".join(f"{op} {_num(c, star)}" for op, c in row.by_operation.items())
    minimum = (
        ""
        if row.minimum is None
        else (f"{row.minimum:,}" + (" ✓" if row.requests == row.minimum else f" (≠ {row.requests:,})"))
    )
    ratio = "" if row is mine else f"{row.seconds / mine.seconds:.1f}×"
    problems = f" **{len(row.problems)} items wrong: {row.problems[0]}**" if row.problems else ""
    return (
        f"| {row.side} | {row.n:,} | {row.drift:.0%} | {row.latency_ms} | {_num(row.requests, star)} | "
        f"{minimum} | {ops} | {row.server_seconds:.1f}{'*' if star else ''} | "
        f"{row.seconds:.2f}{'*' if star else ''} | {ratio} |{problems}"
    )


HEADER = (
    "| side | N | drift | latency ms | requests | minimum | by operation | server s | wall s | "
    "its wall ÷ reconciler's |\n|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"
)


def table(rows: Sequence[Row]) -> str:
    out = [HEADER]
    mine = None
    for row in rows:
        if row.side == "reconciler":
            mine = row
        out.append(line(row, mine or row))
    return "\n".join(out)


def build_store(service: str, db: Path, queue: str, items: Sequence[Mapping[str, Any]]) -> None:
    """The fake's store file from seed items (`reconciler serve --seed`'s format), built by
    the fake's own `build` in this process, so it is ready before the clock starts."""
    from reconciler.sandbox.server import SandboxConfig, build_fake

    seed = db.with_suffix(".seed.json")
    seed.write_text(json.dumps({"queues": [{"id": queue, "items": list(items)}]}))
    config = SandboxConfig(token="prepare", service=service, db_path=db, seed=seed)
    build_fake(config).close()
    seed.unlink()


def load(name: str) -> Service:
    """The Service of a per-service script (by service name or module name)."""
    sys.path.insert(0, str(HERE)) if str(HERE) not in sys.path else None
    return importlib.import_module(SCRIPTS.get(name, name)).SERVICE


def compile_bytecode() -> None:
    """As benchmarks/run.py does: an installed reconciler loads bytecode; an editable
    checkout under PYTHONDONTWRITEBYTECODE would recompile it in every CLI child."""
    import compileall

    import reconciler

    compileall.compile_dir(Path(reconciler.__file__).parent, quiet=1)


def main(argv: Sequence[str] | None = None, services: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    if services is None:
        parser.add_argument("services", nargs="*", help=f"default: all of {', '.join(SCRIPTS)} present")
    csv = lambda kind: lambda s: [kind(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--sizes", type=csv(int), default=list(SIZES))
    parser.add_argument("--drifts", type=csv(float), default=list(DRIFTS))
    parser.add_argument("--latencies", type=csv(int), default=list(LATENCIES), help="ms added per request")
    parser.add_argument(
        "--sample",
        type=int,
        help="items the official loop processes (default: "
        + ", ".join(f"{v} at {k} ms" for k, v in SAMPLE.items())
        + ")",
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    names = list(services if services is not None else (args.services or available()))
    compile_bytecode()
    sample = {lat: args.sample for lat in args.latencies} if args.sample else None
    started = time.perf_counter()
    all_rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-prepared-") as tmp:
        prepared = Prepared(Path(tmp))
        for name in names:
            service = load(name)
            print(f"## {service.name}: reconciler vs {service.official_name}", file=sys.stderr, flush=True)
            rows = run_service(service, prepared, args.sizes, args.drifts, args.latencies, sample)
            all_rows += rows
            print(f"### {service.name}\n\n{table(rows)}\n")
    print(f"(whole run: {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in all_rows], indent=1))
    wrong = [r for r in all_rows if r.problems]
    return 1 if wrong else 0


def available() -> list[str]:
    """The services whose provider is in this checkout."""
    providers = ROOT / "reconciler" / "providers"
    return [name for name in SCRIPTS if (providers / f"{name.replace('-', '_')}.py").exists()]


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b) if a else 0


if __name__ == "__main__":
    sys.exit(main())
