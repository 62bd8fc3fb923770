"""The benchmark script must not rot: a tiny run, asserting request counts, not times."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reconciler_reads_each_page_once_and_writes_ceil_batches(bench, tmp_path):
    n, drift = 1_234, 0.5
    plan, apply_, total = bench.scenario_reconciler(tmp_path, n, drift)
    changes = apply_.rotated
    assert changes == math.ceil(n * drift)
    assert (plan.reads, plan.writes) == (n // 100 + 1, 0)
    assert (apply_.reads, apply_.writes) == (0, math.ceil(changes / 500))
    assert total.requests == n // 100 + 1 + math.ceil(changes / 500)


def test_floor_and_naive_baselines_count_their_requests(bench, tmp_path):
    floor = bench.scenario_floor(tmp_path / "a", 250, 0.1, naive=False)
    naive = bench.scenario_floor(tmp_path / "b", 250, 0.1, naive=True)
    assert (floor.reads, floor.writes, floor.rotated) == (3, 1, 25)
    assert (naive.reads, naive.writes, naive.rotated) == (3, 1, 250)
