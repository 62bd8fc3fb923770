"""Offline checks every provider shares, driven by what its Capabilities declare.

A provider declares which statuses it can write and whether its tags are labels; these
checks turn that into located spec errors (`validate` reports them at file:line:col and
nothing is sent), so no provider writes its own status-enum check. Service-specific rules
(key syntax, value types, id formats) stay in each provider's `check_queue`. Pure: a
QueueSpec and Capabilities in, problems out; paths are relative to the queue's mapping,
as for `check_queue`.

`spots` is the one walk over what a queue's rules, ranks and entries name (item ids,
statuses, tag keys and values), each at its place: these checks and every provider's
`check_queue` read it rather than walking rules and entries themselves, so each
problem points at the rule it is about even where ranks sit between rules.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple
from collections.abc import Iterator

from ..errors import suggest
from ..model import Assignment, QueueSpec, Rank, Rule, StatusRules, same_tag_value
from .base import Capabilities, SpecProblem


class Spot(NamedTuple):
    """One thing a queue spec names that a service may refuse, at its place."""

    path: tuple[Any, ...]  # inside the queue's mapping, for file:line:col
    kind: Literal["id", "status", "tag"]
    # id: the item id; status: the status named; tag: its value (a tuple of scalars), or
    # None for a tag removed, or matched on presence or by another condition than a value
    value: Any
    key: str = ""  # the tag key (kind "tag")
    matching: bool = False  # named by a `where:` (a rule's or a rank's), not written


def spots(queue: QueueSpec) -> Iterator[Spot]:
    """Every item id, status and tag the queue's rules, ranks and entries name: each
    rule and rank in `rules:` order (`where:`, then a rule's `set:`), then the entries."""
    for index, rule in rule_places(queue):
        base: tuple[Any, ...] = ("rules", index)
        for status in sorted(rule.where.statuses or ()):
            yield Spot(base + ("where", "status", status), "status", status, matching=True)
        for item_id in sorted(rule.where.ids or ()):
            yield Spot(base + ("where", "ids", item_id), "id", item_id, matching=True)
        for key, condition in rule.where.tags.items():
            yield Spot(base + ("where", "tags", key), "tag", condition.equals, key, matching=True)
        if isinstance(rule, Rule):
            yield from _written(rule.set, base + ("set",))
    for item_id, entry in queue.submissions.items():
        yield Spot(("submissions", item_id), "id", item_id)
        yield from _written(entry, ("submissions", item_id))


def _written(assignment: Assignment, base: tuple[Any, ...]) -> Iterator[Spot]:
    if assignment.status is not None:
        yield Spot(base + ("status",), "status", assignment.status.value)
    for key, setting in assignment.tags.items():
        yield Spot(base + ("tags", key), "tag", setting.value, key)


def rule_places(queue: QueueSpec) -> list[tuple[int, Rule | Rank]]:
    """Each rule and rank with its place in the queue's `rules:` list. A QueueSpec keeps
    ranks apart (`ranks`, each knowing its `index`), so a rule's index in `queue.rules`
    is its place only when no rank comes before it."""
    taken = {rank.index for rank in queue.ranks}
    free = (i for i in range(len(queue.rules) + len(queue.ranks)) if i not in taken)
    placed: list[tuple[int, Rule | Rank]] = [*zip(free, queue.rules, strict=False)]
    return sorted(placed + [(rank.index, rank) for rank in queue.ranks], key=lambda pair: pair[0])


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
            yield SpecProblem(
                f"{service} items have no writable status: a spec cannot {verb} `status` here; remove it", path
            )
            continue
        if not isinstance(status, str) or status in allowed:
            continue
        what = rules.name if matching or allowed == known else f"{rules.name} a spec can set"
        suggestion = suggest(status, allowed, ignore_case=True, cutoff=0.75)
        hint = f": did you mean {suggestion!r}?" if suggestion is not None else ""
        yield SpecProblem(f"status {status!r} is not a {what}{hint} (one of: {', '.join(sorted(allowed))})", path)


def _statuses(queue: QueueSpec) -> Iterator[tuple[tuple[Any, ...], Any, bool]]:
    """(path, status, is a `where:` match) for every status the queue names."""
    return ((spot.path, spot.value, spot.matching) for spot in spots(queue) if spot.kind == "status")


def _label_problems(queue: QueueSpec, service: str) -> Iterator[SpecProblem]:
    """Labels are present or absent: `true` adds one, `null` removes it."""
    for spot in spots(queue):
        if spot.kind != "tag" or spot.value is None or same_tag_value(spot.value, (True,)):
            continue
        if spot.matching:
            yield SpecProblem(
                f"tag {spot.key!r}: {service} tags are labels; match them with `true` or `{{exists: false}}`", spot.path
            )
        else:
            yield SpecProblem(
                f"tag {spot.key!r}: {service} tags are labels, set with `true` (or a list "
                "`tags: [a, b]`) and removed with `null`",
                spot.path,
            )
