"""Renderers: golden outputs for representative plans, escaping, the markdown cap.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render/test_render.py` and review the diff.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from plan_samples import META, big_plan, change, empty_plan, normal_plan
from reconciler.errors import Located, UserError, UserErrors
from reconciler.model import ApplyReport, FieldChange, ItemResult, Plan, QueuePlan, Source
from reconciler.planfile import dump_plan
from reconciler.render.github import github_errors_for, render_plan_github
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import cell_code, render_plan_markdown
from reconciler.render.report import render_report_text, report_to_dict
from reconciler.render.text import printable, render_plan_text

GOLDEN = Path(__file__).parents[1] / "golden"
PLANS = {"empty": empty_plan, "normal": normal_plan}


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual + "\n", encoding="utf-8")
        return
    assert path.exists(), f"missing golden file {path}; create it with UPDATE_GOLDEN=1"
    assert actual + "\n" == path.read_text(encoding="utf-8")


def sample_report() -> ApplyReport:
    return ApplyReport(
        results=(
            ItemResult("9615000", "9700001", "applied"),
            ItemResult("9615000", "9700002", "applied", "already held the planned values when re-read"),
            ItemResult("9615000", "9700003", "stale", "changed since the plan was made (etag e-3 is now e-4); nothing was written to it"),
            ItemResult("9615000", "9700004", "failed", "HTTP 400: bad annotation"),
            ItemResult("9615000", "9700005", "blocked", "item is locked"),
            ItemResult("9615000", "9700006", "skipped", "not attempted after an earlier failure (HTTP 400: bad annotation)"),
            ItemResult("9615001", "9700007", "unchanged"),
        ),
        requests=3,
    )


def field_plan(value: object, item_id: str = "9700001", queue_id: str = "9615000") -> Plan:
    changed = change(item_id, "RECEIVED", FieldChange("tags.note", None, (value,), Source("spec.yaml", 7)))
    return Plan("local", "db", "d", (QueuePlan(queue_id, 1, (changed,)),))


# ------------------------------------------------------------------------- goldens
@pytest.mark.parametrize("name", sorted(PLANS))
def test_text_golden(name):
    check_golden(f"{name}.txt", render_plan_text(PLANS[name]()))


def test_text_golden_in_colour():
    check_golden("normal.color.txt", render_plan_text(normal_plan(), color=True))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_json_golden(name):
    check_golden(f"{name}.json", render_plan_json(PLANS[name](), **META))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_markdown_golden(name):
    check_golden(f"{name}.md", render_plan_markdown(PLANS[name]()))


def test_markdown_golden_of_a_plan_over_the_cap():
    check_golden("big.md", render_plan_markdown(big_plan()))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_github_golden(name):
    check_golden(f"{name}.github.txt", render_plan_github(PLANS[name]()))


def test_report_golden():
    check_golden("report.txt", render_report_text(sample_report()))
    check_golden("report.json", json.dumps(report_to_dict(sample_report()), indent=2, sort_keys=True))


# --------------------------------------------------------------------------- text
def test_empty_plan_says_live_state_matches():
    assert render_plan_text(empty_plan()) == "No changes. Live state matches the spec."


def test_text_marks_each_kind_of_change_and_ends_with_the_summary():
    lines = render_plan_text(normal_plan()).splitlines()
    heads = [line for line in lines if re.match(r"  [~+\-!] ", line)]
    assert heads == [
        "  ~ 9700001",
        "  + 9700002",
        "  - 9700003",
        "  ~ 9700004",
        "  ! 9700005  BLOCKED: item is locked; to change it and keep it locked add `replace: true` "
        "to its entry (or pass --replace ID), to unlock it add `locked: false`",
        "  ~ 9700006",
    ]
    assert lines[0].startswith("Markers: ~ change · + change that locks")
    assert lines[-1] == "Plan: 5 to change (including 1 lock, 1 unlock), 1 blocked (of 52 items seen)."


def test_text_has_no_colour_unless_asked():
    assert "\x1b" not in render_plan_text(normal_plan())
    assert "\x1b[1;31m  ! 9700005" in render_plan_text(normal_plan(), color=True)


def test_terminal_control_characters_from_values_are_shown_escaped():
    plan = field_plan("\x1b]0;pwned\x07 \u202eevil \x9b", item_id="97\x1b[2J01")
    text = render_plan_text(plan)
    assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text
    assert "97\\u001b[2J01" in text
    assert '"\\u001b]0;pwned\\u0007 \\u202eevil \\u009b"' in text


def test_text_rendering_is_linear_in_the_number_of_changes():
    plan = big_plan(10_000)
    start = time.perf_counter()
    text = render_plan_text(plan)
    assert time.perf_counter() - start < 2.0
    # legend, blank, queue header, 3 lines a change, blank, summary
    assert text.count("\n") == 3 * 10_000 + 4


# ------------------------------------------------------------------------ markdown
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
    inner = value_cell[len(fence):-len(fence)]
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
    blocked = change("9899999", "SCORED", FieldChange("status", "SCORED", "INVALID", Source("spec.yaml", 40)), blocked=True)
    plan = Plan(plan.provider_type, plan.endpoint, plan.spec_digest, (QueuePlan(queue.queue_id, queue.items_seen, queue.changes + (blocked,)),))
    md = render_plan_markdown(plan)
    assert "| `9899999` **blocked** | `status` |" in md
    assert md.index("9899999") < md.index("9800000")


def test_markdown_limit_must_leave_room_for_the_summary():
    with pytest.raises(ValueError):
        render_plan_markdown(normal_plan(), limit=999)


# -------------------------------------------------------------------------- github
def test_github_annotates_each_blocked_change_at_its_source_and_summarises():
    out = render_plan_github(normal_plan()).splitlines()
    assert out == [
        "::error file=spec.yaml,line=33,title=blocked change::queue 9615000: 9700005 is blocked: "
        "item is locked; to change it and keep it locked add `replace: true` to its entry "
        '(or pass --replace ID), to unlock it add `locked: false` (status: "SCORED" → "INVALID")',
        "::notice title=reconciler plan::Plan: 5 to change (including 1 lock, 1 unlock), 1 blocked (of 52 items seen).",
    ]


def test_github_escapes_message_data_and_properties():
    blocked = change(
        "1%0A::warning::x", "A",
        FieldChange("status", "A", "B\r\n::error::injected", Source("dir,a:b/spec%.yaml", 3)),
        blocked=True,
    )
    out = render_plan_github(Plan("local", "db", "d", (QueuePlan("q", 1, (blocked,)),)))
    first = out.splitlines()[0]
    assert first.startswith("::error file=dir%2Ca%3Ab/spec%25.yaml,line=3,title=blocked change::")
    assert "1%250A::warning::x" in first
    assert '"B\\r\\n::error::injected"' in first
    assert len(out.splitlines()) == 2


def test_github_errors_for_places_located_errors_and_flattens_groups():
    errors = [
        Located("specs/a,b.yaml", 12, 5, "unknown key 'stauts'"),
        UserErrors([Located("spec.yaml", 3, None, "100% wrong\nreally"), Located("x.yaml", None, None, "no line")]),
        UserError("cannot reach the service"),
    ]
    assert github_errors_for(errors).splitlines() == [
        "::error file=specs/a%2Cb.yaml,line=12,col=5::unknown key 'stauts'",
        "::error file=spec.yaml,line=3::100%25 wrong\\u000areally",
        "::error file=x.yaml::no line",
        "::error::cannot reach the service",
    ]


def test_github_output_for_an_empty_plan_is_one_notice():
    assert render_plan_github(empty_plan()) == (
        "::notice title=reconciler plan::No changes. Live state matches the spec."
    )


# ---------------------------------------------------------------------------- json
def test_json_renderer_is_the_plan_file_document():
    assert render_plan_json(normal_plan(), **META) + "\n" == dump_plan(normal_plan(), **META)


# -------------------------------------------------------------------------- report
def test_report_lists_every_item_not_applied_by_outcome_and_ends_with_the_summary():
    text = render_report_text(sample_report())
    lines = text.splitlines()
    assert lines[-1] == "Apply complete: 2 applied, 1 unchanged, 1 stale, 1 blocked, 1 failed, 1 skipped."
    assert "  queue 9615000, item 9700004: HTTP 400: bad annotation" in lines
    assert [line for line in lines if line and not line.startswith(" ")][:-1] == [
        "Failed: 1", "Blocked: 1", "Stale: 1", "Skipped: 1", "Unchanged: 1",
    ]
    assert "9700001" not in text and "9700002" not in text


def test_report_of_nothing_to_do():
    assert render_report_text(ApplyReport(results=())) == (
        "Apply complete: 0 applied, 0 unchanged, 0 stale, 0 blocked, 0 failed, 0 skipped."
    )


def test_report_colours_only_when_asked():
    assert "\x1b" not in render_report_text(sample_report())
    assert render_report_text(sample_report(), color=True).endswith("\x1b[1;31m" + (
        "Apply complete: 2 applied, 1 unchanged, 1 stale, 1 blocked, 1 failed, 1 skipped.\x1b[0m"
    ))


def test_report_dict_has_every_result_and_the_counts():
    data = report_to_dict(sample_report())
    assert data["ok"] is False and data["requests"] == 3
    assert data["summary"] == {"applied": 2, "unchanged": 1, "stale": 1, "blocked": 1, "failed": 1, "skipped": 1}
    assert data["results"][2] == {
        "queue_id": "9615000", "item_id": "9700003", "outcome": "stale",
        "detail": "changed since the plan was made (etag e-3 is now e-4); nothing was written to it",
    }
    assert len(data["results"]) == 7
