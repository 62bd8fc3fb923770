"""Ranks: leaderboard positions computed over a whole queue (DESIGN §10 "Ranks",
docs/spec.md "Ranks").

Unlike a rule, a rank cannot be decided one item at a time: an item's place depends on
every other item's score. So the diff holds each item's desired state (after rules and
entries) until the listing ends, then asks `rank_queue` once. Pure: candidates in,
settings and a leaderboard preview out; no I/O, no clock.

Cost: one sort per `by` key (stable, so later keys only matter among ties of earlier
ones) and one pass to number the items, O(k·n log n) for k keys, whatever the number of
groups: groups are counted in that same pass, never sorted one by one.

The order is total and deterministic: numbers (ints and floats alike) before times
before text before booleans, each compared as such; the last resort is the item id in
the service's natural order, applied first so that the stable sorts keep it among ties.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from .model import (
    BoardGroup,
    Leaderboard,
    Rank,
    RankKey,
    Scalar,
    Setting,
    TagValue,
    format_scalar,
    timestamp_ms,
)
from .resolve import where_test

# The leaderboard preview: the first rows of the first groups, enough to review.
BOARD_ROWS = 10
BOARD_GROUPS = 20

# A decimal number written as text (services whose tags hold text only).
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NUMBER, _TIME, _TEXT, _BOOL = range(4)

SortValue = tuple  # (kind, comparable value)
Tag = tuple[str, Setting]


class Candidate(NamedTuple):
    """One item as the ranks see it: its desired state and the service's fields."""

    id: str
    status: str
    locked: bool
    tags: Mapping[str, TagValue]
    fields: Mapping[str, Scalar] = {}


class _Row(NamedTuple):
    id: str
    group: SortValue | None
    keys: tuple[SortValue | None, ...]
    candidate: Candidate


class Ranked:
    """What a queue's ranks decided: per item, the value (or deletion) of every tag the
    ranks own; and one leaderboard preview per rank."""

    def __init__(self, decided: list[tuple[dict[str, tuple[Tag, ...]], tuple[Tag, ...]]],
                 boards: tuple[Leaderboard, ...]) -> None:
        self._decided = decided  # per rank: (ranked id → its tags, what every other item gets)
        self.boards = boards

    def tags(self, item_id: str) -> list[Tag]:
        """The rank-owned tags of one item: its place where ranked, removal elsewhere."""
        out: list[Tag] = []
        for ranked, unranked in self._decided:
            out.extend(ranked.get(item_id, unranked))
        return out


def sort_value(value: TagValue | Scalar | None, text: bool = False) -> SortValue | None:
    """How a `by` or `per` value orders, or None when it has none (absent, a list of
    several values, NaN). On a text-only service a decimal number written as text
    orders as a number, so "10" comes after "9"."""
    if isinstance(value, tuple):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, bool):
        return (_BOOL, value)
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else (_NUMBER, value)
    if isinstance(value, datetime):
        return (_TIME, timestamp_ms(value))
    if isinstance(value, str):
        if text and _NUMBER_TEXT.fullmatch(value):
            return (_NUMBER, float(value))
        return (_TEXT, value)
    return None


def rank_queue(ranks: Sequence[Rank], candidates: Sequence[Candidate],
               order: Callable[[str], Any]) -> Ranked:
    """Every rank of a queue over its items' desired states; `order` is the service's
    natural id order (the last resort among ties)."""
    by_id = sorted(candidates, key=lambda c: order(c.id))
    decided = []
    boards = []
    for rank in ranks:
        ranked, board = _rank_one(rank, by_id)
        decided.append((ranked, tuple((key, _deleted(rank)) for key in rank.outputs)))
        boards.append(board)
    return Ranked(decided, tuple(boards))


def positions(rank: Rank, candidates: Iterable[Candidate],
              order: Callable[[str], Any]) -> dict[str, int]:
    """Item id → its place under `rank` (what `into` receives): for tests and docs."""
    rows = _sorted_rows(rank, sorted(candidates, key=lambda c: order(c.id)))
    return {row.id: place for row, place in _numbered(rank, rows)}


# ------------------------------------------------------------------ internals
def _deleted(rank: Rank) -> Setting:
    return Setting(None, rank.source)


