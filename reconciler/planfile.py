"""Plan ⇄ JSON plan file (docs/plan-file.md): what `plan -o` writes and `apply PLANFILE` reads.

A plan file is reviewed by people and then applied by a machine, possibly elsewhere and
later, so reading one treats it as untrusted input: bounded size, strict JSON (no
duplicate keys, no NaN), a schema with no unknown fields, a checksum that catches edits,
and every error located at the line and column of the offending value.
The format is described field by field in docs/plan-file.md.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib.resources import files
from itertools import islice
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Mapping, Sequence

from .errors import Located, UserError, UserErrors
from .fastschema import compile_predicate, inline_refs
from .jsonload import JsonPath, all_positions, located, parse, path_text
from .model import (
    Change,
    FieldChange,
    ManagedTags,
    Plan,
    QueuePlan,
    Safety,
    Source,
    decode_scalar,
    decode_tag_value,
    encode_tag_value,
    format_scalar,
    tag_field,
    to_scalar,
)
from .notes import SpecWarning
from .schema_wording import located_errors
from .secret_keys import without_secrets

if TYPE_CHECKING:
    from .providers.base import Provider

FORMAT_VERSION = 1
# Enough for ~100,000 changes with Synapse-sized objects; more would take gigabytes
# of memory to parse, and a plan that large is better split with `plan --only`.
MAX_PLAN_BYTES = 200 * 1024 * 1024
MAX_SCHEMA_ERRORS = 20  # one systematic mistake must not bury the terminal


@dataclass(frozen=True)
class LoadedPlan:
    """A plan file's Plan plus the metadata it carries besides (shown by `show`)."""

    plan: Plan
    tool_version: str
    created_at: str
    checksum: str
    warnings: tuple[SpecWarning, ...] = ()


# --------------------------------------------------------------------------- writing
def dump_plan(
    plan: Plan,
    *,
    tool_version: str,
    created_at: str,
    warnings: Sequence[SpecWarning] = (),
    problems: Sequence[Mapping[str, str]] = (),
) -> str:
    """The plan file text: sorted keys, ASCII only (so no editor or code page can change
    its bytes' meaning), ending with a newline.

    The frame is indented for reading; each change is one compact line, because
    `json.dumps(indent=...)` falls back to the pure-Python encoder, several times slower
    on a large plan (BENCHMARKS.md) — one line per change keeps diffs per item and uses
    the C encoder.
    """
    doc = plan_to_dict(plan, tool_version=tool_version, created_at=created_at, warnings=warnings, problems=problems)
    options: dict[str, Any] = {"sort_keys": True, "ensure_ascii": True, "allow_nan": False, "default": _json_default}
    compact = json.JSONEncoder(separators=(",", ":"), **options).encode  # one encoder for all lines
    marker = f"changes-{uuid.uuid4().hex}"
    lines: dict[str, str] = {}
    for i, queue in enumerate(doc["queues"]):
        placeholder = f"{marker}-{i}"
        changes = queue["changes"]
        lines[json.dumps(placeholder)] = (
            "[\n" + ",\n".join("        " + compact(c) for c in changes) + "\n      ]" if changes else "[]"
        )
        queue["changes"] = placeholder
    text = json.dumps(doc, indent=2, **options)
    for placeholder, rendered in lines.items():
        text = text.replace(placeholder, rendered, 1)
    return text + "\n"


def plan_to_dict(
    plan: Plan,
    *,
    tool_version: str,
    created_at: str,
    warnings: Sequence[SpecWarning] = (),
    problems: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The plan file document (every queue setting apply needs travels in its QueuePlan).
    `warnings` (spec entries the queues lack) and `problems` (why the plan fails, each
    `{kind, message}`: what a script reading `plan --format json` needs to say why) are
    kept only when there are some, so a plan without them reads as before; a loaded
    plan's problems are worked out again, never trusted from the file."""
    provider: dict[str, Any] = {"type": plan.provider_type, "endpoint": plan.endpoint}
    if plan.provider_options:
        provider["options"] = dict(plan.provider_options)
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "tool_version": tool_version,
        "created_at": created_at,
        "spec_digest": plan.spec_digest,
        **({} if plan.evaluated_at is None else {"evaluated_at": format_scalar(to_scalar(plan.evaluated_at))}),
        "provider": provider,
        "queues": [_queue_to_json(q, plan.guard) for q in plan.queues],
        "summary": plan.summary(),
    }
    if warnings:
        doc["warnings"] = [w.to_json() for w in warnings]
    if problems:
        doc["problems"] = [dict(p) for p in problems]
    doc["checksum"] = _checksum(doc)
    return doc


