"""The renderers' golden outputs (tests/golden/): compare, or rewrite after an intended change
with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render` (then review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

from plan_samples import empty_plan, normal_plan

GOLDEN = Path(__file__).parent / "golden"
# the plans every plan renderer has a golden output of
PLANS = {"empty": empty_plan, "normal": normal_plan}


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual + "\n", encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; create it with UPDATE_GOLDEN=1"
    assert actual + "\n" == path.read_text(encoding="utf-8")
