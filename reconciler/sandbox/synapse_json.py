"""Synapse's JSON shapes over store records, and Synapse's validation of what clients send.

Kept free of HTTP so the mapping (store tags ↔ v2 `submissionAnnotations`, everything
else of a SubmissionStatus ↔ `extra`) can be read and tested on its own. Facts and
messages follow Synapse's own (docs/sandbox.md, "What is faithful to Synapse").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from collections.abc import Mapping

from ..model import Scalar, TagValue, scalar_kind, timestamp_ms
from ..providers.synapse_annotations import ANNOTATION_TYPES as TYPE_OF_KIND
from ..providers.synapse_facts import (
    KEY_PATTERN,
    LONG_MAX,
    LONG_MIN,
    MAX_KEYS,
    MAX_STRING_CHARS,
    MAX_VALUES,
    NON_FINITE,
    RESERVED_KEY,
    STATUSES,
)
from ..store import Record


ANNOTATION_TYPES = ("STRING", "DOUBLE", "LONG", "TIMESTAMP_MS", "BOOLEAN")
MAX_ANNOTATION_KEYS = MAX_KEYS
MAX_VALUES_PER_KEY = MAX_VALUES
SANDBOX_USER_ID = "3350000"

# Status fields the sandbox keeps in the store's `extra`; unknown keys are dropped as
# Synapse drops them (its generated parser reads only schema fields).
EXTRA_FIELDS: tuple[tuple[str, type], ...] = (
    ("score", float),
    ("report", str),
    ("annotations", dict),
    ("canCancel", bool),
    ("cancelRequested", bool),
)
# Read from the Submission on every GET, so a client cannot change them (Synapse's
# SubmissionDAOImpl).
SUBMISSION_FIELDS = ("entityId", "versionNumber")
# Who submitted and when: the Submission's own, never part of a status (seeds and
# --synthetic data set them in `extra`; a write keeps them).
SUBMITTER_FIELDS = ("userId", "teamId", "submitterAlias", "createdOn")

_LONG = re.compile(r"[+-]?[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidStatus(ValueError):
    """What Synapse answers with 400; the message is Synapse's where it is known."""


# ------------------------------------------------------------------- reading
def submission_json(record: Record) -> dict[str, Any]:
    extra = record.extra
    out = {
        "id": record.id,
        "userId": extra.get("userId", SANDBOX_USER_ID),
        "evaluationId": record.queue,
        "entityId": extra.get("entityId", f"syn{record.id}"),
        "versionNumber": extra.get("versionNumber", 1),
        "name": f"submission {record.id}",
        "createdOn": extra.get("createdOn", record.created_on),
    }
    # Synapse omits a null field: a submission by a user alone has no teamId.
    out.update({k: extra[k] for k in ("teamId", "submitterAlias") if k in extra})
    return out


def status_json(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "etag": record.etag,
        "modifiedOn": record.modified_on,
        "status": record.status,
    }
    out.update({k: v for k, v in record.extra.items() if k not in out and k not in SUBMITTER_FIELDS})
    submission = submission_json(record)
    for name in SUBMISSION_FIELDS:
        out[name] = submission[name]
    out["statusVersion"] = record.version
    if record.tags:
        out["submissionAnnotations"] = {
            "id": record.id,
            "etag": record.etag,
            "annotations": {k: annotation_value(v) for k, v in record.tags.items()},
        }
    return out


def bundle_json(record: Record) -> dict[str, Any]:
    return {"submission": submission_json(record), "submissionStatus": status_json(record)}


def annotation_value(value: TagValue) -> dict[str, Any]:
    """A typed tag → `{"type", "value": [strings]}`; mixed types fall back to STRING."""
    kinds = {TYPE_OF_KIND[scalar_kind(v)] for v in value}
    if kinds == {"LONG", "DOUBLE"}:
        kinds = {"DOUBLE"}
    kind = kinds.pop() if len(kinds) == 1 else "STRING"
    if kind == "DOUBLE":
        return {"type": kind, "value": [java_double(float(v)) for v in value]}
    return {"type": kind, "value": [_wire(v) for v in value]}