def _queue_to_json(queue: QueuePlan, guard: str) -> dict[str, Any]:
    safety = queue.safety
    return {
        "id": queue.queue_id,
        "items_seen": queue.items_seen,
        "lock_key": queue.lock_key,
        "managed_tags": queue.managed_tags.to_json(),
        "safety": {
            "max_change_percent": float(safety.max_change_percent),
            "max_changes": safety.max_changes,
            "min_items": safety.min_items,
        },
        "changes": [_change_to_json(c, guard) for c in queue.changes],
    }


def change_values(change: Change) -> tuple[dict[str, Any], dict[str, Any]]:
    """The changed fields' values before and after, as a plan file (and the journal)
    writes them: `status`, `locked`, and `tags` holding each changed key."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for f in change.fields:
        if (key := f.tag_key) is not None:
            before.setdefault("tags", {})[key] = encode_tag_value(f.before)
            after.setdefault("tags", {})[key] = encode_tag_value(f.after)
        elif f.field in ("status", "locked"):
            before[f.field], after[f.field] = f.before, f.after
        else:
            raise ValueError(f"unknown field {f.field!r} in change of item {change.item_id}")
    return before, after


def _change_to_json(change: Change, guard: str) -> dict[str, Any]:
    """`relock` and `drift` are written only when true, so plans without them read as before."""
    before, after = change_values(change)
    sources = [{"field": f.field, **f.source.to_json()} for f in change.fields if f.source is not None]
    doc = {
        "id": change.item_id,
        "etag": change.etag,
        "before": before,
        "after": after,
        "lock": change.lock,
        "blocked": change.blocked,
        "sources": sources,
        "base": _kept_base(change, guard),
        **({"relock": True} if change.relock else {}),
        **({"drift": True} if change.drift else {}),
    }
    if change.refused is not None:
        doc["refused"] = change.refused
    return doc


def _kept_base(change: Change, guard: str) -> dict[str, Any]:
    """`base` as a plan file keeps it (docs/plan-file.md). A compare-guard service
    re-reads every item right before writing and sends back what it re-read, so the
    plan's copy only serves the checks and leaves out every entry named like a secret
    (secret_keys.py: an app task's `meta.sessionToken`). An etag service writes the
    plan's copy back as it is, so it is kept whole: those objects hold no secret fields,
    only tags, whose names are data (a tag may be called `token`, docs/spec.md)."""
    return without_secrets(dict(change.base)) if guard == "compare" else dict(change.base)


def _json_default(value: Any) -> Any:
    """A provider's `base` is the service's object as its client returned it; botocore
    returns datetimes, which a plan file keeps as ISO 8601 text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _checksum(doc: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything but the checksum itself."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=_json_default
    )
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- reading
def load_plan(text: str | bytes, display: str) -> LoadedPlan:
    """Parse, validate and verify a plan file; `display` names it in error messages.

    Raises Located (or UserErrors of several) for anything wrong with the file.
    """
    try:
        return _load(text, display)
    except RecursionError:
        raise Located(display, None, None, "plan file nests too deeply") from None


def _load(text: str | bytes, display: str) -> LoadedPlan:
    if len(text) > MAX_PLAN_BYTES:
        raise Located(
            display,
            None,
            None,
            f"plan file is larger than {MAX_PLAN_BYTES // (1024 * 1024)} MiB, the most a plan "
            "file may be; make smaller plans with `reconciler plan --only ID…`",
        )
    doc, text = parse(text, display)
    if isinstance(doc, dict) and "format_version" in doc and doc["format_version"] != FORMAT_VERSION:
        version = json.dumps(doc["format_version"])[:40]
        raise located(
            display,
            text,
            ("format_version",),
            f"unsupported plan format_version {version} (this reconciler reads {FORMAT_VERSION})",
            name_path=False,
        )
    _check_schema(doc, text, display)
    if _checksum(doc) != doc["checksum"]:
        raise located(
            display,
            text,
            ("checksum",),
            "plan file was modified after it was written (checksum mismatch)",
            name_path=False,
        )
    return _Reader(text, display).loaded(doc)


# ------------------------------------------------------------------ schema checking
@cache
def plan_schema() -> dict[str, Any]:
    return json.loads((files("reconciler") / "schemas" / "plan.schema.json").read_text("utf-8"))


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = plan_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(inline_refs(schema))


@cache
def _fast_accepts() -> Callable[[Any], bool]:
    """The same schema compiled (fastschema.py), because jsonschema is an order of
    magnitude slower on a large plan and would run before the first write (BENCHMARKS.md,
    "Plan-file validation"). A file it refuses is validated again by jsonschema, whose
    verdict and messages count."""
    return compile_predicate(plan_schema(), shipped="plan")


def _check_schema(doc: Any, text: str, display: str) -> None:
    """Every schema violation (the first MAX_SCHEMA_ERRORS), in the spec's words
    (schema_wording.py), at its line and column and named by its JSON path."""
    if _fast_accepts()(doc):
        return
    validator = _validator()
    errors = list(islice(validator.iter_errors(doc), MAX_SCHEMA_ERRORS + 1))
    if not errors:
        return
    found = located_errors(validator, doc, _Locator(display, text), errors=errors[:MAX_SCHEMA_ERRORS])
    found.sort(key=lambda e: (e.line or 0, e.column or 0))
    if len(errors) > MAX_SCHEMA_ERRORS:
        found.append(Located(display, None, None, f"(only the first {MAX_SCHEMA_ERRORS} schema errors are shown)"))
    raise found[0] if len(found) == 1 else UserErrors(list(found))


class _Locator:
    """schema_wording's `locate` for a plan file: a value's message at the value, a
    key's (an unknown field) at the key, each named by the path of what holds it."""

    def __init__(self, display: str, text: str) -> None:
        self.display, self.text = display, text
        self.keys: dict[JsonPath, tuple[int, int]] | None = None  # found on the first key error

    def __call__(self, path: tuple, message: str, *, key: bool = False) -> Located:
        if not key:
            return located(self.display, self.text, path, message)
        if self.keys is None:
            self.keys = all_positions(self.text)[1]
        where = path_text(path[:-1])
        line, column = self.keys.get(path, (None, None))
        return Located(self.display, line, column, f"{where}: {message}" if where else message)


def _short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


# ----------------------------------------------------------------- building the plan
class _Reader:
    """Turns a schema-valid document into model objects; raises for what the schema
    cannot express (field sets, duplicate ids, bad timestamps, a false summary)."""

    def __init__(self, text: str, display: str) -> None:
        self.text, self.display = text, display

    def fail(self, path: JsonPath, message: str) -> UserError:
        return located(self.display, self.text, tuple(path), message)

    def loaded(self, doc: dict[str, Any]) -> LoadedPlan:
        from .providers import provider_class, provider_types

        if doc["provider"]["type"] not in provider_types():
            raise self.fail(
                ("provider", "type"),
                f"unknown provider type {_short_json(doc['provider']['type'])} (known: {', '.join(provider_types())})",
            )
        options = dict(doc["provider"].get("options", {}))
        legacy = self.legacy_managed(doc["provider"]["type"], options)
        self.check_options(provider_class(doc["provider"]["type"]), options)
        queues, seen = [], set()
        for qi, raw in enumerate(doc["queues"]):
            if raw["id"] in seen:
                raise self.fail(("queues", qi, "id"), f"queue {raw['id']} appears twice")
            seen.add(raw["id"])
            queues.append(self.queue(raw, ("queues", qi), legacy.get(raw["id"])))
        plan = Plan(
            provider_type=doc["provider"]["type"],
            endpoint=doc["provider"]["endpoint"],
            spec_digest=doc["spec_digest"],
            queues=tuple(queues),
            provider_options=options,
            guard=provider_class(doc["provider"]["type"]).capabilities.guard,
            labels=provider_class(doc["provider"]["type"]).capabilities.label_tags,
            evaluated_at=self.evaluated_at(doc),
            shows_clock="evaluated_at" in doc,
        )
        if plan.summary() != doc["summary"]:
            raise self.fail(
                ("summary",),
                f"summary does not match the changes (they give {json.dumps(plan.summary(), sort_keys=True)})",
            )
        warnings = tuple(SpecWarning.from_json(w) for w in doc.get("warnings", ()))
        return LoadedPlan(plan, doc["tool_version"], doc["created_at"], doc["checksum"], warnings)

    def check_options(self, provider: type[Provider], options: Mapping[str, Any]) -> None:
        """The recorded options against the provider's declaration, as a spec's are
        (Provider.checked_options), each problem at its place in the file. The endpoint is
        `provider.endpoint`, never an option here, and is checked before apply opens it
        (Provider.for_plan), so `show` still prints a plan for a forbidden one."""
        where = ("provider", "options")
        locate = _Locator(self.display, self.text)

        def place(path: JsonPath, message: str, *, key: bool = False) -> Located:
            return locate(where + tuple(path), message, key=key)

        if "endpoint" in options:
            raise place(
                ("endpoint",), "unknown field 'endpoint' (a plan file records it as provider.endpoint)", key=True
            )
        provider.checked_options(options, place)

    def evaluated_at(self, doc: dict[str, Any]) -> datetime | None:
        if "evaluated_at" not in doc:
            return None  # a plan file from before conditions read a clock
        try:
            return decode_scalar({"timestamp": doc["evaluated_at"]})  # type: ignore[return-value]
        except ValueError:
            raise self.fail(("evaluated_at",), "expected a UTC time such as 2026-12-05T00:00:00.000Z") from None

    def legacy_managed(self, provider_type: str, options: dict[str, Any]) -> dict[str, ManagedTags]:
        """An omics plan file from before queues recorded `managed_tags` kept them in
        `provider.options.managed_tags` (queue id -> key list, null: every key); taken
        out of the options (the provider no longer knows it) into each queue's record."""
        raw = options.pop("managed_tags", None) if provider_type == "omics" else None
        if raw is None:
            return {}
        if not isinstance(raw, dict) or not all(
            keys is None or (isinstance(keys, list) and all(isinstance(k, str) for k in keys)) for keys in raw.values()
        ):
            raise self.fail(("provider", "options", "managed_tags"), "is not a map of queue ids to tag key lists")
        return {q: ManagedTags() if keys is None else ManagedTags("merge", frozenset(keys)) for q, keys in raw.items()}

    def queue(self, raw: dict[str, Any], path: JsonPath, legacy: ManagedTags | None = None) -> QueuePlan:
        seen: set[str] = set()
        changes = []
        for ci, change in enumerate(raw["changes"]):
            if change["id"] in seen:
                raise self.fail(path + ("changes", ci, "id"), f"item {change['id']} appears twice in queue {raw['id']}")
            seen.add(change["id"])
            changes.append(self.change(change, path + ("changes", ci)))
        safety = raw["safety"]
        return QueuePlan(
            queue_id=raw["id"],
            items_seen=int(raw["items_seen"]),
            changes=tuple(changes),
            lock_key=raw["lock_key"],
            managed_tags=ManagedTags.from_json(raw["managed_tags"])
            if "managed_tags" in raw
            else legacy or ManagedTags(),
            safety=Safety(
                max_change_percent=float(safety["max_change_percent"]),
                max_changes=None if safety["max_changes"] is None else int(safety["max_changes"]),
                min_items=int(safety["min_items"]),
            ),
        )

    def change(self, raw: dict[str, Any], path: JsonPath) -> Change:
        base = raw["base"]
        # a service without etags keeps none in its objects (the etag is a digest)
        if str(base.get("id")) != raw["id"] or base.get("etag", raw["etag"]) != raw["etag"]:
            # The write starts from `base`: one that is not the item as read (another
            # item, another version, or no object at all) would be sent as it is.
            raise self.fail(
                path + ("base",),
                f"must be the object the change was computed from, with the change's "
                f"id {_short_json(raw['id'])} and etag {_short_json(raw['etag'])}",
            )
        before, after = raw["before"], raw["after"]
        names = _field_names(before)
        if names != _field_names(after):
            only = sorted(names ^ _field_names(after))
            raise self.fail(
                path + ("after",), f"before and after must name the same fields ({', '.join(only)} in only one)"
            )
        sources: dict[str, Source] = {}
        for si, source in enumerate(raw["sources"]):
            name = source["field"]
            if name not in names or name in sources:
                what = (
                    "a field the change does not change" if name not in names else "a field named by an earlier source"
                )
                raise self.fail(path + ("sources", si, "field"), f"source for {name} names {what}")
            sources[name] = Source(source["file"], int(source["line"]), source["rule"], cell=source.get("cell"))
        fields = []
        if "status" in before:
            fields.append(FieldChange("status", before["status"], after["status"], sources.get("status")))
        for key in sorted(before.get("tags", {})):
            fields.append(
                FieldChange(
                    tag_field(key),
                    self.tag_value(before["tags"][key], path + ("before", "tags", key)),
                    self.tag_value(after["tags"][key], path + ("after", "tags", key)),
                    sources.get(tag_field(key)),
                )
            )
        if "locked" in before:
            fields.append(FieldChange("locked", before["locked"], after["locked"], sources.get("locked")))
        relock = raw.get("relock", False)
        if relock and (raw["blocked"] or raw["lock"] is not None):
            raise self.fail(path + ("relock",), "a relocked change (`--replace`) is neither blocked nor a lock change")
        drift = raw.get("drift", False)
        if drift and not (raw["blocked"] and raw["lock"] is None and raw.get("refused") is None):
            raise self.fail(path + ("drift",), "drift on a locked item is blocked, neither a lock change nor refused")
        return Change(
            item_id=raw["id"],
            etag=raw["etag"],
            fields=tuple(fields),
            base=raw["base"],
            lock=raw["lock"],
            blocked=raw["blocked"] or raw.get("refused") is not None,
            refused=raw.get("refused"),
            relock=relock,
            drift=drift,
        )

    def tag_value(self, value: Any, path: JsonPath) -> Any:
        try:
            return decode_tag_value(value)
        except ValueError as exc:
            raise self.fail(path, f"not a valid tag value: {exc}") from None


def _field_names(fields: Mapping[str, Any]) -> set[str]:
    names = {name for name in ("status", "locked") if name in fields}
    return names | {tag_field(key) for key in fields.get("tags", {})}
