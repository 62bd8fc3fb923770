"""benchmarks/hostile.py must not rot: its quick scenarios run and end as documented
(exit codes and request counts, not times)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "hostile.py"


def test_the_hostile_benchmark_runs_its_quick_scenarios():
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "baseline", "bomb"], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert out[0].startswith("baseline") and "exit 0" in out[0]
    assert out[1].startswith("bomb") and "exit 1" in out[1] and " 1 requests" in out[1]
    assert "over the 64 MiB cap once decoded" in out[1]
