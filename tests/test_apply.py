"""The apply engine against the real local provider (SQLite store with real etags)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from reconciler.apply import apply_plan
from reconciler.model import Change, FieldChange, QueueSpec
from reconciler.planner import build_plan
from reconciler.providers import open_provider
from reconciler.providers.base import Batch, Provider, WriteFailed
from reconciler.spec import load_spec

QUEUE = "9615000"


def seed_items(n: int, status: str = "VALIDATED", **extra_tags) -> list[dict]:
    return [{"id": str(9700001 + i), "status": status, "tags": dict(extra_tags), "locked": False} for i in range(n)]


def make_spec(tmp_path: Path, queue_body: str, items: list[dict]) -> Path:
    (tmp_path / "live.json").write_text(json.dumps({"queues": [{"id": QUEUE, "items": items}]}))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        "provider: {type: local, path: state.db, seed: live.json}\n"
        "queues:\n"
        f'  - id: "{QUEUE}"\n'
        "    safety: {max_change_percent: 100}\n" + textwrap.indent(textwrap.dedent(queue_body), "    ")
    )
    return spec


ACCEPT_RULE = """\
rules:
  - name: accept-validated
    where: {status: VALIDATED}
    set: {status: ACCEPTED, tags: {stage: review}}
"""


def plan_for(spec_path: Path):
    spec = load_spec(spec_path)
    provider = open_provider(spec.provider)
    return spec, provider, build_plan(spec, provider)


def external_write(provider: Provider, queue: QueueSpec, item_id: str, **fields) -> None:
    """Another client's write: a fresh read, then an etag-guarded write of `fields`."""
    (item,) = provider.get(queue, [item_id])
    changes = []
    if "status" in fields:
        changes.append(FieldChange("status", item.status, fields["status"], None))
    for key, value in fields.get("tags", {}).items():
        changes.append(FieldChange(f"tags.{key}", item.tags.get(key), value, None))
    provider.write(queue, [Change(item_id, item.etag, tuple(changes), base=item.base)])


def test_apply_then_plan_is_empty(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(5))
    _, provider, result = plan_for(spec_path)
    assert len(result.plan.changes) == 5
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
    assert report.count("applied") == 5 and report.ok
    _, _, again = plan_for(spec_path)
    assert not again.plan.has_changes


def test_changes_are_written_in_batches_of_the_provider_limit(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(1201))
    _, provider, result = plan_for(spec_path)
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
    assert report.count("applied") == 1201
    assert report.requests == 3  # 500 + 500 + 201


def test_stale_etag_is_skipped_and_reported_in_plan_file_mode(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(4))
    _, provider, result = plan_for(spec_path)
    queue = result.queues[QUEUE]
    external_write(provider, queue, "9700002", status="REJECTED", tags={"owner": ("pipeline",)})

    report = apply_plan(result.plan, provider, result.queues)  # no re-differ: plan-file mode

    assert [r.item_id for r in report.by_outcome("stale")] == ["9700002"]
    assert "changed since the plan was made" in report.by_outcome("stale")[0].detail
    assert report.count("applied") == 3 and not report.ok
    (item,) = provider.get(queue, ["9700002"])
    assert item.status == "REJECTED" and item.tags == {"owner": ("pipeline",)}


def test_conflict_in_spec_mode_is_rediffed_and_concurrent_tags_survive(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(4))
    _, provider, result = plan_for(spec_path)
    queue = result.queues[QUEUE]
    external_write(provider, queue, "9700003", tags={"score": (0.7,)})

    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())

    assert report.count("applied") == 4 and report.ok
    (item,) = provider.get(queue, ["9700003"])
    assert item.status == "ACCEPTED"
    assert item.tags == {"score": (0.7,), "stage": ("review",)}


def test_item_that_already_holds_the_planned_values_counts_as_unchanged_not_applied(tmp_path):
    """Nothing was written to it, so the report must not say "applied"."""
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(2))
    _, provider, result = plan_for(spec_path)
    queue = result.queues[QUEUE]
    external_write(provider, queue, "9700001", status="ACCEPTED", tags={"stage": ("review",)})

    report = apply_plan(result.plan, provider, result.queues)

    assert report.ok and report.count("applied") == 1 and report.count("unchanged") == 1
    detail = {r.item_id: r.detail for r in report.results}
    assert detail["9700001"] == "already held the planned values when re-read"


