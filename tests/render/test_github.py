"""The GitHub renderer (reconciler/render/github.py): workflow commands, escaped; the CLI's
`--format github` end to end is tests/render/test_github_output.py."""

from __future__ import annotations

import pytest
from golden_files import PLANS, check_golden
from plan_samples import change, empty_plan, normal_plan

from reconciler.errors import Located, UserError, UserErrors
from reconciler.model import FieldChange, Plan, QueuePlan, Source
from reconciler.render.github import github_errors_for, render_plan_github


@pytest.mark.parametrize("name", sorted(PLANS))
def test_github_golden(name):
    check_golden(f"{name}.github.txt", render_plan_github(PLANS[name]()))


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
        "1%0A::warning::x",
        "A",
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
