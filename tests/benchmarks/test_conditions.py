"""benchmarks/conditions.py must not rot: a tiny run, asserting counts, not times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "conditions.py"


def test_the_conditions_benchmark_runs_and_both_listings_cost_the_same_requests():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--n", "2000", "--listing-n", "250", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ")]
    changes = {r[1].strip(): r[3].strip() for r in rows if "rules" in r[1] and "items" not in r[2]}
    assert changes["five equality rules"] == changes["five operator rules"] == "840"  # the same items
    listings = {r[1].strip(): r[3].strip() for r in rows if "/all" in r[1]}
    assert listings == {"status/all": "3", "bundle/all": "3"}  # floor(250/100) + 1 each
