"""The provider contract (docs/architecture.md, CONTRIBUTING.md "Adding a service"),
asserted the same way for every provider against its own fake: each item listed exactly once, `get` leaving unknown ids out, apply then
plan empty with unmanaged data kept, a concurrent write refused as stale and never
overwritten, and a write that fails part-way reported exactly as it landed.

Each provider joins through one backend module in tests/backends/ (NAMES there).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

import pytest
from backends import NAMES
from backends.base import Backend
from builders import rule, through_plan_file

from reconciler.apply import apply_plan
from reconciler.model import Change, FieldChange, Item, ProviderConfig, QueueSpec, Safety, Spec
from reconciler.planner import build_plan
from reconciler.providers.base import Provider, gather
from reconciler.providers.guarded import REREAD_FAILED, UNCONFIRMED

EVERYTHING = Safety(max_change_percent=100.0)


def every_backend(
    slow: frozenset[str] = frozenset(), known_failing: dict[str, str] | None = None
) -> pytest.MarkDecorator:
    """The test for every backend, marked slow for those in `slow`, with which it takes
    seconds (the omics fake's: botocore's own retries and page sizes). `known_failing`:
    backend -> the open defect (strict xfail: fixing it makes the mark fail, so it is
    removed with the fix)."""
    known_failing = known_failing or {}

    def marks(name: str) -> list[pytest.MarkDecorator]:
        found = [pytest.mark.slow] if name in slow else []
        if name in known_failing:
            found.append(pytest.mark.xfail(strict=True, reason=known_failing[name]))
        return found

    return pytest.mark.parametrize("backend", [pytest.param(n, marks=marks(n)) for n in NAMES], indirect=True)


def spec_of(provider: Provider, queue: QueueSpec) -> Spec:
    return Spec(ProviderConfig(provider.type, {}, "/"), (queue,), ("spec.yaml",), "digest")


def review_queue(backend: Backend, queue: QueueSpec) -> QueueSpec:
    """Every item gets tag `reviewed`; tag `held` must be absent (both managed)."""
    review = rule("review", {}, {"tags": {"reviewed": backend.tag_value, "held": None}})
    return replace(queue, rules=(review,), safety=EVERYTHING)


def someone_else_writes(provider: Provider, queue: QueueSpec, item_id: str, **tags) -> None:
    """Another client's write: a fresh read, then the provider's own guarded write."""
    (item,) = provider.get(queue, [item_id])
    fields = tuple(FieldChange(f"tags.{k}", item.tags.get(k), v, None) for k, v in tags.items())
    result = provider.write(queue, [Change(item_id, item.etag, fields, base=item.base)])
    assert result is None or result.applied == [item_id], result


def tags_of(provider: Provider, queue: QueueSpec) -> dict[str, dict]:
    return {item.id: dict(item.tags) for item in provider.list_items(queue)}


# ------------------------------------------------------------------------- reading
@every_backend(slow=frozenset({"omics"}))
def test_listing_names_each_item_exactly_once_page_by_page_and_whole(backend):
    provider, queue = backend.make(250)
    with provider:
        counted: list[int] = []
        listed = provider.list_items(queue, counted.append)
        paged = gather(provider.pages(queue))
    ids = [item.id for item in listed]
    assert len(ids) == len(set(ids)) == 250 and sum(counted) == 250
    assert sorted(item.id for item in paged) == sorted(ids)
    assert all(isinstance(item, Item) and item.etag and not item.locked for item in listed)


def test_get_returns_fresh_copies_and_leaves_unknown_ids_out(backend):
    provider, queue = backend.make(3)
    with provider:
        ids = [item.id for item in provider.list_items(queue)]
        found = provider.get(queue, [ids[0], "999999999999999", ids[2]])
        assert sorted(item.id for item in found) == sorted([ids[0], ids[2]])
        assert provider.get(queue, []) == []


# ------------------------------------------------------------------------- writing
def test_apply_then_plan_is_empty_and_unmanaged_tags_survive(backend):
    provider, base_queue = backend.make(12)
    queue = review_queue(backend, base_queue)
    with provider:
        first = provider.list_items(queue)[0].id
        someone_else_writes(provider, queue, first, other=backend.tag_value)
        result = build_plan(spec_of(provider, queue), provider)
        assert len(result.plan.changes) == 12
        report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())
        assert report.ok and report.count("applied") == 12, report
        again = build_plan(spec_of(provider, queue), provider)
        assert not again.plan.has_changes
        tags = tags_of(provider, queue)
    assert tags[first] == {"reviewed": backend.tag_value, "other": backend.tag_value}


def test_a_write_between_plan_and_apply_is_refused_as_stale_and_never_overwritten(backend):
    provider, base_queue = backend.make(5)
    queue = review_queue(backend, base_queue)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        victim = result.plan.changes[0].item_id
        someone_else_writes(provider, queue, victim, held=backend.tag_value)
        report = apply_plan(result.plan, provider, result.queues)  # plan-file mode
        outcomes = {r.item_id: (r.outcome, r.detail) for r in report.results}
        tags = tags_of(provider, queue)
    assert outcomes[victim][0] == "stale" and "nothing was written" in outcomes[victim][1]
    assert tags[victim] == {"held": backend.tag_value}
    assert [o for i, (o, _) in outcomes.items() if i != victim] == ["applied"] * 4


@pytest.mark.parametrize("mode", ["plan", "plan file", "spec"])
def test_an_unmanaged_tag_key_added_between_plan_and_apply_does_not_stop_the_planned_change(backend, mode):
    """Under `tags: {policy: merge}` only the keys the spec names are managed: another
    writer's own tag key (`owner`) between `plan -o` and `apply PLANFILE` (or between
    plan and write in `apply SPEC`) is not a change the guard may refuse, so the planned
    change still lands and the other key survives. "plan file": the plan written and read
    back, its queues' managed tags the recorded ones (no rules); an etag service's write
    is refused once and rebased onto the fresh item, a compare-guard service's digest
    never saw the key."""
    provider, base_queue = backend.make(3)
    queue = review_queue(backend, base_queue)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        poked = result.plan.changes[0].item_id
        someone_else_writes(provider, queue, poked, owner=backend.tag_value)
        if mode == "plan file":
            plan, queues = through_plan_file(result.plan)
            report = apply_plan(plan, provider, queues)
        else:
            rediff = result.rediffers() if mode == "spec" else None
            report = apply_plan(result.plan, provider, result.queues, rediff=rediff)
        outcomes = {r.item_id: (r.outcome, r.detail) for r in report.results}
        tags = tags_of(provider, queue)
    assert outcomes[poked][0] == "applied", outcomes[poked]
    assert tags[poked] == {"owner": backend.tag_value, "reviewed": backend.tag_value}
    assert report.ok and report.count("applied") == 3, report


def test_under_exact_a_tag_key_added_between_plan_and_apply_is_a_change(backend):
    """`tags: {policy: exact}` manages every key (exact deletes any other), so another
    writer's new key between `plan -o` and `apply PLANFILE` makes the item stale: the
    plan was reviewed without it, and nothing is written to that item."""
    provider, base_queue = backend.make(3)
    queue = replace(review_queue(backend, base_queue), tag_policy="exact")
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        poked = result.plan.changes[0].item_id
        someone_else_writes(provider, queue, poked, owner=backend.tag_value)
        plan, queues = through_plan_file(result.plan)
        report = apply_plan(plan, provider, queues)
        outcomes = {r.item_id: (r.outcome, r.detail) for r in report.results}
        tags = tags_of(provider, queue)
    assert outcomes[poked][0] == "stale" and "owner" in outcomes[poked][1], outcomes[poked]
    assert tags[poked] == {"owner": backend.tag_value}
    assert [o for i, (o, _) in outcomes.items() if i != poked] == ["applied"] * 2


def test_a_repeated_apply_of_the_same_plan_writes_nothing_twice(backend):
    provider, base_queue = backend.make(4)
    queue = review_queue(backend, base_queue)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        assert apply_plan(result.plan, provider, result.queues).count("applied") == 4
        again = apply_plan(result.plan, provider, result.queues)
    assert again.count("unchanged") == 4 and again.ok, again


@every_backend(slow=frozenset({"omics"}))
@pytest.mark.parametrize("served", [0, 1, 2])
def test_a_write_that_fails_part_way_is_reported_exactly_as_it_landed(backend, served):
    """The service starts refusing every request after `served` more: whatever landed by
    then, the report calls applied exactly the items that hold the new values."""
    provider, base_queue = backend.make(min(2 * backend.batch_limit + 1, backend.max_items))
    if backend.fake is None:
        pytest.skip(f"{backend.name} has no HTTP fake to fail")
    queue = review_queue(backend, base_queue)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        backend.fake.faults.refuse_after(served)
        report = apply_plan(result.plan, provider, result.queues)
        backend.fake.faults.refuse_after(None)
        tags = tags_of(provider, queue)
        landed = {i for i, t in tags.items() if "reviewed" in t}
        applied = {r.item_id for r in report.results if r.outcome == "applied"}
        # a service whose write answers say nothing confirms by reading back; a write
        # answered 200 whose read-back was refused is "failed ... not confirmed", never applied
        unconfirmed = {r.item_id for r in report.results if r.outcome == "failed" and "not confirmed" in r.detail}
        assert applied <= landed <= applied | unconfirmed, report
        assert report.ok == (len(landed) == len(tags)) and (served > 0 or not landed)
        assert all(r.detail for r in report.results if r.outcome in ("failed", "skipped"))
        # and a re-run converges
        rerun = build_plan(spec_of(provider, queue), provider)
        assert apply_plan(rerun.plan, provider, rerun.queues, rediff=rerun.rediffers()).ok
        assert not build_plan(spec_of(provider, queue), provider).plan.has_changes


@every_backend(slow=frozenset({"omics"}))
def test_the_report_counts_every_request_sent_retries_included(backend):
    """The report's request count is what the service saw during apply: first with
    every request answered 503 (each retried, then given up), then a clean apply."""
    provider, base_queue = backend.make(min(2 * backend.batch_limit + 1, backend.max_items))
    if backend.fake is None:
        pytest.skip(f"{backend.name} sends no requests")
    queue = review_queue(backend, base_queue)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        before = len(backend.fake.request_log())
        backend.fake.faults.fail_rate = 1.0
        failed = apply_plan(result.plan, provider, result.queues)
        backend.fake.faults.fail_rate = 0.0
        during_failure = backend.fake.request_log()[before:]
        rerun = build_plan(spec_of(provider, queue), provider)
        before = len(backend.fake.request_log())
        clean = apply_plan(rerun.plan, provider, rerun.queues, rediff=rerun.rediffers())
        during_clean = backend.fake.request_log()[before:]
    assert not failed.ok and len(during_failure) >= 2  # retried at least once
    assert failed.requests == len(during_failure)
    assert clean.ok and clean.requests == len(during_clean) > 0


# ------------------------------------------------- the guarded write (no etags)
# One event, one outcome and one text on every compare-guard service (guarded.py); the
# faults come through the fakes' switches, the other writer straight through the store.
GUARDED = [n for n in NAMES if n not in ("local", "synapse")]
guarded_backends = pytest.mark.parametrize("backend", GUARDED, indirect=True)
PARTIAL = re.compile(r"^(?P<done>\S.*) written; (?P<what>\S.*) not written: (?P<why>.+)$")


def writes_in(backend: Backend, log: list[dict]) -> list[dict]:
    return [e for e in log if backend.write_path in e["path"]]


def fresh_plan(backend: Backend, n: int, **set_fields):
    provider, base_queue = backend.make(n)
    assert provider.capabilities.guard == "compare"
    queue = review_queue(backend, base_queue)
    if set_fields:
        queue = replace(
            queue, rules=(rule("review", {}, {"tags": {"reviewed": backend.tag_value, "held": None}, **set_fields}),)
        )
    return provider, queue


def apply_while_the_read_back_waits(backend: Backend, provider: Provider, result, meanwhile):
    """Apply in a thread; once its (one) write is served the fake holds every later
    request, `meanwhile` runs, then the read-back goes on."""
    faults = backend.fake.faults
    faults.hold_after(1, backend.write_path)
    reports = []
    writer = threading.Thread(target=lambda: reports.append(apply_plan(result.plan, provider, result.queues)))
    writer.start()
    deadline = time.monotonic() + 20
    while not writes_in(backend, backend.fake.request_log()) and time.monotonic() < deadline:
        time.sleep(0.02)
    meanwhile()
    faults.release()
    writer.join(30)
    return reports[0]


@guarded_backends
def test_guard_re_read_failing_sends_nothing_and_skips_every_item(backend):
    provider, queue = fresh_plan(backend, 3)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        before = len(backend.fake.request_log())
        backend.fake.faults.refuse_after(0)  # the re-read is refused (403)
        report = apply_plan(result.plan, provider, result.queues)
        backend.fake.faults.refuse_after(None)
        log = backend.fake.request_log()[before:]
    assert not report.ok and {r.outcome for r in report.results} == {"skipped"}
    prefix = f"not attempted after an earlier failure (queue {queue.id}: " + REREAD_FAILED.format(exc="")
    assert all(r.detail.startswith(prefix) for r in report.results), report.results
    assert writes_in(backend, log) == []


@guarded_backends
def test_item_changed_since_the_plan_is_stale_and_not_written(backend):
    provider, queue = fresh_plan(backend, 2)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        victim = result.plan.changes[0].item_id
        someone_else_writes(provider, queue, victim, held=backend.tag_value)
        report = apply_plan(result.plan, provider, result.queues)
    [stale] = report.by_outcome("stale")
    assert stale.item_id == victim
    # (what changed is told in the service's own stored fields)
    assert re.fullmatch(r"changed since the plan was made \(.*held.*\); nothing was written to it", stale.detail), (
        stale.detail
    )


@guarded_backends
def test_a_change_that_lands_in_part_says_what_was_written_and_what_not(backend):
    if not backend.lands_in_part:
        pytest.skip(f"{backend.name}: every change is one call")
    extra = {"status": backend.extra_call_status} if backend.extra_call_status else {}
    provider, queue = fresh_plan(backend, 1, **extra)
    with provider:
        (item,) = provider.list_items(queue)
        someone_else_writes(provider, queue, item.id, held=backend.tag_value)  # two calls: -held, +reviewed
        result = build_plan(spec_of(provider, queue), provider)
        backend.fake.faults.refuse_after(1, backend.write_path)  # the first call lands, the second is refused
        report = apply_plan(result.plan, provider, result.queues)
        backend.fake.faults.refuse_after(None)
    [failed] = report.results
    match = PARTIAL.match(failed.detail)
    assert failed.outcome == "failed" and match, failed
    assert "403" in match["why"] and "not attempted" not in match["done"]
    assert not report.ok


@guarded_backends
def test_a_lost_answer_is_settled_by_a_re_read_and_applied(backend):
    provider, queue = fresh_plan(backend, 3)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        backend.fake.faults.lose_answers(1, backend.write_path)  # carried out, answer lost
        report = apply_plan(result.plan, provider, result.queues)
        tags = tags_of(provider, queue)
    assert report.ok and {(r.outcome, r.detail) for r in report.results} == {("applied", "")}, report
    assert all(t == {"reviewed": backend.tag_value} for t in tags.values())


ERASED = (
    r"written, then changed by another writer before it was read back \(written → read back: "
    r".*tag 'reviewed': .+\); not applied: run again to converge"
)


@guarded_backends
@pytest.mark.parametrize("event", ["erased by another writer", "read-back fails"])
def test_what_the_read_back_finds_decides_and_only_a_confirmed_write_is_applied(backend, event):
    """Erased by another writer between our write and the read-back: stale, saying what
    changed. The read-back failing: failed, not confirmed (never applied)."""
    if not backend.reads_back:
        pytest.skip(f"{backend.name}: its answers confirm its writes, which change parts of an item")
    provider, queue = fresh_plan(backend, 1)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        [change] = result.plan.changes
        if event == "erased by another writer":
            report = apply_while_the_read_back_waits(backend, provider, result, lambda: backend.erase(change.item_id))
        else:  # every request after the write is refused
            report = apply_while_the_read_back_waits(
                backend, provider, result, lambda: backend.fake.faults.refuse_after(0)
            )
            backend.fake.faults.refuse_after(None)
    [outcome] = report.results
    if event == "erased by another writer":
        assert outcome.outcome == "stale" and re.fullmatch(ERASED, outcome.detail), outcome
    else:
        before, after = UNCONFIRMED.split("{exc}")
        assert outcome.outcome == "failed", outcome
        assert outcome.detail.startswith(before) and outcome.detail.endswith(after), outcome
