"""benchmarks/ranks.py must not rot: a tiny run, asserting its figures exist, not times."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmark smoke runs: CI runs them, `-m "not slow"` skips them

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "ranks.py"


def test_the_ranks_benchmark_runs_every_scenario(tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--n", "800", "--repeat", "1", "--json", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=SCRIPT.parent.parent)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert [row["n"] for row in figures["scaling"]] == [50, 100, 200, 400, 800]
    assert figures["diff"]["n"] == 800 and figures["diff"]["with_rank_s"] > 0
    assert "| N | groups | rank_queue best s | ns per n·log2 n |" in result.stdout