def _wire(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(timestamp_ms(value))
    if isinstance(value, float):
        return java_double(value)
    return str(value)


def java_double(value: float) -> str:
    """Close to Java's Double.toString, which is what Synapse echoes back."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


# ------------------------------------------------------------------- writing
@dataclass(frozen=True)
class StatusIn:
    """A SubmissionStatus as sent, type-checked; None means absent or null."""

    id: str | None
    etag: str | None
    status: str | None
    status_version: int | None
    fields: Mapping[str, Any]  # the EXTRA_FIELDS that were sent
    submission_annotations: Mapping[str, Any] | None


def parse_status(body: Any) -> StatusIn:
    """JSON → StatusIn, failing like Synapse's generated parser on wrong JSON types."""
    obj = _object(body, "SubmissionStatus")
    _typed(obj, "modifiedOn", str)
    if obj.get("modifiedOn") is not None:
        _parse_date(obj["modifiedOn"])
    kind: type
    for name, kind in (("entityId", str), ("versionNumber", int)):
        _typed(obj, name, kind)
    status = _typed(obj, "status", str)
    if status is not None and status not in STATUSES:
        raise InvalidStatus(_no_enum(status))
    fields = {}
    for name, kind in EXTRA_FIELDS:
        value = _typed(obj, name, kind)
        if value is not None:
            fields[name] = value
    annotations = _typed(obj, "submissionAnnotations", dict)
    return StatusIn(
        id=_typed(obj, "id", str),
        etag=_typed(obj, "etag", str),
        status=status,
        status_version=_typed(obj, "statusVersion", int),
        fields=fields,
        submission_annotations=annotations,
    )


def validate_content(status: StatusIn, eval_id: str) -> tuple[dict[str, TagValue], dict]:
    """Synapse's validateContent (Synapse's SubmissionManagerImpl): → (tags, extra fields to store)."""
    fields = dict(status.fields)
    score = fields.get("score")
    if score is not None and not 0.0 <= score <= 1.0:
        raise InvalidStatus(f"Scores must be between 0 and 1. Received score = {java_double(float(score))}")
    if "annotations" in fields:
        fields["annotations"] = _legacy_annotations(fields["annotations"], status.id, eval_id)
    tags: dict[str, TagValue] = {}
    if status.submission_annotations is not None:
        tags = parse_annotations(status.submission_annotations)
    return tags, fields


def require_fields(status: StatusIn) -> tuple[str, str]:
    """The DAO's non-null checks, after content validation (Synapse's SubmissionStatusDAOImpl); the id and
    etag, now known to be there."""
    for value, name in (
        (status.id, "Submission ID"),
        (status.etag, "eTag"),
        (status.status, "Submission status"),
        (status.status_version, "Status version"),
    ):
        if value is None:
            raise InvalidStatus(f"{name} is required.")
    return str(status.id), str(status.etag)


def parse_annotations(annotations: Mapping[str, Any]) -> dict[str, TagValue]:
    """v2 `submissionAnnotations` → typed tags; `id` and `etag` are ignored on write."""
    entries = _typed(annotations, "annotations", dict)
    if not entries:
        return {}
    if len(entries) > MAX_ANNOTATION_KEYS:
        raise InvalidStatus(f"Exceeded maximum number of annotation keys: {MAX_ANNOTATION_KEYS}")
    tags = {}
    for key, entry in entries.items():
        _check_key(key)
        tags[key] = _annotation_values(key, _object(entry, f"annotations[{key}]"))
    return tags


def _check_key(key: str) -> None:
    name = key.strip()
    if not name:
        raise InvalidStatus("Annotation names cannot be empty strings")
    if not KEY_PATTERN.fullmatch(name):
        raise InvalidStatus(
            f"Invalid annotation name: '{name}'. Annotation names may only contain; letters, numbers, '_' and '.'"
        )
    if name.lower() == RESERVED_KEY:
        raise InvalidStatus(f"Invalid annotation name: '{name}'. The annotation name is a system reserved annotation.")


def _annotation_values(key: str, entry: Mapping[str, Any]) -> TagValue:
    values = entry.get("value")
    if values is None:
        raise InvalidStatus(f"value list for key={key} can not be null")
    if not isinstance(values, list):
        raise InvalidStatus('JSONObject["value"] is not a JSONArray.')
    if len(values) > MAX_VALUES_PER_KEY:
        raise InvalidStatus(f"key={key} has exceeded the maximum number of values allowed: {MAX_VALUES_PER_KEY}")
    kind = entry.get("type")
    if kind is None:
        raise InvalidStatus(f"a value or a value type must be set for values associated with key={key}")
    if kind not in ANNOTATION_TYPES:
        raise InvalidStatus(
            f"No enum constant org.sagebionetworks.repo.model.annotation.v2.AnnotationsValueType.{kind}"
        )
    texts = []
    for value in values:
        if value is None:
            raise InvalidStatus("null is not allowed. To indicate no values, use an empty list.")
        texts.append(_as_text(value))
    if kind == "STRING":
        if sum(len(t) for t in texts) > MAX_STRING_CHARS:
            raise InvalidStatus(
                f"The sum of all string values for annotation '{key}' cannot exceed {MAX_STRING_CHARS} characters."
            )
        return tuple(texts)
    return tuple(_typed_value(key, kind, t) for t in texts)


def _as_text(value: Any) -> str:
    """The official client sends numbers and bools as JSON literals; Synapse reads
    them as the strings the schema asks for."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise InvalidStatus('JSONArray["value"] is not a string.')


def _typed_value(key: str, kind: str, text: str) -> Scalar:
    bad = InvalidStatus(f"Value associated with key={key} is not valid for type={kind}: {text}")
    if kind == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise bad
        return text.lower() == "true"
    if kind == "DOUBLE":
        stripped = text.strip()
        if stripped.lower() in NON_FINITE:
            return NON_FINITE[stripped.lower()]
        if "_" in stripped:
            raise bad
        try:
            return float(stripped)
        except ValueError:
            raise bad from None
    if not _LONG.fullmatch(text) or not LONG_MIN <= int(text) <= LONG_MAX:
        raise bad
    if kind == "LONG":
        return int(text)
    try:  # TIMESTAMP_MS
        return _EPOCH + timedelta(milliseconds=int(text))
    except OverflowError:
        raise bad from None


def _legacy_annotations(annos: dict, sub_id: str | None, eval_id: str) -> dict:
    """Unique keys over the three lists, isPrivate defaulting to true, objectId and
    scopeId set by the server (AnnotationsUtils, SubmissionManagerImpl)."""
    out = dict(annos)
    seen: set[str] = set()
    for name, kind in (("stringAnnos", str), ("longAnnos", int), ("doubleAnnos", float)):
        entries = _typed(annos, name, list)
        if entries is None:
            continue
        normalised = []
        for entry in entries:
            entry = dict(_object(entry, name))
            key = _typed(entry, "key", str)
            _typed(entry, "value", kind)
            _typed(entry, "isPrivate", bool)
            if key in seen:
                raise InvalidStatus(f"Duplicate annotations found for key: {key}")
            seen.add(key)
            if entry.get("isPrivate") is None:
                entry["isPrivate"] = True
            normalised.append(entry)
        out[name] = normalised
    out["objectId"] = sub_id
    out["scopeId"] = eval_id
    return out


# ------------------------------------------------------------------ helpers
_JSON_NAMES = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    dict: "a JSONObject",
    list: "a JSONArray",
}


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidStatus(f"{what} must be a JSONObject.")
    return value


def _typed(obj: Mapping[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    if value is None:
        return None
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InvalidStatus(f'JSONObject["{name}"] is not {_JSON_NAMES[kind]}.')
    return value


def _parse_date(text: str) -> None:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidStatus(f"Unable to parse date-time: {text}") from None


def _no_enum(value: str) -> str:
    return f"No enum constant org.sagebionetworks.evaluation.model.SubmissionStatusEnum.{value}"


def parse_status_filter(value: str) -> str:
    """The `status` query parameter: trimmed, case-insensitive, else Enum.valueOf's 400."""
    name = value.strip().upper()
    if name not in STATUSES:
        raise InvalidStatus(_no_enum(name))
    return name
