"""What `validate` refuses about ranks (docs/spec.md, "Ranks"),
offline, each at its line and column.

- Two ranks writing one tag: whichever ran last would win, silently.
- A condition reading a rank's output (a rule's or a rank's `where`, a rank's `by` or
  `per`): ranks are computed after everything else, so reading their output would
  need another round, which could change the ranks again: a loop.
- A rule's `set` writing a rank's output: the rank would override it, silently (an
  explicit entry, which wins over a rank, is the way to pin one item's place).
- On a label-only service a rank can only mark the top (a label is present or absent):
  `into` and tag keys in `by`/`per` (a label has no order) are refused.
- A service field the service does not report.

Pure: a QueueSpec and Capabilities in, SpecProblems out (paths inside the queue).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator

from .model import Match, QueueSpec, Rank, RankKey, Rule
from .providers.base import Capabilities, SpecProblem
from .providers.checks import rule_places


def rank_problems(queue: QueueSpec, caps: Capabilities, service: str) -> list[SpecProblem]:
    if not queue.ranks:
        return []
    return [
        *_shared_outputs(queue.ranks),
        *_reads_of_outputs(queue),
        *_service_problems(queue.ranks, caps, service),
    ]


def _at(rank: Rank, *rest: Any) -> tuple[Any, ...]:
    return ("rules", rank.index, "rank", *rest)


def _output_paths(rank: Rank) -> Iterator[tuple[str, tuple[Any, ...]]]:
    if rank.into is not None:
        yield rank.into, _at(rank, "into")
    if rank.top is not None:
        yield rank.top, _at(rank, "top", "tag")


def _shared_outputs(ranks: tuple[Rank, ...]) -> Iterator[SpecProblem]:
    owners: dict[str, Rank] = {}
    for rank in ranks:
        for key, path in _output_paths(rank):
            first = owners.setdefault(key, rank)
            if first is not rank:
                yield SpecProblem(
                    f"tag {key!r} is already written by rank {first.name!r} "
                    f"({first.source.file}:{first.source.line}); two ranks cannot "
                    "write one tag",
                    path,
                )
            elif rank.into == rank.top and path[-1] == "tag":
                yield SpecProblem(f"tag {key!r} is this rank's `into` already; `top` needs a tag of its own", path)


def _rule_indexes(queue: QueueSpec) -> list[tuple[int, Rule]]:
    """Each rule with its place in `rules:`, where ranks sit between them."""
    return [(i, rule) for i, rule in rule_places(queue) if isinstance(rule, Rule)]


def wheres(queue: QueueSpec) -> list[tuple[int, Match]]:
    """Every rule's and rank's `where` with its place in `rules:` (for located errors)."""
    return [(i, rule.where) for i, rule in rule_places(queue)]


def _reads_of_outputs(queue: QueueSpec) -> Iterator[SpecProblem]:
    owners: dict[str, Rank] = {}
    for rank in queue.ranks:
        for key in rank.outputs:
            owners.setdefault(key, rank)  # a second owner is refused by _shared_outputs

    def loop(key: str, path: tuple[Any, ...], what: str) -> SpecProblem:
        rank = owners[key]
        return SpecProblem(
            f"{what} tag {key!r}, which rank {rank.name!r} ({rank.source.file}:{rank.source.line}) "
            "writes after every rule: reading a rank's output would loop",
            path,
        )

    for index, rule in _rule_indexes(queue):
        for key in rule.where.tags:
            if key in owners:
                yield loop(key, ("rules", index, "where", "tags", key), "this condition reads")
        for key in rule.set.tags:
            if key in owners:
                rank = owners[key]
                yield SpecProblem(
                    f"rule {rule.name!r} sets tag {key!r}, which rank {rank.name!r} "
                    f"({rank.source.file}:{rank.source.line}) writes on every item and would "
                    "override; pin one item's place with its explicit entry instead",
                    ("rules", index, "set", "tags", key),
                )
    for rank in queue.ranks:
        for key in rank.where.tags:
            if key in owners:
                yield loop(key, ("rules", rank.index, "where", "tags", key), "this condition reads")
        for rank_key, path in _key_paths(rank):
            if not rank_key.item and rank_key.name in owners:
                yield loop(rank_key.name, path, "this rank orders by")


def _key_paths(rank: Rank) -> Iterator[tuple[RankKey, tuple[Any, ...]]]:
    for j, key in enumerate(rank.by):
        yield key, _at(rank, "by", j, "item" if key.item else "tag")
    if rank.per is not None:
        yield rank.per, _at(rank, "per", "item" if rank.per.item else "tag")


def _service_problems(ranks: tuple[Rank, ...], caps: Capabilities, service: str) -> Iterator[SpecProblem]:
    fields = caps.fields
    for rank in ranks:
        if caps.label_tags and rank.into is not None:
            yield SpecProblem(
                f"{service} tags are labels (present or absent), which cannot hold a "
                "place: a rank here can only mark each group's top with `top:`",
                _at(rank, "into"),
            )
        for key, path in _key_paths(rank):
            if key.item and key.name not in fields:
                known = ", ".join(sorted(fields)) or "none"
                yield SpecProblem(f"{service} reports no field {key.name!r} (its fields: {known})", path)
            elif not key.item and caps.label_tags:
                yield SpecProblem(
                    f"{service} tags are labels, which have no order or group to rank "
                    "by; use a service field ({item: FIELD})",
                    path,
                )
