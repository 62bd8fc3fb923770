"""The text renderer (reconciler/render/text.py): the terminal's plan, markers, colour only when
asked, control characters escaped."""

from __future__ import annotations

import re
import sys

import pytest
from golden_files import PLANS, check_golden
from plan_samples import big_plan, empty_plan, field_plan, normal_plan

from reconciler.render.text import render_plan_text


@pytest.mark.parametrize("name", sorted(PLANS))
def test_text_golden(name):
    check_golden(f"{name}.txt", render_plan_text(PLANS[name]()))


def test_text_golden_in_colour():
    check_golden("normal.color.txt", render_plan_text(normal_plan(), color=True))


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


def calls_to_render(changes: int) -> int:
    """Python calls made rendering a plan of that many changes: a count, not a time, so
    the test means the same on a loaded machine (timings live in benchmarks/)."""
    plan = big_plan(changes)
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        render_plan_text(plan)
    finally:
        sys.setprofile(None)
    return calls


def test_text_rendering_is_linear_in_the_number_of_changes():
    small, large = calls_to_render(500), calls_to_render(2_000)
    assert large <= 4 * small + 100, (small, large)  # 4x the changes: at most 4x the calls
    text = render_plan_text(big_plan(10_000))
    # legend, blank, queue header, 3 lines a change, blank, summary
    assert text.count("\n") == 3 * 10_000 + 4


def test_a_plan_renders_each_line_as_field_line_does():
    """_queue_lines tells its lines by a per-plan helper that remembers field names and
    status values and writes one-number tags itself (BENCHMARKS.md "Fourth round"):
    the very text of field_line, for every kind of value, labels or not."""
    from datetime import datetime, timezone

    from reconciler.model import FieldChange
    from reconciler.render.text import _field_lines, field_line

    values = [
        None,
        (True,),
        (False,),
        (1,),
        (-0.0,),
        (float("nan"),),
        (float("inf"),),
        (1.5, 2),
        ("x",),
        ('a"b\x1b',),
        (datetime(2026, 1, 2, tzinfo=timezone.utc),),
        (10**30,),
        (),
    ]
    changes = [
        FieldChange(f, b, a, None) for f in ("tags.score", "tags.\x1bx", "tags.rfi") for b in values for a in values
    ]
    changes += [
        FieldChange(f, b, a, None)
        for f in ("status", "locked")
        for b in ("VALIDATED", "é\u202e", True, False, None, 1)
        for a in ("SCORED", "VALIDATED", True, None)
    ]
    for labels in (False, True):
        line_of = _field_lines(labels)
        for f in changes + changes:  # the second time from what it remembered
            assert line_of(f) == field_line(f, labels), f