def _read(key: RankKey, c: Candidate) -> TagValue | Scalar | None:
    return c.fields.get(key.name) if key.item else c.tags.get(key.name)


def _sorted_rows(rank: Rank, candidates: Sequence[Candidate]) -> list[_Row]:
    """The items `rank` ranks, best first (groups interleaved); `candidates` in id order."""
    matches = where_test(rank.where)
    text, by, per = rank.text, rank.by, rank.per
    rows: list[_Row] = []
    for c in candidates:
        if not matches(c.id, c.status, c.locked, c.tags):
            continue
        group = None
        if per is not None:
            group = sort_value(_read(per, c), text)
            if group is None:
                continue  # no group to rank it in
        keys = tuple(sort_value(_read(k, c), text) for k in by)
        if keys[0] is not None:
            rows.append(_Row(c.id, group, keys, c))
    for i in reversed(range(len(by))):
        # Stable sorts from the last key to the first; a missing tie-break value
        # comes after every present one, in either order.
        present = [r for r in rows if r.keys[i] is not None]
        absent = [r for r in rows if r.keys[i] is None]
        present.sort(key=lambda r: r.keys[i], reverse=by[i].descending)  # type: ignore[arg-type,return-value]
        rows = present + absent
    return rows


def _numbered(rank: Rank, rows: list[_Row]) -> Iterable[tuple[_Row, int]]:
    """Each row with its place in its group, as `ties` says."""
    unique, dense = rank.ties == "unique", rank.ties == "dense"
    counters: dict[Any, list] = {}  # group → [rows so far, last keys, last place, distinct]
    for row in rows:
        counter = counters.get(row.group)
        if counter is None:
            counter = counters[row.group] = [0, None, 0, 0]
        counter[0] += 1
        if unique or row.keys != counter[1]:
            counter[1], counter[2] = row.keys, counter[0]
            counter[3] += 1
        yield row, counter[3] if dense else counter[2]


def _rank_one(rank: Rank, candidates: Sequence[Candidate]) -> tuple[dict[str, tuple[Tag, ...]], Leaderboard]:
    rows = _sorted_rows(rank, candidates)
    values: dict[int, Setting] = {}  # one Setting per place, shared by its items
    yes = Setting(("true",) if rank.text else (True,), rank.source)
    no = _deleted(rank)
    ranked: dict[str, tuple[Tag, ...]] = {}
    shown: dict[Any, list[tuple[int, str, tuple[str, ...]]]] = {}
    sizes: dict[Any, int] = {}
    for row, place in _numbered(rank, rows):
        tags: list[Tag] = []
        if rank.into is not None:
            setting = values.get(place)
            if setting is None:
                setting = values[place] = Setting((str(place),) if rank.text else (place,), rank.source)
            tags.append((rank.into, setting))
        if rank.top is not None:
            tags.append((rank.top, yes if place <= rank.top_count else no))
        ranked[row.id] = tuple(tags)
        size = sizes[row.group] = sizes.get(row.group, 0) + 1
        if size <= BOARD_ROWS:
            shown.setdefault(row.group, []).append(
                (place, row.id, tuple(_shown(_read(k, row.candidate)) for k in rank.by)))
    return ranked, _board(rank, rows, shown, sizes)


def _board(rank: Rank, rows: list[_Row], shown: dict[Any, list], sizes: dict[Any, int]) -> Leaderboard:
    labels = {row.group: row.candidate for row in rows if row.group in shown}
    groups = sorted(shown, key=lambda g: (g is not None, g))[:BOARD_GROUPS]
    per = rank.per
    return Leaderboard(
        rule=rank.name,
        source=rank.source,
        columns=tuple(f"{k} ({'desc' if k.descending else 'asc'})" for k in rank.by),
        groups=tuple(
            BoardGroup(
                None if per is None else f"{per} {_shown(_read(per, labels[g]))}",
                tuple(shown[g]), sizes[g],
            )
            for g in groups
        ),
        hidden_groups=max(0, len(shown) - BOARD_GROUPS),
    )


def _shown(value: TagValue | Scalar | None) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, tuple):
        return ", ".join(format_scalar(v) for v in value)
    return format_scalar(value)
