"""The one definition of "the same tag value" (model.py) and how every module applies
it: a scalar and its one-element list are one value; 1, 1.0, True and "1" are four;
NaN equals NaN; timestamps are equal to the millisecond; lists keep order and length.
Also the field names a change carries ("tags.<key>")."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from builders import item, queue, rule

from reconciler.diff import rediff
from reconciler.model import (
    FieldChange,
    same_tag_value,
    tag_field,
    tag_key_of,
    tag_value_key,
    to_tag_value,
)
from reconciler.resolve import CompiledQueue


def change_of(q, live):
    return rediff(q, live)


def set_tag(value):
    return queue(submissions={"1": {"tags": {"v": value}}})


def desired_tags(desired) -> dict:
    return {key: setting.value for key, setting in desired.tags.items()}


# --------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    ("a", "b"),
    [
        (0.9, [0.9]),
        (1, 1),
        ("x", "x"),
        (math.nan, math.nan),
        ([1, "a", False], [1, "a", False]),
        (
            datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc),
            datetime(2024, 5, 1, 14, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_same_tag_value_holds_for_equal_typed_values(a, b):
    assert same_tag_value(to_tag_value(a), to_tag_value(b))
    assert tag_value_key(to_tag_value(a)) == tag_value_key(to_tag_value(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        ("1", 1),
        (0, False),
        ([1, 2], [2, 1]),
        ([1], [1, 1]),
        ("", None),
    ],
)
def test_same_tag_value_fails_for_another_type_order_or_length(a, b):
    assert not same_tag_value(to_tag_value(a), None if b is None else to_tag_value(b))


def test_absent_is_the_same_only_as_absent():
    assert same_tag_value(None, None)
    assert tag_value_key(None) is None


# --------------------------------------------------------- tag field names
@pytest.mark.parametrize("key", ["score", "a.b", "", "tags.x", "Ünïcode"])
def test_a_tag_field_names_its_key_and_gives_it_back(key):
    assert tag_field(key) == f"tags.{key}"
    assert tag_key_of(tag_field(key)) == key
    assert FieldChange(tag_field(key), None, (1,), None).tag_key == key


@pytest.mark.parametrize("field", ["status", "locked"])
def test_status_and_locked_are_no_tag_fields(field):
    assert tag_key_of(field) is None
    assert FieldChange(field, "A", "B", None).tag_key is None


# ------------------------------------------------- what diff counts as a change
def test_scalar_and_one_element_list_are_the_same_value():
    assert change_of(set_tag([0.9]), item("1", tags={"v": 0.9})) is None
    assert change_of(set_tag(0.9), item("1", tags={"v": [0.9]})) is None


@pytest.mark.parametrize(
    ("live", "wanted"),
    [(1.0, 1), (1, 1.0), (True, 1), (1, True), ("1", 1), (0, False), ([1, 2], [2, 1]), ([1], [1, 1])],
)
def test_values_of_another_type_or_shape_are_a_change(live, wanted):
    change = change_of(set_tag(wanted), item("1", tags={"v": live}))
    assert change is not None
    [field] = change.fields
    assert (field.before, field.after) == (to_tag_value(live), to_tag_value(wanted))
    assert [type(v) for v in field.after] == [type(v) for v in to_tag_value(wanted)]


def test_equal_typed_values_are_no_change():
    for value in (1, 1.5, True, "x", "", [1, "a", False]):
        assert change_of(set_tag(value), item("1", tags={"v": value})) is None, value


def test_nan_equals_nan_so_a_nan_tag_converges():
    assert change_of(set_tag(math.nan), item("1", tags={"v": math.nan})) is None


def test_timestamps_are_equal_to_the_millisecond():
    spec_time = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    q = set_tag(spec_time)
    # Raw live values, as a provider might decode them (not normalised by to_tag_value).
    same_ms = datetime(2024, 5, 1, 12, 0, 0, 123400, tzinfo=timezone.utc)
    other_zone = spec_time.astimezone(timezone(timedelta(hours=2)))
    for live in (same_ms, other_zone):
        assert change_of(q, replace(item("1"), tags={"v": (live,)})) is None, live
    next_ms = (spec_time + timedelta(milliseconds=1),)
    change = change_of(q, replace(item("1"), tags={"v": next_ms}))
    assert (change.fields[0].before, change.fields[0].after) == (next_ms, (spec_time,))


def test_timestamp_and_its_epoch_milliseconds_differ():
    spec_time = datetime(2024, 5, 1, tzinfo=timezone.utc)
    live = item("1", tags={"v": int(spec_time.timestamp() * 1000)})
    assert change_of(set_tag(spec_time), live) is not None


# ------------------------------------------------ what a rule's `where` matches
def test_where_tag_value_is_compared_typed():
    q = queue(rule("top", {"tags": {"rank": 1}}, {"tags": {"podium": True}}))
    assert desired_tags(CompiledQueue(q).resolve(item("1", tags={"rank": 1}))) == {"podium": (True,)}
    assert desired_tags(CompiledQueue(q).resolve(item("2", tags={"rank": [1]}))) == {"podium": (True,)}
    for other in (1.0, True, "1", [1, 1]):
        assert desired_tags(CompiledQueue(q).resolve(item("3", tags={"rank": other}))) == {}, other
    assert desired_tags(CompiledQueue(q).resolve(item("4"))) == {}


def test_submissions_build_each_entry_once_and_compare_as_a_mapping():
    from reconciler.model import Assignment, Setting, Source, Submissions, Unbuilt

    built = []

    def build(item_id: str) -> Assignment:
        built.append(item_id)
        return Assignment(status=Setting(item_id, Source("s.json", 1)))

    done = Assignment()
    lazy = Submissions({"a": done, "b": Unbuilt(build), "c": Unbuilt(build)})
    assert (len(lazy), list(lazy), "b" in lazy, built) == (3, ["a", "b", "c"], True, [])
    assert lazy["c"].status.value == "c" and lazy["c"] is lazy["c"]
    assert built == ["c"]
    eager = {"a": done, "b": build("b"), "c": lazy["c"]}
    assert lazy == eager and lazy != {"a": done} and lazy.__eq__(1) is NotImplemented
    assert built == ["c", "b", "b"]  # comparing built the rest once
    assert list(lazy.values()) == list(eager.values()) and repr(lazy).startswith("Submissions({'a': Assignment(")
    with pytest.raises(TypeError):
        hash(lazy)
    again = Submissions({"d": Unbuilt(build)})
    assert pickle.loads(pickle.dumps(again)) == {"d": build("d")}
