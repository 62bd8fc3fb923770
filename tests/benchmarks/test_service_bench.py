"""The per-service benchmarks (benchmarks/service_bench.py) must not rot, and reconciler
must send exactly the request-count minimum BENCHMARKS.md gives per service: the
smallest scenarios, counts from the fake's request log (never times)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import service_bench  # noqa: E402

SERVICES = service_bench.available()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return service_bench.Prepared(tmp_path_factory.mktemp("prepared"))


def test_every_service_on_main_has_a_benchmark_script():
    providers = {p.stem for p in (BENCH.parent / "reconciler" / "providers").glob("*.py")}
    missing = [
        name
        for name in service_bench.SCRIPTS
        if name.replace("-", "_") in providers and not (BENCH / f"{service_bench.SCRIPTS[name]}.py").exists()
    ]
    assert missing == []
    assert {"omics", "supervisely"} <= set(SERVICES)


def test_drift_is_spread_evenly_so_a_sample_extrapolates():
    assert [i for i in range(30) if service_bench.drifted(i, 0.1)] == [0, 10, 20]
    assert service_bench.changes(1_000, 0.1) == 100 and service_bench.changes(1_000, 1.0) == 1_000
    assert service_bench.changes(500, 0.1) * 2 == service_bench.changes(1_000, 0.1)


def test_datamaker_minimum_is_the_documented_example():
    """docs/datamaker.md: 450 untagged tasks, the spec adds `scored`: plan 1 + 1 + 4 + 5
    GETs (tags, the project's count, memberships, cursor pages), apply SPEC 11 + 5 × 3 =
    26 GETs and 3 POSTs."""
    if "datamaker" not in SERVICES:
        pytest.skip("datamaker is not in this checkout")
    minimum = service_bench.load("datamaker").minimum(450, 1.0)
    assert minimum["task_tags"] + minimum["sdk/tasks"] == 26 and minimum["tasks/set_tags"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("drift", [0.1, 1.0])
def test_reconciler_sends_the_minimum_and_both_sides_do_the_whole_job(name, drift, prepared):
    service = service_bench.load(name)
    n = 250
    mine = service_bench.run_reconciler(service, prepared, n, drift, 0)
    assert mine.problems == []
    expected = {op: count for op, count in service.minimum(n, drift).items() if count}
    assert mine.by_operation == expected
    assert mine.requests == mine.minimum
    theirs = service_bench.run_official(service, prepared, n, drift, 0, sample=n)
    assert theirs.problems == [] and theirs.processed == n and not theirs.extrapolated
    sampled = service_bench.run_official(service, prepared, n, drift, 0, sample=50)
    assert sampled.processed == 50 and sampled.extrapolated and sampled.problems == []
    assert all(sampled.by_operation[op] == theirs.by_operation[op] for op in service.once)
