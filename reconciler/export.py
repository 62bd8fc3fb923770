"""Live items → a spec with explicit entries, to bring an existing queue under management.

Pure: the CLI reads the items and writes the text. Every string is emitted quoted where
YAML could read it as anything else, and only what a spec can say for the service is
written (a status the service cannot set, such as HealthOmics' CREATING or datamaker's
empty one, is left out), so the exported spec loads and plans to no changes.
"""

from __future__ import annotations

import os
import re
from typing import Any
from collections.abc import Sequence

import yaml

from .diff import item_order
from .providers import provider_class
from .model import Item, ProviderConfig, QueueSpec, Safety, StatusRules, TagValue

HEADER = (
    "# yaml-language-server: $schema=spec.schema.json\n"
    "# Exported live state (`reconciler schema > spec.schema.json` for editor checks).\n"
)


class _Dumper(yaml.SafeDumper):
    """PyYAML quotes what YAML 1.1 would read as non-strings; the spec reader follows
    YAML 1.2, whose numbers (`0o17`, `1_000`) need quoting too. Strings with line
    breaks or unprintable characters are double-quoted, the one style that escapes them:
    plain, single-quoted and block styles fold a NEL or U+2028 into a space."""


_YAML12_NUMBER = re.compile(r"[-+]?(0o[0-7]+|0x[0-9a-fA-F]+|[0-9._]+([eE][-+]?[0-9]+)?|\.(inf|Inf|INF|nan|NaN|NAN))")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML12_NUMBER.fullmatch(value) or not value.isprintable():
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_Dumper.add_representer(str, _str)


def _tag(value: TagValue) -> Any:
    return value[0] if len(value) == 1 else list(value)


def _statable(status: str, rules: StatusRules) -> bool:
    """Whether an entry may say this status: any text where the service takes any, else
    one of the values it can set (none where status is not writable)."""
    return rules.values is None or status in rules.values


def entry_of(item: Item, rules: StatusRules = StatusRules(), labels: bool = False) -> dict[str, Any]:
    """What a spec can say of `item` for a service with these status `rules` (and label
    tags, written as a list); the defaults state everything (any status, a tag map)."""
    entry: dict[str, Any] = {}
    if _statable(item.status, rules):
        entry["status"] = item.status
    tags = {k: _tag(v) for k, v in sorted(item.tags.items()) if v}
    if labels and all(v is True for v in tags.values()):
        if tags:
            entry["tags"] = list(tags)  # a label service's own form: `tags: [rfi, scored]`
    elif tags:
        entry["tags"] = tags
    if item.locked:
        entry["locked"] = True
    return entry


def _safety(safety: Safety) -> dict[str, Any] | None:
    """The queue's `safety:` as its spec said it (only what differs from the defaults),
    so the exported spec guards apply as the original did."""
    block: dict[str, Any] = {}
    if safety.max_change_percent != Safety.max_change_percent:
        block["max_change_percent"] = safety.max_change_percent
    if safety.max_changes is not None:
        block["max_changes"] = safety.max_changes
    return block or None


def unstatable_tags(queues: Sequence[tuple[QueueSpec, Sequence[Item]]]) -> list[str]:
    """Tags the export leaves out because a spec cannot state them: an empty list is
    not a tag value (`null` deletes). Under `policy: exact` a plan would delete them."""
    return [
        f"queue {queue.id}: submission {item.id}: tag {key!r} is an empty list, "
        "which a spec cannot state; left out of the export"
        for queue, items in queues
        for item in sorted(items, key=lambda i: item_order(i.id))
        for key, value in sorted(item.tags.items())
        if not value
    ]


def _provider_block(config: ProviderConfig, out_dir: str) -> dict[str, Any]:
    """The spec's provider, with a local store path re-anchored to the output's folder
    and no seed (the store exists: that is what is being exported)."""
    block: dict[str, Any] = {"type": config.type}
    for key, value in config.options.items():
        if key == "seed":
            continue
        if config.type == "local" and key == "path":
            value = os.path.relpath(os.path.join(config.base_dir, value), out_dir)
        block[key] = value
    if config.type == "local" and "path" not in block:
        default = os.path.join(config.base_dir, ".reconciler", "state.db")
        block["path"] = os.path.relpath(default, out_dir)
    return block


def export_spec(
    provider: ProviderConfig,
    queues: Sequence[tuple[QueueSpec, Sequence[Item]]],
    out_dir: str,
) -> str:
    return dump_spec(spec_document(provider, queues, out_dir))


def spec_document(
    provider: ProviderConfig,
    queues: Sequence[tuple[QueueSpec, Sequence[Item]]],
    out_dir: str,
) -> dict[str, Any]:
    """The exported spec as data: each queue with its settings and `submissions:`."""
    doc: dict[str, Any] = {"version": 1, "provider": _provider_block(provider, out_dir), "queues": []}
    capabilities = provider_class(provider.type).capabilities
    lock_option = capabilities.lock_option
    for queue, items in queues:
        tags: dict[str, Any] = {"policy": queue.tag_policy}
        if queue.ignore:
            tags["ignore"] = list(queue.ignore)
        entry: dict[str, Any] = {"id": queue.id, "tags": tags}
        if lock_option is not None:  # a native lock has nothing to configure
            entry["lock"] = {lock_option: queue.lock_key}
        safety = _safety(queue.safety)
        if safety:
            entry["safety"] = safety
        order = capabilities.order or item_order
        entries = (
            (item.id, entry_of(item, capabilities.status, capabilities.label_tags))
            for item in sorted(items, key=lambda i: order(i.id))
        )
        # an item with nothing a spec can say about it (no settable status, no tags, not
        # locked) would be an empty entry, which the schema refuses
        entry["submissions"] = {item_id: fields for item_id, fields in entries if fields}
        doc["queues"].append(entry)
    return doc


def dump_spec(doc: dict[str, Any]) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    return HEADER + body
