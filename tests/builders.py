"""Small builders for model objects, so tests read like the spec they stand for.

    q = queue(rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=9),
              submissions={"7": {"tags": {"score": 0.9}}})
    plan_queue(q, [item("7", "VALIDATED", tags={"rank": 1})])

Shorthands follow the YAML: `where` takes status (str or list), ids, tags ({key: value}
or {key: {"exists": bool}}), locked; `set` and entries take status, locked and tags
({key: value or None}). Values go through `model.to_tag_value`, like the spec loader.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any
from collections.abc import Mapping

from reconciler.model import (
    Assignment,
    Change,
    Item,
    Match,
    Plan,
    QueuePlan,
    QueueSpec,
    Rule,
    Safety,
    Setting,
    Source,
    TagCondition,
    tag_value_key,
    to_tag_value,
)

SPEC = "spec.yaml"
QUEUE_ID = "9615000"


def src(line: int, rule: str | None = None, file: str = SPEC) -> Source:
    return Source(file, line, rule)


def match(where: Mapping[str, Any] | None = None) -> Match:
    where = dict(where or {})
    status = where.pop("status", None)
    ids = where.pop("ids", None)
    tags = where.pop("tags", {})
    locked = where.pop("locked", None)
    if where:
        raise ValueError(f"unknown where keys {sorted(where)}")
    return Match(
        statuses=None if status is None else frozenset([status] if isinstance(status, str) else status),
        ids=None if ids is None else frozenset(ids),
        tags={k: _condition(v) for k, v in tags.items()},
        locked=locked,
    )


def _condition(value: Any) -> TagCondition:
    if isinstance(value, dict):
        return TagCondition(exists=value["exists"])
    return TagCondition(equals=to_tag_value(value))


def assignment(values: Mapping[str, Any] | None, source: Source) -> Assignment:
    values = dict(values or {})
    status = values.pop("status", None)
    locked = values.pop("locked", None)
    tags = values.pop("tags", {})
    if values:
        raise ValueError(f"unknown set keys {sorted(values)}")
    return Assignment(
        status=None if status is None else Setting(status, source),
        locked=None if locked is None else Setting(locked, source),
        tags={k: Setting(None if v is None else to_tag_value(v), source) for k, v in tags.items()},
    )


def rule(
    name: str,
    where: Mapping[str, Any] | None = None,
    set: Mapping[str, Any] | None = None,
    *,
    line: int = 1,
    file: str = SPEC,
) -> Rule:
    source = Source(file, line, name)
    return Rule(name, match(where), assignment(set, source), source)


def queue(
    *rules: Rule,
    submissions: Mapping[str, Mapping[str, Any]] | None = None,
    policy: str = "merge",
    ignore: tuple[str, ...] = (),
    safety: Safety = Safety(),
    id: str = QUEUE_ID,
    entry_line: int = 100,
) -> QueueSpec:
    """Entry `n` (in insertion order) is located at line `entry_line + n`."""
    entries = {
        item_id: assignment(values, Source(SPEC, entry_line + n))
        for n, (item_id, values) in enumerate((submissions or {}).items())
    }
    return QueueSpec(
        id=id,
        source=Source(SPEC, 3),
        tag_policy=policy,
        ignore=tuple(ignore),
        safety=safety,
        rules=tuple(rules),
        submissions=entries,
    )


def item(
    id: str,
    status: str = "RECEIVED",
    *,
    tags: Mapping[str, Any] | None = None,
    locked: bool = False,
    etag: str | None = None,
) -> Item:
    """Tag values in shorthand (scalar or list); base is a minimal native object."""
    etag = etag or f"etag-{id}"
    return Item(
        id=id,
        etag=etag,
        status=status,
        tags={k: to_tag_value(v) for k, v in (tags or {}).items()},
        locked=locked,
        base={"id": id, "etag": etag},
    )


def apply_change(live: Item, change: Change) -> Item:
    """What a provider stores after writing `change`: the after values and a new etag."""
    tags = dict(live.tags)
    for key, value in change.tag_changes.items():
        if value is None:
            tags.pop(key, None)
        else:
            tags[key] = value
    status = change.after_value("status") if change.changes_field("status") else live.status
    locked = change.after_value("locked") if change.changes_field("locked") else live.locked
    return replace(live, etag=live.etag + "+", status=status, tags=tags, locked=locked)


def typed(value: Any) -> Any:
    """A field value in a form where 1, 1.0 and True stay different under ==."""
    if isinstance(value, tuple):
        return ("tag", tag_value_key(value))
    if value is None:
        return None
    return (type(value).__name__, "nan" if isinstance(value, float) and math.isnan(value) else value)


def change_data(change: Change) -> Any:
    """A change as plain, typed, comparable data (base excluded)."""
    return (
        change.item_id,
        change.etag,
        change.lock,
        change.blocked,
        tuple((f.field, typed(f.before), typed(f.after), f.source) for f in change.fields),
    )


def plan_data(plan: QueuePlan | Plan) -> Any:
    """A plan as plain, typed, comparable data (sources included, bases excluded)."""
    if isinstance(plan, Plan):
        return tuple(plan_data(q) for q in plan.queues)
    return (plan.queue_id, plan.items_seen, plan.safety, tuple(change_data(c) for c in plan.changes))


def through_plan_file(plan: Plan) -> tuple[Plan, dict[str, QueueSpec]]:
    """A plan as `apply PLANFILE` sees it: written, read back, and each queue's settings
    from the file alone (no rules: its managed tags are the ones recorded)."""
    from reconciler.planfile import dump_plan, load_plan

    loaded = load_plan(dump_plan(plan, tool_version="test", created_at="2025-01-01T00:00:00Z"), "plan.json").plan
    return loaded, {q.queue_id: q.as_queue(Source("plan.json", 1)) for q in loaded.queues}
