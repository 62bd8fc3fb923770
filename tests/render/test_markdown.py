"""The markdown renderer (reconciler/render/markdown.py): a PR comment that values cannot break,
under the comment cap, blocked changes first.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render` and review the diff.
"""

from __future__ import annotations

import json
import re

import pytest
from golden_files import PLANS, check_golden
from plan_samples import big_plan, change, field_plan, normal_plan

from reconciler.model import FieldChange, Plan, QueuePlan, Source
from reconciler.render.markdown import cell_code, render_plan_markdown
from reconciler.render.text import printable


@pytest.mark.parametrize("name", sorted(PLANS))
def test_markdown_golden(name):
    check_golden(f"{name}.md", render_plan_markdown(PLANS[name]()))


def test_markdown_golden_of_a_plan_over_the_cap():
    check_golden("big.md", render_plan_markdown(big_plan()))


def markdown_cells(row: str) -> list[str]:
    """A GFM table row's cells: split at pipes not escaped by a backslash."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize(
    "value",
    ["a | b", "<script>alert(1)</script>", "`rm -rf`", "``", "x`", "@octocat **bold** [l](http://x)", "tab\there"],
)
def test_markdown_values_cannot_break_the_table_or_inject_markup(value):
    md = render_plan_markdown(field_plan(value))
    row = next(line for line in md.splitlines() if "`tags.note`" in line)
    cells = markdown_cells(row)
    assert len(cells) == 5
    value_cell = cells[3]
    fence = re.match("`+", value_cell).group()
    assert value_cell.endswith(fence)
    inner = value_cell[len(fence) : -len(fence)]
    if inner.startswith(" ") and inner.endswith(" "):
        inner = inner[1:-1]
    assert inner.replace("\\|", "|") == printable(json.dumps(value, ensure_ascii=False))
    assert "<script>" not in md.replace(value_cell, "")


def test_code_spans_pick_a_fence_longer_than_any_backtick_run():
    assert cell_code("plain") == "`plain`"
    assert cell_code("a`b") == "``a`b``"
    assert cell_code("``x") == "``` ``x ```"
    assert cell_code("a|b") == "`a\\|b`"
    assert cell_code("") == ""


def test_queue_ids_are_html_escaped_inside_the_details_summary():
    md = render_plan_markdown(field_plan("x", queue_id="<img src=x onerror=alert(1)>"))
    assert "<img" not in md.replace("| `<img src=x onerror=alert(1)>` |", "")
    assert "<summary>Queue &lt;img src=x onerror=alert(1)&gt;: 1 change</summary>" in md


@pytest.mark.parametrize("limit", [1_000, 4_321, 20_000, 60_000])
def test_markdown_stays_under_the_cap_and_counts_what_it_left_out(limit):
    plan = big_plan(3_000)
    md = render_plan_markdown(plan, limit=limit)
    assert len(md) <= limit
    shown = sum(1 for line in md.splitlines() if line.startswith("| `98"))
    hidden = 3_000 - shown
    assert shown > 0 or limit < 2_000
    assert md.endswith(
        f"… {hidden:,} more changes not shown (output capped at {limit:,} characters); "
        "every change is in the saved plan file (in CI the `reconciler-plan` artifact): "
        "`reconciler show plan.json`"
    )
    assert md.count("<details>") == md.count("</details>")


def test_markdown_within_the_cap_has_no_note():
    md = render_plan_markdown(normal_plan())
    assert "not shown" not in md
    assert len(re.findall(r"^\| `97", md, re.M)) == 6


def test_blocked_changes_come_first_so_the_cap_never_hides_them():
    plan = big_plan(3_000)
    queue = plan.queues[0]
    blocked = change(
        "9899999", "SCORED", FieldChange("status", "SCORED", "INVALID", Source("spec.yaml", 40)), blocked=True
    )
    plan = Plan(
        plan.provider_type,
        plan.endpoint,
        plan.spec_digest,
        (QueuePlan(queue.queue_id, queue.items_seen, queue.changes + (blocked,)),),
    )
    md = render_plan_markdown(plan)
    assert "| `9899999` **blocked** | `status` |" in md
    assert md.index("9899999") < md.index("9800000")


def test_markdown_limit_must_leave_room_for_the_summary():
    with pytest.raises(ValueError):
        render_plan_markdown(normal_plan(), limit=999)