class HostileProvider:
    """Wraps a real provider; before every write another client edits one item."""

    def __init__(self, inner: Provider, queue: QueueSpec, victim: str, key: str = "noise") -> None:
        self.inner, self.queue, self.victim, self.key, self.n = inner, queue, victim, key, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def write(self, queue, changes):
        if any(c.item_id == self.victim for c in changes):
            self.n += 1
            external_write(self.inner, self.queue, self.victim, tags={self.key: (self.n,)})
        return self.inner.write(queue, changes)


@pytest.mark.parametrize("key, writes", [("stage", 3), ("noise", 4)])
def test_conflicts_are_retried_at_most_three_rounds_then_reported_stale(tmp_path, key, writes):
    """A managed key (`stage`, which the rule sets) moving before every write: three
    rounds of re-diffs. An unmanaged one (`noise`): the first conflict rebases the change
    within its round (only unmanaged data moved), then the same three rounds."""
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(3))
    _, provider, result = plan_for(spec_path)
    hostile = HostileProvider(provider, result.queues[QUEUE], "9700002", key)

    report = apply_plan(result.plan, hostile, result.queues, rediff=result.rediffers())

    assert [r.item_id for r in report.by_outcome("stale")] == ["9700002"]
    assert "after 3 rounds" in report.by_outcome("stale")[0].detail
    assert report.count("applied") == 2
    assert hostile.n == writes


class FailingProvider:
    """Wraps a real provider; the n-th write fails for good (like a 403)."""

    def __init__(self, inner: Provider, fail_on: int) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def batches(self, queue, changes):
        return [Batch(changes[i : i + 2]) for i in range(0, len(changes), 2)]

    def write(self, queue, changes):
        self.calls += 1
        if self.calls == self.fail_on:
            raise WriteFailed("403 Forbidden: User lacks UPDATE_SUBMISSION access")
        return self.inner.write(queue, changes)


def test_a_failed_batch_stops_the_run_with_an_exact_report(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(6))
    _, provider, result = plan_for(spec_path)
    failing = FailingProvider(provider, fail_on=2)

    report = apply_plan(result.plan, failing, result.queues, rediff=result.rediffers())

    outcome = {r.item_id: r.outcome for r in report.results}
    assert outcome == {
        "9700001": "applied",
        "9700002": "applied",
        "9700003": "failed",
        "9700004": "failed",
        "9700005": "skipped",
        "9700006": "skipped",
    }
    assert "UPDATE_SUBMISSION" in report.by_outcome("failed")[0].detail
    assert not report.ok
    # the applied ones really are written, the others untouched
    _, _, again = plan_for(spec_path)
    assert sorted(c.item_id for c in again.plan.changes) == ["9700003", "9700004", "9700005", "9700006"]


def test_rerun_after_partial_failure_converges_without_rewriting(tmp_path):
    spec_path = make_spec(tmp_path, ACCEPT_RULE, seed_items(6))
    _, provider, result = plan_for(spec_path)
    apply_plan(result.plan, FailingProvider(provider, fail_on=2), result.queues, rediff=result.rediffers())
    _, provider, second = plan_for(spec_path)
    report = apply_plan(second.plan, provider, second.queues, rediff=second.rediffers())
    assert report.count("applied") == 4 and report.ok
    assert not plan_for(spec_path)[2].plan.has_changes


def test_blocked_changes_are_reported_not_written(tmp_path):
    items = seed_items(2)
    items[0]["locked"] = True
    spec_path = make_spec(tmp_path, ACCEPT_RULE, items)
    _, provider, result = plan_for(spec_path)
    assert [c.item_id for c in result.plan.blocked] == ["9700001"]
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
    assert {r.item_id: r.outcome for r in report.results} == {"9700001": "blocked", "9700002": "applied"}


@pytest.mark.parametrize("locked_after", [True, False])
def test_unlock_and_change_or_change_and_lock_is_one_write(tmp_path, locked_after):
    items = seed_items(1)
    items[0]["locked"] = not locked_after
    body = f"""\
submissions:
  "9700001": {{status: SCORED, locked: {str(locked_after).lower()}}}
"""
    spec_path = make_spec(tmp_path, body, items)
    _, provider, result = plan_for(spec_path)
    (change,) = result.plan.changes
    assert change.lock == ("lock" if locked_after else "unlock") and not change.blocked
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
    assert report.requests == 1 and report.ok
    (item,) = provider.get(result.queues[QUEUE], ["9700001"])
    assert (item.status, item.locked) == ("SCORED", locked_after)
