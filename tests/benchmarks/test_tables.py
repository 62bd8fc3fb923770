"""benchmarks/tables.py must not rot: a tiny run, asserting its figures exist, not times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmark smoke runs: CI runs them, `-m "not slow"` skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tables.py"


def test_the_tables_benchmark_runs_every_scenario(tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--n", "300", "--repeat", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SCRIPT.parent.parent,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["n"] == 300 and figures["plan_ratio"] > 0
    assert set(figures["figures"]) == {
        "validate: table spec",
        "validate: same entries as YAML",
        "plan: table spec",
        "plan: same entries as YAML",
    }
    assert "| scenario | best wall s |" in result.stdout
