"""benchmarks/spec_load.py runs and prints its tables (the figures are BENCHMARKS.md's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "spec_load.py"


@pytest.mark.slow
def test_the_spec_load_benchmark_prints_every_row():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--entries", "300", "--repeat", "1", "--rules", "40", "--chain", "40"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split("|")[1:4] for r in rows if r.startswith("| 300 ")] == [
        [" 300 ", " yaml ", " this "],
        [" 300 ", " json ", " this "],
    ]
    assert any(r.startswith("| 40 | this |") for r in rows)  # rules
    assert sum(r.startswith("| 40 | this |") for r in rows) == 2  # and the chain
