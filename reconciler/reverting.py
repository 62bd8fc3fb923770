"""Plan the undoing of one journal entry (docs/operations.md): pure, from the entry and the
items as read now; `reconciler revert` does the reading.

Only items the entry applied are considered. An item still holding, in every managed
field the entry wrote, what it wrote gets a change back to the `before` values; one
that does not was changed since (by a person, a pipeline, a later apply): it is left
out and named, never overwritten. So reverting is as safe as the entry was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping, Sequence

from .diff import diff_fields
from .model import (
    Change,
    Item,
    ManagedTags,
    Plan,
    QueuePlan,
    Safety,
    Setting,
    Source,
    StatusRules,
    decode_tag_value,
    same_tag_value,
)


@dataclass(frozen=True)
class ChangedSince:
    queue_id: str
    item_id: str
    what: str  # `status: VALIDATED → SCORED` (what the entry wrote → what it holds now)


def applied_ids(entry: Mapping[str, Any]) -> dict[str, list[str]]:
    """Queue id → the ids of the items the entry applied, in entry order."""
    out: dict[str, list[str]] = {}
    for item in entry["items"]:
        if item["outcome"] == "applied":
            out.setdefault(item["queue"], []).append(item["id"])
    return out


def queue_settings(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in entry["plan"]["queues"]}


def queue_plan(settings: Mapping[str, Any], changes: Sequence[Change] = ()) -> QueuePlan:
    """A queue of the entry's plan (its settings as recorded: lock key, safety limits,
    managed tags, which the guard's digests depend on) holding `changes`."""
    managed = settings.get("managed_tags")
    return QueuePlan(
        settings["id"],
        settings["items_seen"],
        tuple(changes),
        Safety(**settings["safety"]),
        settings["lock_key"],
        ManagedTags.from_json(managed) if managed else ManagedTags(),
    )


def _differences(item: Item, after: Mapping[str, Any]) -> list[str]:
    """The managed fields where `item` no longer holds what the entry wrote."""
    found = []
    if "status" in after and item.status != after["status"]:
        found.append(f"status: {after['status']} → {item.status}")
    if "locked" in after and item.locked != after["locked"]:
        found.append(f"locked: {after['locked']} → {item.locked}")
    for key, value in sorted(after.get("tags", {}).items()):
        wrote, now = decode_tag_value(value), item.tags.get(key)
        if not same_tag_value(wrote, now):
            found.append(f"tags.{key}: {_shown(wrote)} → {_shown(now)}")
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    return ", ".join(str(v) for v in value) if len(value) != 1 else str(value[0])


def _desired(before: Mapping[str, Any], source: Source) -> tuple[Setting | None, Setting | None, dict[str, Setting]]:
    status = Setting(before["status"], source) if "status" in before else None
    locked = Setting(before["locked"], source) if "locked" in before else None
    tags = {k: Setting(decode_tag_value(v), source) for k, v in before.get("tags", {}).items()}
    return status, locked, tags


def revert_plan(
    entry: Mapping[str, Any],
    entry_file: str,
    fresh: Mapping[str, Sequence[Item]],
    rules: StatusRules,
) -> tuple[Plan, list[ChangedSince]]:
    """The plan restoring the `before` values of the items `entry` applied, given each
    queue's items as read now (`fresh`: queue id → items), and the items left out."""
    source = Source(entry_file, 1, rule=f"revert {entry['id']}")
    settings = queue_settings(entry)
    by_item = {(i["queue"], i["id"]): i for i in entry["items"]}
    changed: list[ChangedSince] = []
    queues = []
    for queue_id, ids in applied_ids(entry).items():
        live = {item.id: item for item in fresh.get(queue_id, ())}
        changes: list[Change] = []
        for item_id in ids:
            record = by_item[(queue_id, item_id)]
            item = live.get(item_id)
            if item is None:
                changed.append(ChangedSince(queue_id, item_id, "the item no longer exists"))
                continue
            moved = _differences(item, record["after"])
            if moved:
                changed.append(ChangedSince(queue_id, item_id, "; ".join(moved)))
                continue
            change = diff_fields(item, *_desired(record["before"], source), rules=rules)
            if change is not None:
                changes.append(change)
        queues.append(queue_plan(settings[queue_id], changes))
    return entry_plan(entry, queues), changed


def entry_plan(entry: Mapping[str, Any], queues: Sequence[QueuePlan] = ()) -> Plan:
    """A plan against the service and endpoint the entry wrote to (with no queues: what
    opening its provider needs)."""
    plan_doc = entry["plan"]
    provider = plan_doc["provider"]
    return Plan(
        provider["type"],
        provider["endpoint"],
        plan_doc["spec_digest"],
        tuple(queues),
        provider.get("options", {}),
        plan_doc["guard"],
    )
