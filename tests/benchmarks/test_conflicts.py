"""benchmarks/conflicts.py must not rot: a tiny run, asserting request counts, not times."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # benchmark smoke runs: CI runs them, `-m "not slow"` skips them

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "conflicts.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_conflicts", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_conflicts"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reapplying_costs_one_412_and_one_listing(bench, tmp_path):
    first, again = bench.reapply(tmp_path, 1_200, [])
    assert [r["method"] for r in first.log] == ["PUT"] * 3 and first.report == 3
    cells = dict(zip(bench.HEADER, again.cells(), strict=True))
    assert (cells["requests"], cells["GET"], cells["PUT"], cells["412"]) == ("14", "13", "1", "1")
    assert again.report == 14


def test_two_applies_at_once_report_what_the_server_saw(bench, tmp_path):
    *_, both = bench.two_at_once(tmp_path, 600, [])
    assert both.report == len(both.log)
