"""Properties of resolve + diff over random live items and random queue specs.

Specs draw rules, entries and values from one small vocabulary so that rules really do
match, chain, override and (sometimes) cycle. A spec whose rules cycle for some item is
checked against a naive reference and then discarded.
"""

from __future__ import annotations

import pytest

import math
from datetime import datetime, timezone
from fnmatch import fnmatchcase

from builders import apply_change, change_data, plan_data, typed
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler.diff import plan_queue
from reconciler.model import (
    Assignment,
    Item,
    Match,
    QueueSpec,
    Rule,
    Setting,
    Source,
    TagCondition,
    same_tag_value,
    tag_key_of,
)
from reconciler.resolve import CycleError

pytestmark = pytest.mark.slow  # property tests and benchmark smoke runs: CI runs them, `-m "not slow"` skips them

STATUSES = ["RECEIVED", "VALIDATED", "ACCEPTED", "SCORED", "INVALID"]
KEYS = ["a", "b", "c", "pipeline_x"]
IDS = [str(n) for n in (1, 2, 3, 9, 10, 11, 100)] + ["a1", "b2"]
VALUES = [
    (1,),
    (1.0,),
    (True,),
    ("1",),
    (0,),
    (False,),
    (2,),
    (0.5,),
    ("x",),
    (1, 2),
    (2, 1),
    (),
    (math.nan,),
    (datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc),),
]
SPEC_FILE = "spec.yaml"

common = settings(max_examples=120, deadline=None)

values = st.sampled_from(VALUES)


@st.composite
def live_items(draw) -> list[Item]:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=8))
    return [
        Item(
            id=i,
            etag=f"e{n}",
            status=draw(st.sampled_from(STATUSES)),
            tags=draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=3)),
            locked=draw(st.booleans()),
            base={"id": i},
        )
        for n, i in enumerate(ids)
    ]


@st.composite
def matches(draw) -> Match:
    conditions = st.one_of(
        values.map(lambda v: TagCondition(equals=v)),
        st.booleans().map(lambda b: TagCondition(exists=b)),
    )
    return Match(
        statuses=draw(st.none() | st.frozensets(st.sampled_from(STATUSES), min_size=1, max_size=2)),
        ids=draw(st.none() | st.frozensets(st.sampled_from(IDS), min_size=1, max_size=4)),
        tags=draw(st.dictionaries(st.sampled_from(KEYS), conditions, max_size=2)),
        locked=draw(st.none() | st.booleans()),
    )


@st.composite
def assignments(draw, source: Source) -> Assignment:
    return Assignment(
        status=draw(st.none() | st.sampled_from(STATUSES).map(lambda s: Setting(s, source))),
        locked=draw(st.none() | st.booleans().map(lambda b: Setting(b, source))),
        tags=draw(
            st.dictionaries(st.sampled_from(KEYS), (st.none() | values).map(lambda v: Setting(v, source)), max_size=2)
        ),
    )


@st.composite
def queue_specs(draw) -> QueueSpec:
    rules = []
    for n in range(draw(st.integers(0, 4))):
        source = Source(SPEC_FILE, 10 + 4 * n, f"r{n}")
        rules.append(Rule(f"r{n}", draw(matches()), draw(assignments(source)), source))
    entry_ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=3))
    submissions = {i: draw(assignments(Source(SPEC_FILE, 100 + n))) for n, i in enumerate(entry_ids)}
    return QueueSpec(
        id="q",
        source=Source(SPEC_FILE, 3),
        tag_policy=draw(st.sampled_from(["merge", "exact"])),
        ignore=draw(st.sampled_from([(), ("pipeline_*",)])),
        rules=tuple(rules),
        submissions=submissions,
    )


# ------------------------------------------------------ a naive reference model
def reference_pass(queue: QueueSpec, item_id: str, state: tuple, sources: dict[str, Source] | None = None) -> tuple:
    """One pass; `sources` (if given) records who set each field last, by field name."""
    sources = {} if sources is None else sources
    status, locked, tags = state[0], state[1], dict(state[2])
    declared = set()
    steps = [(r.where, r.set) for r in queue.rules]
    if item_id in queue.submissions:
        steps.append((Match(), queue.submissions[item_id]))
    for where, assignment in steps:
        if not (
            (where.statuses is None or status in where.statuses)
            and (where.ids is None or item_id in where.ids)
            and (where.locked is None or where.locked == locked)
            and all(
                (c.exists is None or (k in tags) == c.exists)
                and (c.equals is None or same_tag_value(tags.get(k), c.equals))
                for k, c in where.tags.items()
            )
        ):
            continue
        if assignment.status is not None:
            status = assignment.status.value
            sources["status"] = assignment.status.source
        if assignment.locked is not None:
            locked = assignment.locked.value
            sources["locked"] = assignment.locked.source
        for key, setting in assignment.tags.items():
            declared.add(key)
            sources[f"tags.{key}"] = setting.source
            if setting.value is None:
                tags.pop(key, None)
            else:
                tags[key] = setting.value
    if queue.tag_policy == "exact":
        for key in list(tags):
            if key not in declared and not any(fnmatchcase(key, g) for g in queue.ignore):
                del tags[key]
                sources[f"tags.{key}"] = queue.source
    return status, locked, tags


def same_state(a: tuple, b: tuple) -> bool:
    return (a[0], a[1], {k: typed(v) for k, v in a[2].items()}) == (b[0], b[1], {k: typed(v) for k, v in b[2].items()})


