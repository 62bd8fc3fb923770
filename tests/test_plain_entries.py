"""Entries proved valid in bulk (plain_entries.py) are valid: never looser than the schema.

`plain` answers True only for `submissions:` mappings the entry schema accepts; what it
is unsure of is left to the schema. Directed cases cover each falsy or look-alike value
a bulk pass could let through (`tags: 0`, `status: null`, `locked: 1`); generated
mappings hold it to jsonschema, the judge.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from near_valid import near
from reconciler import spec
from reconciler.plain_entries import plain


def schema_accepts(entries: object) -> bool:
    data = {"submissions": entries}
    return next(iter(spec._validator("include_file").iter_errors(data)), None) is None


GOOD = {
    "9700001": {"status": "SCORED", "tags": {"score": 0.5, "rank": 1, "ok": True, "note": "x", "gone": None}},
    "9700002": {"locked": True},
    "9700003": {"replace": False, "status": "ACCEPTED", "tags": {}},
}


def test_the_common_shape_is_proved_valid():
    assert plain(GOOD) and schema_accepts(GOOD)
    assert plain({}) and schema_accepts({})


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"status": None},
        {"status": ""},
        {"status": 1},
        {"tags": None},
        {"tags": 0},
        {"tags": ""},
        {"tags": {"": 1}},
        {"tags": {"k": {"nested": 1}}},
        {"locked": 1},
        {"locked": None},
        {"replace": 0},
        {"status": "X", "extra": 1},
        {"status": "X", "tags": {"k": []}},
    ],
)
def test_a_mistake_is_left_to_the_schema(entry):
    entries = {**GOOD, "9700009": entry}
    assert not plain(entries)
    assert not schema_accepts(entries)


@pytest.mark.parametrize(
    "entry",
    [
        {"tags": ["label"]},
        {"tags": {"k": [1, 2]}},
        {"tags": {"when": datetime(2024, 1, 1, tzinfo=timezone.utc)}},
    ],
)
def test_what_it_is_unsure_of_is_left_to_the_schema(entry):
    assert not plain({**GOOD, "9700009": entry})


def test_an_empty_id_is_left_to_the_schema():
    assert not plain({**GOOD, "": {"status": "X"}}) and not schema_accepts({**GOOD, "": {"status": "X"}})


SCALARS = st.none() | st.booleans() | st.integers(-1, 2) | st.floats(allow_nan=False) | st.sampled_from(["", "x"])
VALUES = st.recursive(
    SCALARS | st.just(datetime(2024, 1, 1, tzinfo=timezone.utc)),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["", "k", "status"]), inner, max_size=2)
    ),
    max_leaves=4,
)
FIELDS = st.sampled_from(["status", "tags", "locked", "replace", "x"])
ENTRIES = st.dictionaries(
    st.sampled_from(["", "9700001", "9700002"]) | st.integers(0, 2),
    st.dictionaries(FIELDS, VALUES, max_size=3) | VALUES,
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(ENTRIES)
def test_plain_never_accepts_what_the_schema_refuses(entries):
    if plain(entries):
        assert schema_accepts(entries), entries


@settings(max_examples=400, deadline=None)
@given(near(GOOD, VALUES, ["status", "tags", "locked", "replace", "x", "", "9700004"]))
def test_plain_never_accepts_an_edited_good_mapping_the_schema_refuses(entries):
    if plain(entries):
        assert schema_accepts(entries), entries
