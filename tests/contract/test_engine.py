"""The engine against a service without etags (tests/memory_provider.py): per-item write
results recorded exactly, stale items reported with what changed, refusals and settling
states in the plan, plan files whose `base` holds datetimes, and the guard's caveat."""

from __future__ import annotations

import json

from builders import queue, rule
from memory_provider import MemoryProvider, MemoryService, doc

from reconciler.apply import apply_plan, what_changed
from reconciler.model import ProviderConfig, Safety, Spec
from reconciler.planfile import dump_plan, load_plan
from reconciler.planner import build_plan
from reconciler.render.text import render_plan_text

EVERYTHING = Safety(max_change_percent=100.0)
REVIEW = rule("review", {}, {"tags": {"reviewed": True}})


def plan_for(service: MemoryService, *rules, **settings):
    q = queue(*rules, id="q", safety=EVERYTHING, **settings)
    provider = MemoryProvider(service)
    spec = Spec(ProviderConfig("memory", {}, "/"), (q,), ("spec.yaml",), "digest")
    return provider, build_plan(spec, provider)


def outcomes(report) -> dict[str, tuple[str, str]]:
    return {r.item_id: (r.outcome, r.detail) for r in report.results}


def five() -> MemoryService:
    return MemoryService({"q": [doc(str(i)) for i in range(1, 6)]})


def test_a_write_that_fails_part_way_records_exactly_what_landed():
    service = five()
    service.fail_at_call = 2
    provider, result = plan_for(service, REVIEW)
    report = apply_plan(result.plan, provider, result.queues)
    got = outcomes(report)
    assert got["1"] == ("applied", "")
    assert got["2"] == ("failed", "refused (HTTP 503); it was not written")
    assert [got[i][0] for i in "345"] == ["skipped"] * 3
    assert "not attempted after an earlier failure (queue q: call 2 refused (HTTP 503))" in got["3"][1]
    assert [service.doc("q", i)["tags"] for i in "12"] == [{"reviewed": (True,)}, {}]


def test_a_failure_after_the_retries_is_re_run_to_convergence_writing_nothing_twice():
    service = five()
    service.fail_at_call = 3
    provider, result = plan_for(service, REVIEW)
    apply_plan(result.plan, provider, result.queues)
    service.fail_at_call, calls = None, service.calls
    again = apply_plan(result.plan, provider, result.queues)  # the same saved plan
    got = outcomes(again)
    assert [got[i][0] for i in "12"] == ["unchanged", "unchanged"]
    assert [got[i][0] for i in "345"] == ["applied"] * 3
    assert service.calls - calls == 3  # only the three that had not landed


def test_a_stale_item_says_which_fields_changed_since_the_plan_and_keeps_them():
    service = five()
    provider, result = plan_for(service, REVIEW)
    service.doc("q", "2")["tags"]["held"] = (True,)
    service.doc("q", "2")["status"] = "RUNNING"
    report = apply_plan(result.plan, provider, result.queues)
    outcome, detail = outcomes(report)["2"]
    assert outcome == "stale"
    assert detail == (
        'changed since the plan was made (status: "QUEUED" → "RUNNING"; '
        "tags.held: (absent) → [true]); nothing was written to it"
    )
    assert service.doc("q", "2")["tags"] == {"held": (True,)}


def test_spec_mode_re_diffs_a_stale_item_and_writes_the_fresh_object():
    service = five()
    provider, result = plan_for(service, REVIEW)
    service.doc("q", "4")["tags"]["other"] = (1,)
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
    assert report.ok and report.count("applied") == 5
    assert service.doc("q", "4")["tags"] == {"other": (1,), "reviewed": (True,)}


def test_what_changed_names_nested_paths_and_counts_what_it_does_not_show():
    base = {"id": "1", "status": "a", "results": {"locked": False}, "tags": ["x"]}
    fresh = {"id": "1", "status": "b", "results": {"locked": True}, "tags": ["x", "y"], "n": 1}
    assert what_changed(base, fresh) == (
        'n: (absent) → 1; results.locked: false → true; status: "a" → "b"; tags[1]: (absent) → "y"'
    )
    assert what_changed(base, base) == "its version changed"
    many = {f"k{i}": i for i in range(8)}
    assert what_changed({"id": 1}, {"id": 1, **many}).endswith("; and 3 more")


def test_a_change_the_service_refuses_from_the_live_state_is_blocked_with_its_reason():
    service = MemoryService({"q": [doc("1", "QUEUED"), doc("2", "DONE"), doc("3", "STOPPING")]})
    cancel = rule("cancel", {}, {"status": "CANCELLED"})
    _provider, result = plan_for(service, cancel)
    changes = {c.item_id: c for c in result.plan.changes}
    assert set(changes) == {"1", "2"}  # STOPPING settles into CANCELLED by itself
    assert not changes["1"].blocked
    assert changes["2"].blocked and changes["2"].refused == (
        "the service cannot set status CANCELLED from DONE (only from QUEUED, RUNNING)"
    )
    assert "BLOCKED: the service cannot set status CANCELLED from DONE" in render_plan_text(result.plan)


def test_apply_then_plan_is_empty_when_the_desired_state_settles_on_its_own():
    service = MemoryService({"q": [doc("1", "QUEUED"), doc("2", "RUNNING")]})
    cancel = rule("cancel", {}, {"status": "CANCELLED"})
    provider, result = plan_for(service, cancel)
    assert apply_plan(result.plan, provider, result.queues).ok
    assert [service.doc("q", i)["status"] for i in "12"] == ["STOPPING", "STOPPING"]
    _, again = plan_for(service, cancel)
    assert not again.plan.has_changes


def test_a_plan_file_keeps_a_base_holding_datetimes_as_iso_text_and_the_refusal(monkeypatch):
    from reconciler import providers

    monkeypatch.setitem(providers._MODULES, "memory", "memory_provider")
    service = MemoryService({"q": [doc("1", "DONE")]})
    _provider, result = plan_for(service, rule("cancel", {}, {"status": "CANCELLED"}))
    text = dump_plan(result.plan, tool_version="t", created_at="now")
    change = json.loads(text)["queues"][0]["changes"][0]
    assert change["base"]["created"] == "2026-01-02T03:04:05+00:00"
    loaded = load_plan(text, "plan.json").plan.changes[0]
    assert loaded.blocked and loaded.refused == result.plan.changes[0].refused


def test_the_plan_says_once_that_the_service_cannot_refuse_a_concurrent_write():
    _provider, result = plan_for(five(), REVIEW)
    text = render_plan_text(result.plan)
    assert text.count("has no etags") == 1 and "cannot be detected" in text


def test_a_provider_must_read_one_way_or_the_other():
    import pytest

    from reconciler.providers.base import Provider

    with pytest.raises(TypeError, match="must implement list_items\\(\\) or pages\\(\\)"):

        class Reads(Provider):
            type = "reads-nothing"