def reference_settle(queue: QueueSpec, item: Item) -> tuple | None:
    """The fixpoint from the live item, or None if the passes never settle."""
    state = (item.status, item.locked, dict(item.tags))
    seen = [state]
    while len(seen) < 2 * len(queue.rules) + 16:
        new = reference_pass(queue, item.id, state)
        if same_state(new, state):
            return new
        if any(same_state(new, old) for old in seen):
            return None
        seen.append(new)
        state = new
    return None


def reference_sources(queue: QueueSpec, item: Item) -> dict[str, Source]:
    """Who set each field last over every pass, the confirming pass included, of an item
    that settles."""
    sources: dict[str, Source] = {}
    state = (item.status, item.locked, dict(item.tags))
    while not same_state(new := reference_pass(queue, item.id, state, sources), state):
        state = new
    return sources


def plan_or_discard(queue: QueueSpec, items: list[Item]):
    """The plan; a cycling spec must cycle in the reference too, then is discarded."""
    try:
        return plan_queue(queue, items)
    except CycleError:
        assert any(reference_settle(queue, i) is None for i in items)
        assume(False)


# -------------------------------------------------------------- properties
@common
@given(queue_specs(), live_items())
def test_plan_reaches_the_fixpoint_of_the_reference_semantics(queue, items):
    plan = plan_or_discard(queue, items)
    changes = {c.item_id: c for c in plan.changes}
    for live in items:
        expected = reference_settle(queue, live)
        assert expected is not None
        after = apply_change(live, changes[live.id]) if live.id in changes else live
        assert same_state((after.status, after.locked, after.tags), expected)


@common
@given(queue_specs(), live_items())
def test_applying_the_unblocked_changes_leaves_only_the_blocked_ones(queue, items):
    plan = plan_or_discard(queue, items)
    changes = {c.item_id: c for c in plan.changes if not c.blocked}
    applied = [apply_change(i, changes[i.id]) if i.id in changes else i for i in items]
    again = plan_queue(queue, applied)
    assert [change_data(c) for c in again.changes] == [change_data(c) for c in plan.changes if c.blocked]


@common
@given(queue_specs(), live_items())
def test_every_field_change_really_changes_something(queue, items):
    plan = plan_or_discard(queue, items)
    live = {i.id: i for i in items}
    for change in plan.changes:
        assert change.fields
        for f in change.fields:
            if f.tag_key is not None:
                assert not same_tag_value(f.before, f.after)
            else:
                assert f.before != f.after
        expected_lock = {True: "lock", False: "unlock"}.get(
            change.after_value("locked") if change.changes_field("locked") else None
        )
        assert change.lock == expected_lock
        assert change.blocked == (live[change.item_id].locked and change.lock is None)


@common
@given(queue_specs(), live_items(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_the_order_items_are_listed_in(queue, items, rnd):
    plan = plan_or_discard(queue, items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert plan_data(plan_queue(queue, shuffled)) == plan_data(plan)


def live_value(item: Item, field: str):
    if (key := tag_key_of(field)) is not None:
        return item.tags.get(key)
    return item.status if field == "status" else item.locked


@common
@given(queue_specs(), live_items())
def test_every_field_change_shows_its_own_live_value_and_who_set_it_last(queue, items):
    plan = plan_or_discard(queue, items)
    live = {i.id: i for i in items}
    for change in plan.changes:
        item = live[change.item_id]
        expected = reference_sources(queue, item)
        assert [(f.field, typed(f.before), f.source) for f in change.fields] == [
            (f.field, typed(live_value(item, f.field)), expected[f.field]) for f in change.fields
        ]


def reference_oscillations(queue: QueueSpec) -> list[tuple[int, str, str]]:
    """Every pair of rules tried, as the check did before it was indexed."""
    from reconciler.resolve import _conflict, _enables, _ids_overlap

    return [
        (b.source.line, a.name, b.name)
        for j, b in enumerate(queue.rules)
        for a in queue.rules[:j]
        if _ids_overlap(a.where, b.where)
        and _enables(a.set, b.where)
        and _enables(b.set, a.where)
        and _conflict(a.set, b.set)
    ]


@given(queue_specs())
@settings(max_examples=300, deadline=None)
def test_the_indexed_oscillation_check_finds_every_pair_the_pairwise_one_does(queue):
    from reconciler.resolve import find_oscillations

    found = [e.message for e in find_oscillations(queue) if e.message.startswith("rules ")]
    assert len(found) == len(reference_oscillations(queue))
    for (_, a, b), message in zip(reference_oscillations(queue), found, strict=True):
        assert message.startswith(f"rules '{a}' (") and f"and '{b}' (" in message


@common
@given(queue_specs(), live_items())
def test_the_status_index_of_many_rules_changes_no_plan(queue, items):
    """Above a few dozen rules a pass visits only the rules that can match the current
    status (resolve._indexed); forced on for these small specs, the plans are the same,
    sources and cycle errors included."""
    from reconciler import resolve

    def outcome():
        try:
            return [change_data(c) for c in plan_queue(queue, items).changes]
        except CycleError as error:
            return str(error)

    plain = outcome()
    saved, resolve._INDEX_RULES_FROM = resolve._INDEX_RULES_FROM, -1
    try:
        assert outcome() == plain
    finally:
        resolve._INDEX_RULES_FROM = saved
