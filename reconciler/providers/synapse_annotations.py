"""SubmissionStatus JSON ⇄ the engine's Item, and Change → the object to write (pure).

Synapse types every annotation key (`submissionAnnotations` v2: STRING, LONG, DOUBLE,
BOOLEAN, TIMESTAMP_MS) and stores values as strings; the engine's tags are typed Python
scalars. Reading accepts strings (what Synapse returns) and JSON numbers/booleans (what
the official client sends); writing always sends strings, as the schema says, with
floats as `repr` so every double survives the round trip bit for bit.

A write is a full replacement on Synapse: whatever the object omits is cleared. So the
object written is the fresh one that was read, with only the managed parts changed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from collections.abc import Mapping

from ..model import Change, Item, Scalar, TagValue, from_timestamp_ms, scalar_kind, timestamp_ms
from .synapse_facts import LONG_MAX, LONG_MIN, NON_FINITE

STRING, LONG, DOUBLE, BOOLEAN, TIMESTAMP_MS = "STRING", "LONG", "DOUBLE", "BOOLEAN", "TIMESTAMP_MS"
# model.scalar_kind → the annotation type Synapse stores it as.
ANNOTATION_TYPES = {"str": STRING, "int": LONG, "float": DOUBLE, "bool": BOOLEAN, "timestamp": TIMESTAMP_MS}
_INTEGER = re.compile(r"[+-]?[0-9]+")


class MalformedStatus(ValueError):
    """A SubmissionStatus (or one of its annotations) that does not have Synapse's shape."""


# ----------------------------------------------------------------------- reading
def status_to_item(status: Any, lock_key: str) -> Item:
    """The engine's view of one SubmissionStatus; `base` keeps the object as read."""
    if not isinstance(status, dict):
        raise MalformedStatus(f"a status is {_kind(status)}, not an object")
    for name in ("id", "etag", "status"):
        if not isinstance(status.get(name), str) or not status[name]:
            raise MalformedStatus(f"status {status.get('id')!r} has no string {name!r}")
    try:
        raw = dict(annotations_of(status))
        locked = _is_locked(raw.pop(lock_key, None))
        tags = {key: value for key, entry in raw.items() if (value := read_value(entry))}
    except MalformedStatus as exc:
        raise MalformedStatus(f"submission {status['id']}: {exc}") from None
    return Item(
        id=status["id"],
        etag=status["etag"],
        status=status["status"],
        tags=tags,
        locked=locked,
        base=status,
    )


def annotations_of(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The v2 annotation map; an absent `submissionAnnotations` is the empty map
    (Synapse stores an empty map as NULL and then omits the field)."""
    container = status.get("submissionAnnotations")
    if container is None:
        return {}
    if not isinstance(container, dict):
        raise MalformedStatus("submissionAnnotations is not an object")
    annotations = container.get("annotations")
    if annotations is None:
        return {}
    if not isinstance(annotations, dict):
        raise MalformedStatus("submissionAnnotations.annotations is not an object")
    return annotations


def read_value(entry: Any) -> TagValue:
    """One `{"type": T, "value": [...]}` → a typed tag value; an empty list reads as
    absent (the server accepts it, Synapse views ignore it)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), list):
        raise MalformedStatus(f"annotation {_short(entry)} is not {{type, value: [...]}}")
    kind = entry.get("type")
    reader = _READERS.get(kind)  # type: ignore[arg-type]
    if reader is None:
        raise MalformedStatus(f"unknown annotation type {_short(kind)}")
    values = []
    for raw in entry["value"]:
        value = reader(raw)
        if value is None:
            raise MalformedStatus(f"{kind} annotation value {_short(raw)} is not valid")
        values.append(value)
    return tuple(values)


def _read_string(raw: Any) -> Scalar | None:
    return raw if isinstance(raw, str) else None


