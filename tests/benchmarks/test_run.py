"""The benchmark script must not rot: a tiny run, asserting request counts, not times."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # property tests and benchmark smoke runs: CI runs them, `-m "not slow"` skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


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
    # every page once, plus at most two asked for past the end by the concurrent readers
    assert n // 100 + 1 <= plan.reads <= n // 100 + 1 + 2 and plan.writes == 0
    assert (apply_.reads, apply_.writes) == (0, math.ceil(changes / 500))
    assert total.requests == plan.reads + math.ceil(changes / 500)


def test_floor_and_naive_baselines_count_their_requests(bench, tmp_path):
    floor = bench.scenario_floor(tmp_path / "a", 250, 0.1, naive=False)
    naive = bench.scenario_floor(tmp_path / "b", 250, 0.1, naive=True)
    assert (floor.reads, floor.writes, floor.rotated) == (3, 1, 25)
    assert (naive.reads, naive.writes, naive.rotated) == (3, 1, 250)


def test_the_quick_run_prints_a_table_and_counts_every_scenario(tmp_path):
    out = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--sizes", "300", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=SCRIPT.parent.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("| scenario | N | drift | requests | GET | PUT | 429 |")
    rows = {r["scenario"]: r for r in json.loads(out.read_text())}
    changes = 30  # 10 % of 300
    plan, apply_ = rows["reconciler: plan"], rows["reconciler: apply plan.json"]
    assert 300 // 100 + 1 <= plan["reads"] <= 300 // 100 + 1 + 2 and plan["writes"] == 0
    assert (apply_["reads"], apply_["writes"], apply_["rotated"]) == (0, math.ceil(changes / 500), changes)
    assert all(r["throttled"] == 0 for r in rows.values())
    assert rows["naive: list all, write all"]["rotated"] == 300
    per_item = rows["per-item GET + PUT loop"]
    assert (per_item["reads"], per_item["writes"], per_item["extrapolated"]) == (changes, changes, False)


def test_the_throttled_floors_are_computed_from_the_runs_own_requests(bench):
    total = bench.Row("reconciler (throttled): plan + apply", 100_000, 0.1, 1_022, 1_002, 20, 10_000, 70.0, throttled=1)
    floor = bench.Row("floor: raw GET pages + PUT batches", 100_000, 0.1, 1_021, 1_001, 20, 10_000, 10.21)
    rate, window = bench.throttled_floors(total, floor)
    assert (rate.requests, rate.seconds) == (1_021, 102.1)
    assert window.seconds == pytest.approx(60 + 10.21 * 421 / 1_021)


def test_the_sliding_window_floor_counts_what_the_later_requests_cost_the_raw_run(bench):
    total = bench.Row("reconciler (throttled): plan + apply", 100_000, 0.1, 1_021, 1_001, 20, 10_000, 70.0)
    # the raw run: 1,021 requests in 10 s; the first 600 took 1 ms of server time each, the
    # 421 after them 10 ms (deep pages, then the PUTs)
    ms = (1.0,) * 600 + (10.0,) * 421
    floor = bench.Row("floor: raw GET pages + PUT batches", 100_000, 0.1, 1_021, 1_001, 20, 10_000, 10.0, server_ms=ms)
    _, window = bench.throttled_floors(total, floor)
    other = (10_000 - sum(ms)) / 1_021  # client time and start-up, spread evenly
    assert window.seconds == pytest.approx(60 + 421 * (10 + other) / 1000)
    assert window.seconds > 60 + 10.0 * 421 / 1_021  # more than an even share of the wall time
