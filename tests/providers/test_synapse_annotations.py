"""SubmissionStatus JSON ⇄ Item and Change → write object (pure, no HTTP)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest

from reconciler.model import Change, FieldChange, same_tag_value
from reconciler.providers.synapse_annotations import (
    MalformedStatus,
    encode_value,
    read_value,
    status_for_write,
    status_to_item,
)

LOCK = "locked"


def status(annos: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "9700001",
        "etag": "e-1",
        "modifiedOn": "2024-01-01T00:00:00.000Z",
        "status": "RECEIVED",
        "entityId": "syn1",
        "versionNumber": 1,
        "statusVersion": 3,
        "canCancel": True,
        "cancelRequested": True,
    }
    if annos is not None:
        obj["submissionAnnotations"] = {"id": "9700001", "etag": "e-1", "annotations": annos}
    obj.update(fields)
    return obj


def change(base: dict[str, Any], *fields: tuple[str, Any, Any], lock: str | None = None, etag: str = "e-1") -> Change:
    return Change(
        item_id=base["id"],
        etag=etag,
        base=base,
        lock=lock,  # type: ignore[arg-type]
        fields=tuple(FieldChange(name, before, after, None) for name, before, after in fields),
    )


def tags_of(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("submissionAnnotations", {}).get("annotations", {})


# ------------------------------------------------------------------- reading
def test_each_annotation_type_reads_as_its_python_type():
    item = status_to_item(
        status(
            {
                "s": {"type": "STRING", "value": ["a", "b"]},
                "n": {"type": "LONG", "value": ["-3"]},
                "x": {"type": "DOUBLE", "value": ["0.91"]},
                "ok": {"type": "BOOLEAN", "value": ["TRUE"]},
                "when": {"type": "TIMESTAMP_MS", "value": ["1700000000123"]},
            }
        ),
        LOCK,
    )
    assert item.tags == {
        "s": ("a", "b"),
        "n": (-3,),
        "x": (0.91,),
        "ok": (True,),
        "when": (datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc),),
    }
    assert (item.id, item.etag, item.status, item.locked) == ("9700001", "e-1", "RECEIVED", False)


def test_json_numbers_and_booleans_from_the_official_client_are_read():
    item = status_to_item(
        status(
            {
                "n": {"type": "LONG", "value": [7]},
                "x": {"type": "DOUBLE", "value": [0.75, 2]},
                "ok": {"type": "BOOLEAN", "value": [False]},
                "when": {"type": "TIMESTAMP_MS", "value": [0]},
            }
        ),
        LOCK,
    )
    assert item.tags["n"] == (7,) and isinstance(item.tags["n"][0], int)
    assert item.tags["x"] == (0.75, 2.0) and all(isinstance(v, float) for v in item.tags["x"])
    assert item.tags["ok"] == (False,)
    assert item.tags["when"] == (datetime(1970, 1, 1, tzinfo=timezone.utc),)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("nan", math.nan),
        ("NaN", math.nan),
        ("inf", math.inf),
        ("Infinity", math.inf),
        ("+infinity", math.inf),
        ("\u221e", math.inf),
        ("-Infinity", -math.inf),
        ("-\u221e", -math.inf),
        ("1.5d", 1.5),
        ("1E3", 1000.0),
        ("0x1.8p1", 3.0),
    ],
)
def test_double_aliases_synapse_accepts_are_read(text, expected):
    assert same_tag_value(read_value({"type": "DOUBLE", "value": [text]}), (expected,))


def test_absent_annotations_are_no_tags():
    assert status_to_item(status(), LOCK).tags == {}
    assert status_to_item(status(submissionAnnotations=None), LOCK).tags == {}
    assert status_to_item(status({}), LOCK).tags == {}
    assert status_to_item(status(submissionAnnotations={"id": "9700001"}), LOCK).tags == {}


def test_an_empty_value_list_reads_as_absent():
    assert status_to_item(status({"k": {"type": "STRING", "value": []}}), LOCK).tags == {}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"type": "LONG", "value": ["1.5"]}, "submission 9700001: LONG annotation value '1.5' is not valid"),
        (
            {"type": "LONG", "value": ["9223372036854775808"]},
            "submission 9700001: LONG annotation value '9223372036854775808' is not valid",
        ),
        ({"type": "LONG", "value": [True]}, "submission 9700001: LONG annotation value True is not valid"),
        ({"type": "DOUBLE", "value": ["abc"]}, "submission 9700001: DOUBLE annotation value 'abc' is not valid"),
        ({"type": "BOOLEAN", "value": ["yes"]}, "submission 9700001: BOOLEAN annotation value 'yes' is not valid"),
        ({"type": "STRING", "value": [3]}, "submission 9700001: STRING annotation value 3 is not valid"),
        ({"type": "ENTITYID", "value": ["syn1"]}, "submission 9700001: unknown annotation type 'ENTITYID'"),
        (
            {"type": "STRING", "value": "a"},
            "submission 9700001: annotation {'type': 'STRING', 'value': 'a'} is not {type, value: [...]}",
        ),
    ],
)
def test_malformed_annotations_are_rejected_naming_the_submission(entry, message):
    with pytest.raises(MalformedStatus) as exc:
        status_to_item(status({"k": entry}), LOCK)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "obj, message",
    [
        ([], "a status is an array, not an object"),
        ({"id": "1", "etag": "e"}, "status '1' has no string 'status'"),
        ({"id": 1, "etag": "e", "status": "OPEN"}, "status 1 has no string 'id'"),
        (
            {"id": "1", "etag": "e", "status": "OPEN", "submissionAnnotations": []},
            "submission 1: submissionAnnotations is not an object",
        ),
    ],
)
def test_a_status_without_synapse_shape_is_rejected(obj, message):
    with pytest.raises(MalformedStatus) as exc:
        status_to_item(obj, LOCK)
    assert str(exc.value) == message


def test_the_base_is_the_object_as_read():
    obj = status({"k": {"type": "STRING", "value": ["v"]}}, unknownField={"x": 1})
    assert status_to_item(obj, LOCK).base is obj


# --------------------------------------------------------------------- locks
@pytest.mark.parametrize(
    "entry, locked",
    [
        (None, False),
        ({"type": "BOOLEAN", "value": ["true"]}, True),
        ({"type": "BOOLEAN", "value": [True]}, True),
        ({"type": "BOOLEAN", "value": ["false"]}, False),
        ({"type": "BOOLEAN", "value": []}, False),
        ({"type": "STRING", "value": ["true"]}, True),  # the official client's bool
        ({"type": "STRING", "value": ["False"]}, False),
        ({"type": "STRING", "value": ["yes"]}, True),  # fail-safe: unknown means locked
        ({"type": "LONG", "value": ["0"]}, True),
        ({"type": "BOOLEAN", "value": ["maybe"]}, True),
        ("garbage", True),
    ],
)
def test_the_lock_key_becomes_item_locked_and_leaves_the_tags(entry, locked):
    annotations = {"score": {"type": "DOUBLE", "value": ["0.5"]}}
    if entry is not None:
        annotations["locked"] = entry
    item = status_to_item(status(annotations), LOCK)
    assert item.locked is locked
    assert item.tags == {"score": (0.5,)}


def test_the_lock_key_name_is_per_queue():
    item = status_to_item(
        status({"frozen": {"type": "BOOLEAN", "value": ["true"]}, "locked": {"type": "BOOLEAN", "value": ["true"]}}),
        "frozen",
    )
    assert item.locked is True
    assert item.tags == {"locked": (True,)}


# ------------------------------------------------------------------- writing
@pytest.mark.parametrize(
    "value, encoded",
    [
        (("a", "b"), {"type": "STRING", "value": ["a", "b"]}),
        ((3,), {"type": "LONG", "value": ["3"]}),
        ((0.91,), {"type": "DOUBLE", "value": ["0.91"]}),
        ((0.1 + 0.2,), {"type": "DOUBLE", "value": ["0.30000000000000004"]}),
        ((math.nan, math.inf, -math.inf), {"type": "DOUBLE", "value": ["nan", "inf", "-inf"]}),
        ((True, False), {"type": "BOOLEAN", "value": ["true", "false"]}),
        (
            (datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc),),
            {"type": "TIMESTAMP_MS", "value": ["1700000000123"]},
        ),
    ],
)
def test_tag_values_are_sent_as_typed_strings(value, encoded):
    assert encode_value(value) == encoded


@pytest.mark.parametrize(
    "value",
    [
        ("s",),
        (-(2**63),),
        (2**63 - 1,),
        (1e-300,),
        (123456789.123456789,),
        (math.nan,),
        (-0.0,),
        (True,),
        (datetime(1969, 7, 20, 20, 17, 40, tzinfo=timezone.utc),),
    ],
)
def test_every_tag_value_survives_a_round_trip(value):
    assert same_tag_value(read_value(encode_value(value)), value)


@pytest.mark.parametrize(
    "value, message",
    [
        ((), "a tag value needs at least one element (Synapse rejects [])"),
        ((1, 1.5), "values of one tag must share a type, got DOUBLE, LONG"),
        ((True, 1), "values of one tag must share a type, got BOOLEAN, LONG"),
        ((2**63,), "integer 9223372036854775808 does not fit Synapse's LONG (64-bit)"),
    ],
)
def test_values_synapse_cannot_store_are_refused(value, message):
    with pytest.raises(MalformedStatus) as exc:
        encode_value(value)
    assert str(exc.value) == message


def test_a_write_keeps_every_field_it_does_not_manage():
    legacy = {
        "objectId": "9700001",
        "scopeId": "9615000",
        "stringAnnos": [{"key": "k", "value": "v", "isPrivate": True}],
    }
    base = status(
        {"keep": {"type": "STRING", "value": ["x"]}, "old": {"type": "LONG", "value": ["1"]}},
        score=0.5,
        report="r",
        annotations=legacy,
        unknownField=[1, 2],
    )
    out = status_for_write(
        change(base, ("status", "RECEIVED", "SCORED"), ("tags.auc", None, (0.91,)), ("tags.old", (1,), None)), LOCK
    )
    assert out == {
        "id": "9700001",
        "etag": "e-1",
        "status": "SCORED",
        "entityId": "syn1",
        "versionNumber": 1,
        "statusVersion": 3,
        "canCancel": True,
        "cancelRequested": True,
        "score": 0.5,
        "report": "r",
        "annotations": legacy,
        "unknownField": [1, 2],
        "submissionAnnotations": {
            "id": "9700001",
            "etag": "e-1",
            "annotations": {
                "keep": {"type": "STRING", "value": ["x"]},
                "auc": {"type": "DOUBLE", "value": ["0.91"]},
            },
        },
    }


def test_a_write_does_not_modify_the_base():
    base = status(
        {"keep": {"type": "STRING", "value": ["x"]}, "n": {"type": "LONG", "value": [1]}},
        annotations={"stringAnnos": [{"key": "k", "value": "v"}]},
        modifiedOn="2024-01-01",
    )
    before = repr(base)
    status_for_write(
        change(
            base,
            ("tags.keep", ("x",), None),
            ("tags.new", None, (2,)),
            ("status", "RECEIVED", "OPEN"),
            ("locked", False, True),
            lock="lock",
        ),
        LOCK,
    )
    assert repr(base) == before


def test_a_write_carries_the_change_etag_in_status_and_annotations():
    base = status({"k": {"type": "STRING", "value": ["v"]}})
    base["submissionAnnotations"]["etag"] = "something-else"
    out = status_for_write(change(base, ("tags.n", None, (1,)), etag="e-planned"), LOCK)
    assert out["etag"] == "e-planned"
    assert out["submissionAnnotations"]["id"] == "9700001"
    assert out["submissionAnnotations"]["etag"] == "e-planned"


def test_removing_the_last_annotation_omits_submission_annotations():
    base = status({"k": {"type": "STRING", "value": ["v"]}})
    out = status_for_write(change(base, ("tags.k", ("v",), None)), LOCK)
    assert "submissionAnnotations" not in out


def test_a_status_only_change_adds_no_annotations():
    out = status_for_write(change(status(), ("status", "RECEIVED", "ACCEPTED")), LOCK)
    assert "submissionAnnotations" not in out
    assert "modifiedOn" not in out
    assert out["status"] == "ACCEPTED"


def test_locking_sets_a_boolean_annotation_and_unlocking_removes_it():
    base = status({"k": {"type": "STRING", "value": ["v"]}})
    locked = status_for_write(change(base, ("locked", False, True), lock="lock"), LOCK)
    assert tags_of(locked) == {
        "k": {"type": "STRING", "value": ["v"]},
        "locked": {"type": "BOOLEAN", "value": ["true"]},
    }
    relocked = status(tags_of(locked))
    unlocked = status_for_write(change(relocked, ("locked", True, False), lock="unlock"), LOCK)
    assert tags_of(unlocked) == {"k": {"type": "STRING", "value": ["v"]}}


def test_a_locked_field_without_a_lock_op_still_sets_the_lock():
    out = status_for_write(change(status(), ("locked", False, True)), "frozen")
    assert tags_of(out) == {"frozen": {"type": "BOOLEAN", "value": ["true"]}}


def test_an_unchanged_lock_is_kept():
    base = status({"locked": {"type": "STRING", "value": ["true"]}})
    out = status_for_write(change(base, ("status", "RECEIVED", "OPEN")), LOCK)
    assert tags_of(out) == {"locked": {"type": "STRING", "value": ["true"]}}


def test_a_tag_change_to_the_lock_key_is_refused():
    with pytest.raises(MalformedStatus) as exc:
        status_for_write(change(status(), ("tags.locked", None, ("x",))), LOCK)
    assert str(exc.value) == "tag 'locked' is the queue's lock annotation"


def test_numbers_other_clients_sent_are_rewritten_as_the_strings_synapse_returns():
    base = status(
        {
            "n": {"type": "LONG", "value": [3]},
            "x": {"type": "DOUBLE", "value": [0.25]},
            "b": {"type": "BOOLEAN", "value": [True]},
            "odd": {"type": "STRING", "value": [{"nested": 1}]},
        }
    )
    out = status_for_write(change(base, ("status", "RECEIVED", "OPEN")), LOCK)
    assert tags_of(out) == {
        "n": {"type": "LONG", "value": ["3"]},
        "x": {"type": "DOUBLE", "value": ["0.25"]},
        "b": {"type": "BOOLEAN", "value": ["true"]},
        "odd": {"type": "STRING", "value": [{"nested": 1}]},
    }


def test_written_annotations_read_back_as_the_planned_tags():
    base = status({"keep": {"type": "LONG", "value": ["2"]}})
    planned = {
        "auc": (0.1 + 0.2,),
        "when": (datetime(2024, 2, 29, tzinfo=timezone.utc),),
        "names": ("a", "b"),
        "ok": (False,),
    }
    fields = [(f"tags.{k}", None, v) for k, v in planned.items()]
    out = status_for_write(change(base, *fields, ("locked", False, True), lock="lock"), LOCK)
    item = status_to_item(out, LOCK)
    assert item.locked is True
    assert set(item.tags) == {"keep", *planned}
    assert all(same_tag_value(item.tags[k], v) for k, v in planned.items())