def _read_long(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
        raw = int(raw)
    if isinstance(raw, int) and LONG_MIN <= raw <= LONG_MAX:
        return raw
    return None


def _read_double(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return float(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    alias = NON_FINITE.get(text.lower())
    if alias is not None:
        return alias
    if text[-1:] in ("d", "D", "f", "F"):  # Java's Double.valueOf accepts "1.5d"
        text = text[:-1]
    try:
        return float.fromhex(text) if "0x" in text.lower() else float(text)  # and "0x1.8p1"
    except ValueError:
        return None


def _read_boolean(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    return None


def _read_timestamp(raw: Any) -> Scalar | None:
    ms = _read_long(raw)
    return None if ms is None else from_timestamp_ms(ms)


_READERS = {
    STRING: _read_string,
    LONG: _read_long,
    DOUBLE: _read_double,
    BOOLEAN: _read_boolean,
    TIMESTAMP_MS: _read_timestamp,
}


def _is_locked(entry: Any) -> bool:
    """The lock annotation's meaning. Fail-safe: only a recognisable false unlocks.

    BOOLEAN true is what this tool writes; STRING "true" is what the official Python
    client writes for a Python `True`. Anything else present (a LONG 1, "yes", a
    malformed entry) reads as locked, so a lock set by another tool is never ignored;
    the spec can still unlock it, which removes the annotation.
    """
    if entry is None:
        return False
    if not isinstance(entry, dict) or entry.get("type") not in (BOOLEAN, STRING):
        return True
    try:
        values = read_value(entry)
    except MalformedStatus:
        return True
    if not values:
        return False
    return not (len(values) == 1 and str(values[0]).strip().lower() == "false")


# ----------------------------------------------------------------------- writing
def encode_value(value: TagValue) -> dict[str, Any]:
    """A tag value → `{"type", "value": [strings]}`; one Synapse type per key."""
    if not value:
        raise MalformedStatus("a tag value needs at least one element (Synapse rejects [])")
    kinds = {_annotation_type(v) for v in value}
    if len(kinds) != 1:
        raise MalformedStatus(f"values of one tag must share a type, got {', '.join(sorted(kinds))}")
    return {"type": kinds.pop(), "value": [_text(v) for v in value]}


def _annotation_type(value: Scalar) -> str:
    if not isinstance(value, (str, bool, int, float, datetime)):
        raise MalformedStatus(f"not a tag scalar: {type(value).__name__}")
    kind = scalar_kind(value)
    if kind == "int" and not LONG_MIN <= value <= LONG_MAX:  # type: ignore[operator]
        raise MalformedStatus(f"integer {value} does not fit Synapse's LONG (64-bit)")
    return ANNOTATION_TYPES[kind]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest exact form; nan/inf/-inf are Synapse aliases
    if isinstance(value, (int, str)):
        return str(value)
    return str(timestamp_ms(value))


def status_for_write(change: Change, lock_key: str) -> dict[str, Any]:
    """The object to PUT for one change: the fresh base with only managed parts changed.

    Kept as read: legacy `annotations`, score, report, canCancel, cancelRequested,
    entityId, versionNumber, statusVersion and unknown fields. Dropped: modifiedOn
    (server-owned). `submissionAnnotations` is omitted when empty (that is how Synapse
    stores "none") and otherwise carries the status's own id and etag.
    """
    # A shallow copy: only top-level keys are set here and the annotation container is
    # rebuilt, so the base is never changed (a deep copy was a third of apply's CPU).
    obj = dict(change.base)
    obj.pop("modifiedOn", None)
    obj["id"] = change.item_id
    obj["etag"] = change.etag
    if change.changes_field("status"):
        obj["status"] = change.after_value("status")
    annotations = {key: _normalised(entry) for key, entry in annotations_of(obj).items()}
    for key, value in change.tag_changes.items():
        if key == lock_key:
            raise MalformedStatus(f"tag {key!r} is the queue's lock annotation")
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = encode_value(value)
    lock = _lock_after(change)
    if lock is True:
        annotations[lock_key] = {"type": BOOLEAN, "value": ["true"]}
    elif lock is False:
        annotations.pop(lock_key, None)
    if annotations:
        container = obj.get("submissionAnnotations")
        container = dict(container) if isinstance(container, dict) else {}
        container.update(id=change.item_id, etag=change.etag, annotations=annotations)
        obj["submissionAnnotations"] = container
    else:
        obj.pop("submissionAnnotations", None)
    return obj


def _lock_after(change: Change) -> bool | None:
    if change.lock is not None:
        return change.lock == "lock"
    if change.changes_field("locked"):
        return bool(change.after_value("locked"))
    return None


def _normalised(entry: Any) -> Any:
    """An untouched annotation as Synapse itself would return it: numbers and booleans
    sent as JSON by other clients become the equivalent strings; anything unexpected
    is passed through for the server to judge."""
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), list):
        return entry
    values = entry["value"]
    if all(isinstance(v, str) for v in values) or not all(isinstance(v, (str, bool, int, float)) for v in values):
        return entry
    return {**entry, "value": [v if isinstance(v, str) else _text(v) for v in values]}


# ------------------------------------------------------------------------ helpers
def _kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (looked up by exact type: True is not "a number")."""
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
