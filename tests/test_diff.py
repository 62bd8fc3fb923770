"""Diff and queue plans: field-minimal typed changes, locks, ordering, safety limits."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone

import pytest
from builders import item, plan_data, queue, rule, src

from reconciler.diff import QueueDiffer, _plainly_different, item_order, plan_queue, rediff
from reconciler.errors import UserError
from reconciler.model import Change, FieldChange, Safety, tag_value_key


def change_of(q, live):
    return rediff(q, live)


def set_tag(value):
    return queue(submissions={"1": {"tags": {"v": value}}})


# ----------------------------------------------------------------- minimal
def test_item_that_already_matches_has_no_change():
    q = queue(submissions={"1": {"status": "SCORED", "tags": {"score": 0.5}, "locked": False}})
    assert change_of(q, item("1", "SCORED", tags={"score": 0.5, "team": "owls"})) is None


def test_change_holds_only_the_fields_that_differ_with_their_sources():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED", "tags": {"round": 1}}, line=5),
        submissions={"1": {"tags": {"score": 0.9, "team": "owls"}}},
    )
    live = item("1", "VALIDATED", tags={"round": 1, "team": "owls"}, etag="e-7")
    assert change_of(q, live) == Change(
        item_id="1",
        etag="e-7",
        fields=(
            FieldChange("status", "VALIDATED", "ACCEPTED", src(5, "accept")),
            FieldChange("tags.score", None, (0.9,), src(100)),
        ),
        base=live.base,
    )


def test_change_carries_the_live_etag_and_base():
    q = queue(submissions={"1": {"status": "SCORED"}})
    live = item("1", etag="abc")
    change = change_of(q, live)
    assert (change.etag, change.base) == ("abc", {"id": "1", "etag": "abc"})


def test_fields_are_ordered_status_then_tags_by_key_then_locked():
    q = queue(submissions={"1": {"locked": True, "tags": {"b": 1, "a": 1, "C": 1}, "status": "X"}})
    change = change_of(q, item("1"))
    assert [f.field for f in change.fields] == ["status", "tags.C", "tags.a", "tags.b", "locked"]


def test_deleting_a_present_tag_is_a_change_to_absent():
    q = queue(submissions={"1": {"tags": {"score": None}}})
    change = change_of(q, item("1", tags={"score": 0.2}))
    assert change.fields == (FieldChange("tags.score", (0.2,), None, src(100)),)


def test_deleting_an_absent_tag_is_no_change():
    q = queue(submissions={"1": {"tags": {"score": None}}})
    assert change_of(q, item("1", tags={"team": "owls"})) is None


# ------------------------------------------------------------------- locks
def test_change_to_a_locked_item_is_blocked_but_listed():
    q = queue(submissions={"1": {"status": "SCORED", "tags": {"score": 1}}})
    change = change_of(q, item("1", "ACCEPTED", locked=True))
    assert change.blocked is True
    assert change.lock is None
    assert [f.field for f in change.fields] == ["status", "tags.score"]


def test_unlock_and_change_is_one_unblocked_change():
    q = queue(submissions={"1": {"status": "SCORED", "locked": False}})
    change = change_of(q, item("1", "ACCEPTED", locked=True))
    assert (change.blocked, change.lock) == (False, "unlock")
    assert [(f.field, f.before, f.after) for f in change.fields] == [
        ("status", "ACCEPTED", "SCORED"),
        ("locked", True, False),
    ]


def test_unlock_alone_is_not_blocked():
    q = queue(submissions={"1": {"locked": False}})
    change = change_of(q, item("1", locked=True))
    assert (change.blocked, change.lock, len(change.fields)) == (False, "unlock", 1)


def test_change_then_lock_is_one_change_with_lock():
    q = queue(
        rule("freeze", {"ids": ["1"]}, {"locked": True}, line=5),
        submissions={"1": {"status": "SCORED"}},
    )
    change = change_of(q, item("1", "ACCEPTED"))
    assert (change.blocked, change.lock) == (False, "lock")
    assert change.fields[-1] == FieldChange("locked", False, True, src(5, "freeze"))


def test_locked_item_that_already_matches_has_no_change():
    q = queue(submissions={"1": {"status": "SCORED", "locked": True}})
    assert change_of(q, item("1", "SCORED", locked=True)) is None


def test_keeping_a_lock_while_changing_is_still_blocked():
    q = queue(submissions={"1": {"status": "SCORED", "locked": True}})
    change = change_of(q, item("1", "ACCEPTED", locked=True))
    assert (change.blocked, change.lock) == (True, None)


# --------------------------------------------------------------- the plan
def test_plan_lists_changes_in_id_order_numbers_first():
    q = queue(rule("all", {}, {"status": "X"}))
    ids = ["b", "10", "9", "a", "0010", "100", "x9"]
    plan = plan_queue(q, [item(i) for i in ids])
    assert [c.item_id for c in plan.changes] == ["9", "0010", "10", "100", "a", "b", "x9"]


def test_item_order_puts_numeric_ids_first():
    assert sorted(["2", "10", "a", "1a", "٣"], key=item_order) == ["2", "10", "1a", "a", "٣"]


def test_item_order_handles_ids_of_any_length():
    huge = "9" * 5000
    assert sorted([huge, "1" + "0" * 5000, "0", "00"], key=item_order) == ["0", "00", huge, "1" + "0" * 5000]


def test_plan_does_not_depend_on_listing_order():
    q = queue(rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}))
    items = [item(str(i), "VALIDATED" if i % 2 else "RECEIVED") for i in range(30)]
    assert plan_data(plan_queue(q, items)) == plan_data(plan_queue(q, items[::-1]))


def test_plan_counts_every_listed_item_and_skips_unchanged_ones():
    q = queue(rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}), id="42")
    plan = plan_queue(q, [item("1", "VALIDATED"), item("2", "ACCEPTED"), item("3")])
    assert (plan.queue_id, plan.items_seen, [c.item_id for c in plan.changes]) == ("42", 3, ["1"])


def test_only_restricts_changes_but_not_items_seen():
    q = queue(rule("all", {}, {"status": "X"}))
    plan = plan_queue(q, [item("1"), item("2"), item("3")], only=frozenset({"2", "404"}))
    assert (plan.items_seen, [c.item_id for c in plan.changes]) == (3, ["2"])


def test_plan_carries_the_queue_safety_settings():
    safety = Safety(max_change_percent=5, max_changes=3)
    assert plan_queue(queue(safety=safety), []).safety == safety


def test_an_item_listed_twice_is_refused():
    q = queue(id="9615000")
    with pytest.raises(UserError) as exc:
        plan_queue(q, [item("1"), item("2"), item("1")])
    assert str(exc.value) == "queue 9615000: the service listed item 1 twice; plan again"


@pytest.mark.parametrize("enabled", [True, False])
def test_planning_leaves_the_garbage_collector_as_it_was(enabled):
    q = queue(rule("all", {}, {"status": "X"}))
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        plan_queue(q, [item("1"), item("2")])
        assert gc.isenabled() is enabled
        with pytest.raises(UserError):
            plan_queue(q, [item("1"), item("1")])
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_entries_without_a_live_item_are_reported_not_invented():
    q = queue(submissions={"404": {"status": "X"}, "7": {"status": "X"}, "b": {}, "1": {"status": "X"}})
    items = [item("1")]
    differ = QueueDiffer(q)
    differ.add(items)
    assert differ.missing_ids() == ["7", "404", "b"]
    assert [c.item_id for c in plan_queue(q, items).changes] == ["1"]


def test_rediff_resolves_and_diffs_a_fresh_item():
    q = queue(rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=5))
    fresh = item("1", "VALIDATED", etag="new")
    assert rediff(q, fresh) == change_of(q, fresh)
    assert rediff(q, fresh).etag == "new"
    assert rediff(q, item("1", "ACCEPTED")) is None
    assert rediff(q, item("2")) is None


# ----------------------------------------------------------------- safety
def plan_with(n_items: int, n_changes: int, **safety):
    q = queue(rule("move", {"status": "MOVE"}, {"status": "MOVED"}), safety=Safety(**safety))
    items = [item(str(i), "MOVE" if i < n_changes else "STAY") for i in range(n_items)]
    return plan_queue(q, items)


def test_queue_under_ten_items_is_exempt_from_the_percentage():
    assert plan_with(9, 9).safety_violation() is None


def test_change_percentage_above_the_limit_is_a_violation():
    assert plan_with(10, 3).safety_violation() is None
    assert plan_with(10, 4).safety_violation() == (
        "queue 9615000: 4 of 10 items would change (40.0%), more than max_change_percent 30%"
    )


def test_custom_change_percentage():
    assert plan_with(20, 10, max_change_percent=50).safety_violation() is None
    assert plan_with(20, 11, max_change_percent=50).safety_violation() == (
        "queue 9615000: 11 of 20 items would change (55.0%), more than max_change_percent 50%"
    )


def test_max_changes_applies_to_small_queues_too():
    assert plan_with(5, 2, max_changes=2).safety_violation() is None
    assert plan_with(5, 3, max_changes=2).safety_violation() == ("queue 9615000: 3 changes exceed max_changes 2")


def test_blocked_changes_count_towards_the_limits():
    q = queue(rule("all", {}, {"status": "X"}), safety=Safety(max_changes=1))
    plan = plan_queue(q, [item("1", locked=True), item("2", locked=True)])
    assert [c.blocked for c in plan.changes] == [True, True]
    assert plan.safety_violation() == "queue 9615000: 2 changes exceed max_changes 1"


_NAN = float("nan")
_WHEN = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((0.1,), (0.2,)),
        ((0.0,), (-0.0,)),  # equal keys: no change
        ((_NAN,), (float("nan"),)),  # NaN equals NaN for tags
        ((1,), (1.0,)),
        ((1,), (True,)),
        (("1",), (1,)),
        (("a",), ("a",)),
        ((True,), (False,)),
        ((_WHEN,), (_WHEN.astimezone(timezone(timedelta(hours=2))),)),  # the same instant
        ((1, 2), (1, 3)),
        ((1,), (1, 1)),
    ],
)
def test_a_plainly_different_tag_is_one_whose_typed_keys_differ(before, after):
    """The shortcut that spares a changed score its typed keys never says "different"
    where tag_value_key says the same (0.0 and -0.0, NaN, one instant in two zones)."""
    if _plainly_different(before, after):
        assert tag_value_key(before) != tag_value_key(after)
    assert not _plainly_different(before, before)


def test_a_changed_score_is_told_without_typed_keys():
    assert _plainly_different((0.1,), (0.2,)) and _plainly_different(("VALIDATED",), ("SCORED",))
    assert not _plainly_different((0.0,), (-0.0,)) and not _plainly_different((_NAN,), (_NAN,))
