"""What `import reconciler` and the CLI's start cost: the Python API (DESIGN §12) must not
make them dearer, so its names load on first use.

    .venv/bin/python benchmarks/import_cost.py [--baseline REF] [--repeat 15]

For this checkout, and with --baseline for the package as commit REF has it (extracted
with `git archive`, bytecode compiled for both as `pip install` does): the cumulative
`-X importtime` of `import reconciler`, the reconciler modules it loads, and the best
wall time of `python -m reconciler --version` and of `import reconciler` alone.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: list[str], path: Path, extra: list[str] = ()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(path)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(
        [sys.executable, *extra, *code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tempfile.gettempdir(),
    )


def measure(path: Path, repeat: int) -> dict[str, float]:
    compileall.compile_dir(path / "reconciler", quiet=1)
    import_us = []
    for _ in range(repeat):
        done = _run(["-c", "import reconciler"], path, ["-X", "importtime"])
        line = next(x for x in done.stderr.splitlines() if re.search(r"\|\s*reconciler$", x))
        import_us.append(int(line.split("|")[1]))
    modules = _run(
        ["-c", "import sys, reconciler; print(sum(m.startswith('reconciler') for m in sys.modules))"], path
    ).stdout.strip()
    walls = {}
    for name, code in (("import", ["-c", "import reconciler"]), ("version", ["-m", "reconciler", "--version"])):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            _run(code, path)
            best = min(best, time.perf_counter() - start)
        walls[name] = best
    return {
        "importtime_ms": min(import_us) / 1000,
        "modules": int(modules),
        "import_wall_ms": walls["import"] * 1000,
        "version_wall_ms": walls["version"] * 1000,
    }


def extract(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "reconciler"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="a git ref to compare with (e.g. main)")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            rows.append((args.baseline, measure(extract(args.baseline, Path(tmp)), args.repeat)))
        rows.append(("this checkout", measure(ROOT, args.repeat)))
    print(
        "| package | `import reconciler` (-X importtime, best) | reconciler modules loaded "
        "| `import reconciler` wall (best) | `reconciler --version` wall (best) |"
    )
    print("|---|---|---|---|---|")
    for name, m in rows:
        print(
            f"| {name} | {m['importtime_ms']:.2f} ms | {m['modules']} | {m['import_wall_ms']:.0f} ms "
            f"| {m['version_wall_ms']:.0f} ms |"
        )


if __name__ == "__main__":
    main()
