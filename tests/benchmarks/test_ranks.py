"""benchmarks/ranks.py must not rot: a tiny in-process run, asserting its figures exist,
not times."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmark smoke runs: CI runs them, `-m "not slow"` skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ranks.py"


def test_the_ranks_benchmark_runs_every_scenario(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_ranks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    monkeypatch.setattr(sys, "argv", ["ranks.py", "--n", "800", "--repeat", "1", "--json", str(out)])
    module.main()
    figures = json.loads(out.read_text())
    assert [row["n"] for row in figures["scaling"]] == [50, 100, 200, 400, 800]
    assert figures["diff"]["n"] == 800 and figures["diff"]["with_rank_s"] > 0
    assert "| N | groups | rank_queue best s | ns per n·log2 n |" in capsys.readouterr().out
