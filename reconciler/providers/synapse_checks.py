"""What Synapse would refuse in a queue spec, found offline (docs/spec.md, "Synapse").

A spec that passes here can still meet live data Synapse refuses (an item that already
carries 100 annotation keys), but everything decidable from the spec alone is caught
before a single request, with the file position of the offending value. Pure: a
QueueSpec in, problems out. Each problem's path is relative to the queue's mapping and
ends at the offending field (for tags, at the tag key).
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterator, Mapping

from ..model import QueueSpec, Rule, Scalar, Setting, scalar_kind
from .base import SpecProblem
from .checks import rule_places, spots
from .synapse_facts import (
    KEY_PATTERN,
    LONG_MAX,
    LONG_MIN,
    MAX_KEYS,
    MAX_STRING_CHARS,
    MAX_VALUES,
    RESERVED_KEY,
)

_ID = re.compile(r"[0-9]+")
# How the kinds are named in messages to spec authors.
_KIND_NAMES = {"bool": "boolean", "int": "integer", "float": "float", "timestamp": "timestamp", "str": "string"}


def check_queue(queue: QueueSpec) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if not _ID.fullmatch(queue.id):
        problems.append(SpecProblem(f"queue id {queue.id!r} is not a Synapse evaluation id (digits only)", ("id",)))
    problems += _lock_key_problems(queue.lock_key)
    for spot in spots(queue):
        if spot.kind == "id" and not _ID.fullmatch(spot.value):
            problems.append(SpecProblem(f"submission id {spot.value!r} is not a Synapse id (digits only)", spot.path))
        elif spot.kind == "tag":
            problems += _key_problems(spot.key, queue.lock_key, spot.path)
            if spot.value is not None:
                problems += _value_problems(spot.key, spot.value, spot.path)
    problems += _key_count_problems(queue)
    return problems


def _lock_key_problems(lock_key: str) -> list[SpecProblem]:
    path = ("lock", "annotation")
    if not KEY_PATTERN.fullmatch(lock_key):
        return [
            SpecProblem(
                f"lock annotation {lock_key!r} is not a valid Synapse annotation key "
                "(letters, digits, ',', '_' and '.' only)",
                path,
            )
        ]
    if lock_key.lower() == RESERVED_KEY:
        return [SpecProblem(f"lock annotation {lock_key!r} is reserved by Synapse", path)]
    return []


def _key_problems(key: str, lock_key: str, path: tuple[Any, ...]) -> list[SpecProblem]:
    if key == lock_key:
        return [SpecProblem(f"{key!r} is the lock annotation of this queue; use `locked:`", path)]
    if not KEY_PATTERN.fullmatch(key):
        return [
            SpecProblem(
                f"tag key {key!r} is not allowed on Synapse (letters, digits, ',', '_' and '.' only)",
                path,
            )
        ]
    if key.lower() == RESERVED_KEY:
        return [SpecProblem(f"tag key {key!r} is reserved by Synapse", path)]
    return []


def _value_problems(key: str, value: tuple[Scalar, ...], path: tuple[Any, ...]) -> list[SpecProblem]:
    kinds = sorted({_KIND_NAMES[scalar_kind(v)] for v in value})
    if len(kinds) > 1:
        return [
            SpecProblem(
                f"tag {key!r} mixes {' and '.join(kinds)} values; Synapse stores one type per "
                "key (write floats as 1.0, quote strings)",
                path,
            )
        ]
    if len(value) > MAX_VALUES:
        return [SpecProblem(f"tag {key!r} has {len(value)} values; Synapse allows at most {MAX_VALUES}", path)]
    if kinds == ["string"]:
        chars = sum(len(str(v)) for v in value)  # strings: kinds says so
        if chars > MAX_STRING_CHARS:
            return [
                SpecProblem(
                    f"tag {key!r} has {chars} characters of text; Synapse allows at most "
                    f"{MAX_STRING_CHARS} across a key's values",
                    path,
                )
            ]
    if kinds == ["integer"] and any(not LONG_MIN <= v <= LONG_MAX for v in value):  # type: ignore[operator]
        return [SpecProblem(f"tag {key!r} has an integer outside Synapse's 64-bit range", path)]
    return []


def _key_count_problems(queue: QueueSpec) -> list[SpecProblem]:
    """Conservative: any rule may apply to any item, and the lock annotation may be set,
    so an item can end up with every rule's keys plus its explicit entry's keys."""
    problems = []
    rule_keys: set[str] = {queue.lock_key}
    for index, rule in rule_places(queue):
        if not isinstance(rule, Rule):
            continue  # a rank's outputs are not counted (as before): its keys are one or two
        before = len(rule_keys)
        rule_keys |= set(_written_keys(rule.set.tags))
        if before <= MAX_KEYS < len(rule_keys):
            problems.append(_too_many_keys(len(rule_keys), ("rules", index, "set", "tags")))
    if len(rule_keys) > MAX_KEYS:
        return problems  # every entry would repeat the rules' problem
    for item_id, entry in queue.submissions.items():
        count = len(rule_keys | set(_written_keys(entry.tags)))
        if count > MAX_KEYS:
            problems.append(_too_many_keys(count, ("submissions", item_id, "tags")))
    return problems


def _written_keys(tags: Mapping[str, Setting]) -> Iterator[str]:
    return (key for key, setting in tags.items() if setting.value is not None)


def _too_many_keys(count: int, path: tuple[Any, ...]) -> SpecProblem:
    return SpecProblem(
        f"up to {count} tag keys on one submission (counting every rule's keys and the "
        f"lock annotation); Synapse allows at most {MAX_KEYS}",
        path,
    )
