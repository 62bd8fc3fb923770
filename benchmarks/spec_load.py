"""Loading big specs: `validate` and `plan` against the parser's own floor, and rule counts.

    python benchmarks/spec_load.py                      # 20,000 and 100,000 entries, YAML and JSON
    python benchmarks/spec_load.py --entries 20000 --repeat 5
    python benchmarks/spec_load.py --rules 2000 4000 8000 16000   # validate, rules only
    python benchmarks/spec_load.py --chain 250 500 1000           # plan, a chain of n rules
    python benchmarks/spec_load.py --entries 20000 --baseline ../main  # with another checkout's figures

Every figure is one fresh process (`reconciler validate`/`plan`, or a bare
`yaml.load(f, Loader=yaml.CSafeLoader)` / `json.load` of the same include file; bytecode
compiled first, as an installed package has it), run
side by side in interleaved rounds; the table keeps each one's best wall time, and its
CPU time and peak RSS from that same run (os.wait4). The spec is a queue with one rule
and `include: [scores.yaml]` (or `.json`), the include holds the N entries; `plan` runs
against a local store seeded with the same N items (created before timing).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

FIRST_ID = 9700001
PYTHON = sys.executable


def entry(i: int) -> dict:
    return {"status": "SCORED", "tags": {"score": round((i % 97) / 97, 4), "rank": i % 50 + 1}}


def write_case(root: Path, n: int, kind: str) -> Path:
    """spec.yaml + scores.<kind> with n entries + a seed for the local store."""
    root.mkdir(parents=True, exist_ok=True)
    subs = {str(FIRST_ID + i): entry(i) for i in range(n)}
    include = root / f"scores.{kind}"
    if kind == "json":  # one entry a line, as a script exporting scores would write it
        lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in subs.items())
        include.write_text('{"submissions": {\n' + lines + "\n}}\n")
    else:
        with open(include, "w") as out:
            out.write("submissions:\n")
            for item_id, e in subs.items():
                tags = e["tags"]
                out.write(
                    f'  "{item_id}": {{status: {e["status"]}, tags: {{score: {tags["score"]}, '
                    f"rank: {tags['rank']}}}}}\n"
                )
    seed = root / "live.yaml"
    if not seed.exists():
        with open(seed, "w") as out:
            out.write('queues:\n  - id: "9615000"\n    items:\n')
            for i in range(n):
                out.write(f'      - {{id: "{FIRST_ID + i}", status: VALIDATED, tags: {{score: 0.1}}}}\n')
    spec = root / f"spec-{kind}.yaml"
    spec.write_text(
        "version: 1\n"
        "provider: {type: local, path: state.db, seed: live.yaml}\n"
        "queues:\n"
        '  - id: "9615000"\n'
        "    safety: {max_change_percent: 100}\n"
        "    rules:\n"
        "      - {name: accept, where: {status: VALIDATED}, set: {status: ACCEPTED}}\n"
        f"    include: [scores.{kind}]\n"
    )
    return spec


def rules_spec(root: Path, n: int) -> Path:
    """n rules, each moving one status to the next and touching a shared tag."""
    root.mkdir(parents=True, exist_ok=True)
    spec = root / f"rules-{n}.yaml"
    with open(spec, "w") as out:
        out.write('version: 1\nqueues:\n  - id: "9615000"\n    rules:\n')
        for i in range(n):
            out.write(
                f"      - name: r{i}\n        where: {{status: S{i}, tags: {{round: {i % 7}}}}}\n"
                f"        set: {{status: S{i + 1}, tags: {{round: {(i + 1) % 7}, stage: s{i}}}}}\n"
            )
    return spec


def chain_spec(root: Path, n: int) -> Path:
    """n rules listed so that each enables the one before it: n passes per item."""
    root.mkdir(parents=True, exist_ok=True)
    seed = root / f"chain-{n}-live.yaml"
    seed.write_text('queues:\n  - id: "9615000"\n    items:\n      - {id: "1", status: S0}\n')
    spec = root / f"chain-{n}.yaml"
    with open(spec, "w") as out:
        out.write(
            f"version: 1\nprovider: {{type: local, path: chain-{n}.db, seed: {seed.name}}}\n"
            'queues:\n  - id: "9615000"\n    rules:\n'
        )
        for i in reversed(range(n)):
            out.write(f"      - {{name: r{i}, where: {{status: S{i}}}, set: {{status: S{i + 1}}}}}\n")
    return spec


def run(argv: list[str], checkout: str | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one child process; `checkout`: another source
    tree of reconciler to run instead of this one (today's figures)."""
    env = dict(os.environ, PYTHONPATH=checkout) if checkout else None
    start = time.perf_counter()
    # cwd elsewhere: `python -m` puts the working directory first on sys.path, which
    # would shadow the baseline checkout with this one
    child = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir()
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    err = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        raise SystemExit(f"{' '.join(argv)} failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bare(kind: str, path: Path) -> list[str]:
    if kind == "json":
        code = f"import json\nwith open({str(path)!r}) as f: json.load(f)"
    else:
        code = f"import yaml\nwith open({str(path)!r}) as f: yaml.load(f, Loader=yaml.CSafeLoader)"
    return [PYTHON, "-c", code]


def reconciler(*args: str) -> list[str]:
    return [PYTHON, "-m", "reconciler", *args]


def best(samples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return min(samples)


def entries_table(sizes: list[int], repeat: int, work: Path, baseline: str | None) -> None:
    print(
        "| entries | include | checkout | bare load s (CPU) | validate s (CPU) | ratio wall (CPU) "
        "| plan s (CPU) | plan / (validate + read) wall (CPU) | validate peak RSS MB | plan peak RSS MB |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        root = work / f"n{n}"
        for kind in ("yaml", "json"):
            spec = write_case(root, n, kind)
            run(reconciler("plan", str(spec)))  # creates the store from the seed, untimed
            scenarios = {
                "bare": bare(kind, root / f"scores.{kind}"),
                "validate": reconciler("validate", str(spec)),
                "plan": reconciler("plan", str(spec)),
                "read": [PYTHON, str(Path(__file__).resolve()), "--read-store", str(root / "state.db")],
            }
            checkouts = {"this": None} | ({"baseline": baseline} if baseline else {})
            samples: dict[tuple, list] = {}
            for _ in range(repeat):
                for label, checkout in checkouts.items():
                    for name, argv in scenarios.items():
                        if label == "baseline" and name in ("bare", "read"):
                            continue
                        samples.setdefault((label, name), []).append(run(argv, checkout))
            b, r = best(samples[("this", "bare")]), best(samples[("this", "read")])
            for label in checkouts:
                v, p = best(samples[(label, "validate")]), best(samples[(label, "plan")])
                print(
                    f"| {n:,} | {kind} | {label} | {b[0]:.2f} ({b[1]:.2f}) | {v[0]:.2f} ({v[1]:.2f}) | "
                    f"{v[0] / b[0]:.2f}× ({v[1] / b[1]:.2f}×) | {p[0]:.2f} ({p[1]:.2f}) | "
                    f"{p[0] / (v[0] + r[0]):.2f}× ({p[1] / (v[1] + r[1]):.2f}×) | "
                    f"{v[2]:.0f} | {p[2]:.0f} |",
                    flush=True,
                )


def rules_table(counts: list[int], work: Path, baseline: str | None) -> None:
    print("| rules | checkout | validate s | validate CPU s | peak RSS MB |")
    print("|---:|---|---:|---:|---:|")
    for n in counts:
        spec = rules_spec(work, n)
        for label, checkout in {"this": None, "baseline": baseline}.items():
            if label == "this" or checkout:
                wall, cpu, rss = run(reconciler("validate", str(spec)), checkout)
                print(f"| {n:,} | {label} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |", flush=True)


def chain_table(counts: list[int], work: Path, baseline: str | None) -> None:
    print("| chain length | checkout | plan s (one item, n passes) | plan CPU s |")
    print("|---:|---|---:|---:|")
    for n in counts:
        spec = chain_spec(work, n)
        run(reconciler("plan", str(spec)))
        for label, checkout in {"this": None, "baseline": baseline}.items():
            if label == "this" or checkout:
                wall, cpu, _ = run(reconciler("plan", str(spec)), checkout)
                print(f"| {n:,} | {label} | {wall:.2f} | {cpu:.2f} |", flush=True)


def read_store(path: str) -> None:
    """The plan's read floor: every item of the local store, as the provider reads it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from reconciler.store import Store

    with Store(path) as store:
        store.page("9615000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, nargs="*", default=None)
    parser.add_argument("--rules", type=int, nargs="*", default=None)
    parser.add_argument("--chain", type=int, nargs="*", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout's root (e.g. /work/main): its figures beside these")
    parser.add_argument("--read-store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_store:
        read_store(args.read_store)
        return
    if args.entries is None and args.rules is None and args.chain is None:
        args.entries = [20_000, 100_000]
    print(f"libyaml: {yaml.__with_libyaml__}, python {sys.version.split()[0]}\n")
    # Bytecode first, as an installed package has it: with PYTHONDONTWRITEBYTECODE set
    # (as on the machine these figures come from) every run would compile each changed
    # module again, 30 ms of a small spec's 0.1 s.
    for root in [Path(__file__).resolve().parent.parent] + ([Path(args.baseline)] if args.baseline else []):
        compileall.compile_dir(root / "reconciler", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        if args.entries:
            entries_table(args.entries, args.repeat, Path(tmp), args.baseline)
        if args.rules:
            rules_table(args.rules, Path(tmp), args.baseline)
        if args.chain:
            chain_table(args.chain, Path(tmp), args.baseline)


if __name__ == "__main__":
    main()
