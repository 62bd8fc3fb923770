"""Ranks: leaderboard positions computed over a whole queue (docs/spec.md,
"Ranks").

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

import re
from datetime import datetime
from typing import Any, NamedTuple
from collections.abc import Callable, Iterable, Mapping, Sequence

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


class Ranked:
    """What a queue's ranks decided: per item, the value (or deletion) of every tag the
    ranks own; and one leaderboard preview per rank."""

    def __init__(
        self, decided: list[tuple[dict[str, tuple[Tag, ...]], tuple[Tag, ...]]], boards: tuple[Leaderboard, ...]
    ) -> None:
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
    orders as a number, so "10" comes after "9". Types tested exactly (bool is an int),
    most common first: this runs once per key per item."""
    if type(value) is tuple:
        if len(value) != 1:
            return None
        value = value[0]
    kind = type(value)
    if kind is float:
        return None if value != value else (_NUMBER, value)  # NaN is no value
    if kind is int:
        return (_NUMBER, value)
    if kind is str:
        if text and _NUMBER_TEXT.fullmatch(value):  # type: ignore[arg-type]
            return (_NUMBER, float(value))  # type: ignore[arg-type]
        return (_TEXT, value)
    if kind is datetime:
        return (_TIME, timestamp_ms(value))  # type: ignore[arg-type]
    if kind is bool:
        return (_BOOL, value)
    return None


def rank_queue(
    ranks: Sequence[Rank], candidates: Sequence[Candidate], order: Callable[[str], Any], now: datetime | None = None
) -> Ranked:
    """Every rank of a queue over its items' desired states; `order` is the service's
    natural id order (the last resort among ties); `now` the plan's clock (conditions
    such as `{lt: now-7d}` in a rank's `where`)."""
    by_id = sorted(candidates, key=lambda c: order(c.id))
    decided = []
    boards = []
    for rank in ranks:
        ranked, board = _rank_one(rank, by_id, now)
        decided.append((ranked, tuple((key, _deleted(rank)) for key in rank.outputs)))
        boards.append(board)
    return Ranked(decided, tuple(boards))


def positions(
    rank: Rank, candidates: Iterable[Candidate], order: Callable[[str], Any], now: datetime | None = None
) -> dict[str, int]:
    """Item id → its place under `rank` (what `into` receives): for tests and docs."""
    rows = _sorted_rows(rank, sorted(candidates, key=lambda c: order(c.id)), now)
    return {row[_CANDIDATE].id: place for row, place in _numbered(rank, rows)}


# ------------------------------------------------------------------ internals
def _deleted(rank: Rank) -> Setting:
    return Setting(None, rank.source)


def _read(key: RankKey, c: Candidate) -> TagValue | Scalar | None:
    return c.fields.get(key.name) if key.item else c.tags.get(key.name)


# A ranked row: (sort values of the `by` keys, group sort value, candidate); plain
# tuples, since one is built per ranked item.
_Row = tuple
_KEYS, _GROUP, _CANDIDATE = 0, 1, 2


def _sorted_rows(rank: Rank, candidates: Sequence[Candidate], now: datetime | None) -> list[_Row]:
    """The items `rank` ranks, best first (groups interleaved); `candidates` in id order."""
    matches = where_test(rank.where, now)
    text, by, per = rank.text, rank.by, rank.per
    rows: list[_Row] = []
    first_name, first_item = by[0].name, by[0].item
    rest = [(k.name, k.item) for k in by[1:]]
    for c in candidates:
        tags = c.tags
        if not matches(c, c.status, c.locked, tags):
            continue
        group = None
        if per is not None:
            group = sort_value(_read(per, c), text)
            if group is None:
                continue  # no group to rank it in
        first = sort_value((c.fields if first_item else tags).get(first_name), text)
        if first is not None:
            keys = (first, *[sort_value((c.fields if item else tags).get(name), text) for name, item in rest])
            rows.append((keys, group, c))
    for i in reversed(range(len(by))):
        # Stable sorts from the last key to the first; a missing tie-break value
        # comes after every present one, in either order.
        if i:
            present = [r for r in rows if r[_KEYS][i] is not None]
            absent = [r for r in rows if r[_KEYS][i] is None]
        else:
            present, absent = rows, []
        present.sort(key=lambda r: r[_KEYS][i], reverse=by[i].descending)
        rows = present + absent if absent else present
    return rows


def _numbered(rank: Rank, rows: list[_Row]) -> Iterable[tuple[_Row, int]]:
    """Each row with its place in its group, as `ties` says."""
    unique, dense = rank.ties == "unique", rank.ties == "dense"
    counters: dict[Any, list] = {}  # group → [rows so far, last keys, last place, distinct]
    for row in rows:
        group = row[_GROUP]
        counter = counters.get(group)
        if counter is None:
            counter = counters[group] = [0, None, 0, 0]
        counter[0] += 1
        keys = row[_KEYS]
        if unique or keys != counter[1]:
            counter[1], counter[2] = keys, counter[0]
            counter[3] += 1
        yield row, counter[3] if dense else counter[2]


def _rank_one(
    rank: Rank, candidates: Sequence[Candidate], now: datetime | None
) -> tuple[dict[str, tuple[Tag, ...]], Leaderboard]:
    rows = _sorted_rows(rank, candidates, now)
    per_place: dict[int, tuple[Tag, ...]] = {}  # the tags of a place, shared by its items
    ranked: dict[str, tuple[Tag, ...]] = {}
    shown: dict[Any, list[tuple[int, str, tuple[str, ...]]]] = {}
    labels: dict[Any, Candidate] = {}  # group → an item of it, to name the group
    sizes: dict[Any, int] = {}
    for row, place in _numbered(rank, rows):
        tags = per_place.get(place)
        if tags is None:
            tags = per_place[place] = _place_tags(rank, place)
        c = row[_CANDIDATE]
        ranked[c.id] = tags
        group = row[_GROUP]
        size = sizes[group] = sizes.get(group, 0) + 1
        if size <= BOARD_ROWS:
            labels.setdefault(group, c)
            shown.setdefault(group, []).append((place, c.id, tuple(_shown(_read(k, c)) for k in rank.by)))
    return ranked, _board(rank, labels, shown, sizes)


def _place_tags(rank: Rank, place: int) -> tuple[Tag, ...]:
    tags: list[Tag] = []
    if rank.into is not None:
        tags.append((rank.into, Setting((str(place),) if rank.text else (place,), rank.source)))
    if rank.top is not None:
        top = ("true",) if rank.text else (True,)
        tags.append((rank.top, Setting(top if place <= rank.top_count else None, rank.source)))
    return tuple(tags)


def _board(rank: Rank, labels: dict[Any, Candidate], shown: dict[Any, list], sizes: dict[Any, int]) -> Leaderboard:
    groups = sorted(shown, key=lambda g: (g is not None, g))[:BOARD_GROUPS]
    per = rank.per
    return Leaderboard(
        rule=rank.name,
        source=rank.source,
        columns=tuple(f"{k} ({'desc' if k.descending else 'asc'})" for k in rank.by),
        groups=tuple(
            BoardGroup(
                None if per is None else f"{per} {_shown(_read(per, labels[g]))}",
                tuple(shown[g]),
                sizes[g],
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
