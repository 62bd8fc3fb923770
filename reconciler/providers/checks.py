"""Offline checks every provider shares, driven by what its Capabilities declare.

A provider declares which statuses it can write and whether its tags are labels; these
checks turn that into located spec errors (`validate` reports them at file:line:col and
nothing is sent), so no provider writes its own status-enum check. Service-specific rules
(key syntax, value types, id formats) stay in each provider's `check_queue`. Pure: a
QueueSpec and Capabilities in, problems out; paths are relative to the queue's mapping,
as for `check_queue`.
"""
from __future__ import annotations

from typing import Any, Iterator

from ..errors import suggest
from ..model import Assignment, QueueSpec, StatusRules, same_tag_value
from .base import Capabilities, SpecProblem


def capability_problems(queue: QueueSpec, caps: Capabilities, service: str) -> list[SpecProblem]:
    problems = list(_status_problems(queue, caps.status, service))
    if caps.label_tags:
        problems += _label_problems(queue, service)
    return problems


def _status_problems(queue: QueueSpec, rules: StatusRules, service: str) -> Iterator[SpecProblem]:
    if rules.values is None:
        return
    known = rules.values if rules.known is None else rules.known
    for path, status, matching in _statuses(queue):
        allowed = known if matching else rules.values
        if not allowed:
            verb = "match on" if matching else "set"
            yield SpecProblem(f"{service} items have no writable status: a spec cannot {verb} "
                              "`status` here; remove it", path)
            continue
        if not isinstance(status, str) or status in allowed:
            continue
        what = rules.name if matching or allowed == known else f"{rules.name} a spec can set"
        suggestion = suggest(status, allowed, ignore_case=True, cutoff=0.75)
        hint = f": did you mean {suggestion!r}?" if suggestion is not None else ""
        yield SpecProblem(f"status {status!r} is not a {what}{hint} (one of: {', '.join(sorted(allowed))})", path)


def _statuses(queue: QueueSpec) -> Iterator[tuple[tuple[Any, ...], Any, bool]]:
    """(path, status, is a `where:` match) for every status the queue names."""
    for index, rule in enumerate(queue.rules):
        for status in sorted(rule.where.statuses or ()):
            yield ("rules", index, "where", "status", status), status, True
        if rule.set.status is not None:
            yield ("rules", index, "set", "status"), rule.set.status.value, False
    for item_id, entry in queue.submissions.items():
        if entry.status is not None:
            yield ("submissions", item_id, "status"), entry.status.value, False


def _label_problems(queue: QueueSpec, service: str) -> Iterator[SpecProblem]:
    """Labels are present or absent: `true` adds one, `null` removes it."""
    def check(assignment: Assignment, base: tuple[Any, ...]) -> Iterator[SpecProblem]:
        for key, setting in assignment.tags.items():
            if setting.value is not None and not same_tag_value(setting.value, (True,)):
                yield SpecProblem(
                    f"tag {key!r}: {service} tags are labels, set with `true` (or a list "
                    "`tags: [a, b]`) and removed with `null`", base + ("tags", key),
                )

    for index, rule in enumerate(queue.rules):
        yield from check(rule.set, ("rules", index, "set"))
        for key, condition in rule.where.tags.items():
            if condition.equals is not None and not same_tag_value(condition.equals, (True,)):
                yield SpecProblem(
                    f"tag {key!r}: {service} tags are labels; match them with `true` or "
                    "`{exists: false}`", ("rules", index, "where", "tags", key),
                )
    for item_id, entry in queue.submissions.items():
        yield from check(entry, ("submissions", item_id))
