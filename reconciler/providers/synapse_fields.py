"""Synapse's read-only item fields for `where: {item: …}` (issue 23, docs/synapse.md
"Service fields"), read from the listing the provider already makes.

A SubmissionStatus carries `modifiedOn`, `canCancel`, `cancelRequested` and
`statusVersion`; who submitted and when live on the Submission, which only the bundle
listing (`submission/bundle/all`: `{submission, submissionStatus}` per row) returns
beside the status. Bundle pages hold the same 100 rows, so reading them costs the same
number of requests, only bigger answers: the provider lists bundles only when a spec
reads a bundle field. Fields are parsed only when some rule reads them (a 100,000-item
plan that reads none parses no dates).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from collections.abc import Mapping

from ..model import Item, Scalar, to_scalar
from .listed_fields import fields_read  # noqa: F401 (the provider's import)
from .synapse_annotations import MalformedStatus, status_to_item

STATUS_FIELDS = {
    "modifiedOn": "timestamp",
    "canCancel": "boolean",
    "cancelRequested": "boolean",
    "statusVersion": "integer",
}
BUNDLE_FIELDS = {
    "createdOn": "timestamp",
    "submitterId": "string",
    "userId": "string",
    "teamId": "string",
    "name": "string",
}
FIELDS = {**STATUS_FIELDS, **BUNDLE_FIELDS}
_PYTHON_TYPES: dict[str, type[Any]] = {"timestamp": str, "boolean": bool, "integer": int, "string": str}


def reads_bundles(fields: frozenset[str]) -> bool:
    return not fields.isdisjoint(BUNDLE_FIELDS)


def split_bundle(bundle: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(submission, submissionStatus) of one bundle row, both objects."""
    if not isinstance(bundle, dict):
        raise MalformedStatus("a bundle is not an object")
    submission, status = bundle.get("submission"), bundle.get("submissionStatus")
    if not isinstance(submission, dict) or not isinstance(status, dict):
        raise MalformedStatus("a bundle lacks its `submission` or `submissionStatus` object")
    if submission.get("id") != status.get("id"):
        raise MalformedStatus(f"bundle of submission {submission.get('id')!r} holds the status of {status.get('id')!r}")
    return submission, status


def read_fields(
    wanted: frozenset[str],
    status: Mapping[str, Any],
    submission: Mapping[str, Any] | None = None,
) -> dict[str, Scalar]:
    """The `wanted` fields present in a status (and its submission); a field of the
    wrong JSON type is refused, since a condition would silently never match it."""
    out: dict[str, Scalar] = {}
    submitted: Mapping[str, Any] = submission or {}
    for name in wanted:
        if name == "submitterId":
            source, raw = submission, submitted.get("teamId") or submitted.get("userId")
        elif name in BUNDLE_FIELDS:
            source, raw = submission, submitted.get(name)
        else:
            source, raw = status, status.get(name)
        if source is None or raw is None:
            continue
        kind = FIELDS["teamId" if name == "submitterId" else name]
        if type(raw) is not _PYTHON_TYPES[kind]:
            raise MalformedStatus(f"submission {status.get('id')}: `{name}` is not of type {kind}")
        out[name] = _timestamp(raw, name, status) if kind == "timestamp" else raw
    return out


def _timestamp(raw: str, name: str, status: Mapping[str, Any]) -> Scalar:
    try:
        return to_scalar(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise MalformedStatus(f"submission {status.get('id')}: `{name}` is not a time: {raw[:40]!r}") from None


def row_to_item(row: Any, lock_key: str, wanted: frozenset[str], bundles: bool) -> Item:
    """One listing row (a status, or a bundle when `bundles`) → Item with the `wanted`
    fields; `base` stays the status object, which is what a write starts from."""
    submission, status = split_bundle(row) if bundles else (None, row)
    item = status_to_item(status, lock_key)
    if not wanted:
        return item
    return replace(item, fields=read_fields(wanted, status, submission))
