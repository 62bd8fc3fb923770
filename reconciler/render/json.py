"""`--format json`: exactly the plan file document, so `plan --format json > plan.json`
and `plan -o plan.json` produce the same file (docs/plan-file.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..model import Plan
from ..notes import SpecWarning
from ..planfile import dump_plan


def render_plan_json(
    plan: Plan,
    *,
    tool_version: str,
    created_at: str,
    warnings: Sequence[SpecWarning] = (),
    problems: Sequence[Mapping[str, str]] = (),
) -> str:
    """The plan file text without its final newline (the CLI's echo adds one)."""
    return dump_plan(
        plan, tool_version=tool_version, created_at=created_at, warnings=warnings, problems=problems
    ).removesuffix("\n")
