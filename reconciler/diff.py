"""Desired × live item → the smallest change, and a whole queue → its plan (docs/semantics.md).

A change lists only the fields that really differ, compared typed (`model.tag_value_key`), so
an item that already matches never appears and `apply` never writes twice. Locks are
judged here because only the diff knows whether a change touches more than the lock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, overload
from collections.abc import Callable, Iterable, Mapping, Sequence

from .errors import UserError
from .model import (
    Change,
    FieldChange,
    Item,
    QueuePlan,
    QueueSpec,
    Setting,
    Source,
    StatusRules,
    TagValue,
    tag_field,
    tag_value_key,
)
from .notes import SpecWarning
from .ranks import Candidate, Ranked, rank_queue
from .resolve import CompiledQueue, Settled


# Spec mode's conflict handler: a fresh copy of a conflicting item → its new change
# (None: it already matches the spec).
Rediff = Callable[[Item], "Change | None"]
ANY_STATUS = StatusRules()


def rediff(
    queue: QueueSpec,
    item: Item,
    rules: StatusRules = ANY_STATUS,
    replace: frozenset[str] = frozenset(),
    now: datetime | None = None,
    ranked: Ranked | None = None,
) -> Change | None:
    """Resolve and diff one freshly read item (apply, after a conflict), on the plan's
    clock `now`: relative times mean what they meant when the plan was made. Ranks need
    the whole queue: the item keeps the places `ranked` gave it when the plan was made."""
    settled = CompiledQueue(queue, now).settle(item)
    if ranked is not None:
        settled = with_ranks(queue, item.id, settled, ranked)
    change = None if settled is None else _diff(item, *settled, _SharedFieldChanges(), rules, {})
    return replaced(change, replace, queue)


@overload
def replaced(change: Change, replace: frozenset[str], queue: QueueSpec | None = None) -> Change: ...
@overload
def replaced(change: None, replace: frozenset[str], queue: QueueSpec | None = None) -> None: ...
@overload
def replaced(change: Change | None, replace: frozenset[str], queue: QueueSpec | None = None) -> Change | None: ...
def replaced(change: Change | None, replace: frozenset[str], queue: QueueSpec | None = None) -> Change | None:
    """`--replace ID`, or `replace: true` in the item's entry of `queue`: a change the
    lock blocks becomes one that unlocks, changes and relocks the item in one write
    (`relock`), for the ids named only: correcting a locked result is one deliberate,
    visible step instead of two reviewed applies. A change the service itself refuses
    stays blocked: no flag can make it possible."""
    if change is None or not change.blocked or change.refused is not None:
        return change
    if change.item_id not in replace:
        entry = queue.submissions.get(change.item_id) if queue is not None else None
        if entry is None or not entry.replace:
            return change
    return dataclasses.replace(change, blocked=False, relock=True, drift=False)


def plan_queue(
    queue: QueueSpec,
    items: Sequence[Item],
    only: frozenset[str] | None = None,
    rules: StatusRules = ANY_STATUS,
    now: datetime | None = None,
) -> QueuePlan:
    """Every item's change, in id order whatever order the provider listed them in.

    `only` restricts which items may change; `items_seen` still counts every listed item
    because the safety percentage is about the whole queue. `rules` are the service's
    (Capabilities.status): which statuses settle on their own, which it refuses.
    """
    differ = QueueDiffer(queue, only, rules, now=now)
    differ.add(items)
    return differ.plan()


class QueueDiffer:
    """plan_queue a page at a time: the planner diffs each page while the service is
    still working on the next, instead of all of them after the last one arrives."""

    def __init__(
        self,
        queue: QueueSpec,
        only: frozenset[str] | None = None,
        rules: StatusRules = ANY_STATUS,
        replace: frozenset[str] = frozenset(),
        order: Callable[[str], Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        self._queue = queue
        self._order = order or item_order
        self._only = only
        self._rules = rules
        self._replace = replace
        self._settle = CompiledQueue(queue, now).settle
        self._now = now
        # With ranks, every item waits for the end of the listing (ranks.py)
        self._held: list[tuple[Item, Settled | None]] | None = [] if queue.ranks else None
        self.ranked: Ranked | None = None
        self._shared = _SharedFieldChanges()
        self._changes: list[Change] = []
        self._seen: set[str] = set()
        # status settings whose items ended otherwise: setting -> [(item id, live status)]
        self._ended: dict[int, tuple[Setting, list[tuple[str, str]]]] = {}

    def add(self, items: Iterable[Item]) -> None:
        seen, only, settle = self._seen, self._only, self._settle
        for item in items:
            if item.id in seen:
                # Two records for one item would become two writes racing on one etag.
                raise UserError(f"queue {self._queue.id}: the service listed item {item.id} twice; plan again")
            seen.add(item.id)
            if self._held is not None:
                self._held.append((item, settle(item)))
                continue
            if only is not None and item.id not in only:
                continue
            settled = settle(item)
            if settled is not None:
                self._record(item, settled)

    def plan(self) -> QueuePlan:
        if self._held is not None and self.ranked is None:
            self._rank()
        order = self._order
        changes = sorted(self._changes, key=lambda c: order(c.item_id))
        return QueuePlan(
            self._queue.id,
            len(self._seen),
            tuple(changes),
            self._queue.safety,
            self._queue.lock_key,
            self._queue.managed_tags,
            self.ranked.boards if self.ranked else (),
        )

    def _rank(self) -> None:
        """The held items ranked over their desired states, then diffed."""
        held, queue, only = self._held or [], self._queue, self._only
        self.ranked = ranked = rank_queue(
            queue.ranks, [_candidate(item, settled) for item, settled in held], self._order, self._now
        )
        for item, settled in held:
            if only is not None and item.id not in only:
                continue
            settled = with_ranks(queue, item.id, settled, ranked)
            if settled is not None:
                self._record(item, settled)

    def _record(self, item: Item, settled: Settled) -> None:
        change = _diff(item, *settled, self._shared, self._rules, self._ended)
        if change is not None:
            self._changes.append(replaced(change, self._replace, self._queue) if change.blocked else change)

    def ended(self) -> list[EndedOtherwise]:
        """Each status setting some items can no longer reach (StatusRules.ends), with
        those items: settled otherwise, for a note (or a failure under --strict)."""
        return [
            EndedOtherwise(
                self._queue.id, setting.value, setting.source, tuple(sorted(found, key=lambda f: item_order(f[0])))
            )
            for setting, found in self._ended.values()
        ]

    def listed(self, item_id: str) -> bool:
        """Whether the service listed this item: an `--only` id that no queue lists is
        a typo the CLI reports rather than planning nothing."""
        return item_id in self._seen

    def missing_ids(self) -> list[str]:
        """Explicit entries naming none of the items added: never invented, reported so
        the CLI warns."""
        live = self._seen
        return sorted((i for i in self._queue.submissions if i not in live), key=self._order)


def _candidate(item: Item, settled: Settled | None) -> Candidate:
    """The item as rules and entries leave it: what ranks rank."""
    if settled is None:
        return Candidate(item.id, item.status, item.locked, item.tags, item.fields)
    status, locked, tags = settled
    desired = dict(item.tags)
    for key, setting in tags.items():
        if setting.value is None:
            desired.pop(key, None)
        else:
            desired[key] = setting.value
    return Candidate(
        item.id,
        item.status if status is None else status.value,
        item.locked if locked is None else locked.value,
        desired,
        item.fields,
    )


def with_ranks(queue: QueueSpec, item_id: str, settled: Settled | None, ranked: Ranked) -> Settled | None:
    """`settled` plus the tags the ranks own; an explicit entry's own value of such a
    tag wins, as it wins over any rule."""
    owned = ranked.tags(item_id)
    if not owned:
        return settled
    entry = queue.submissions.get(item_id)
    status, locked, tags = settled if settled is not None else (None, None, {})
    tags = dict(tags)
    for key, setting in owned:
        if entry is None or key not in entry.tags:
            tags[key] = setting
    return status, locked, tags


@dataclass(frozen=True)
class EndedOtherwise:
    """A status setting (an entry's or a rule's) that items can no longer reach: they
    ended in another state on their own. Shown once as a note naming the rule form that
    avoids it; a failure only under --strict."""

    queue_id: str
    desired: str
    source: Source
    items: tuple[tuple[str, str], ...]  # (item id, the end state it is in)

    def note(self, rules: StatusRules) -> SpecWarning:
        shown = ", ".join(f"{i} is {s}" for i, s in self.items[:5]) + (" …" if len(self.items) > 5 else "")
        allowed = ", ".join(sorted(rules.allowed_from.get(self.desired, ())))
        avoid = (
            (
                f"; to ask only for what can still happen, set status {self.desired} in a rule "
                f"matching `where: {{status: [{allowed}]}}`"
            )
            if allowed
            else ""
        )
        many = f"{len(self.items)} items" if len(self.items) > 1 else "item"
        return SpecWarning(
            f"queue {self.queue_id}: settled otherwise, {many} in an end state that can no longer "
            f"become {self.desired} ({shown}); nothing to write{avoid}",
            self.source.file,
            self.source.line,
        )


def item_order(item_id: str) -> tuple[int, int, str, str]:
    """Numeric ids in numeric order, then every other id in string order.

    Compares digit strings by length then text instead of `int()`, which refuses ids
    longer than 4,300 digits, and ids come from the service: untrusted.
    """
    if item_id.isascii() and item_id.isdigit():
        digits = item_id.lstrip("0")
        return (0, len(digits), digits, item_id)
    return (1, 0, item_id, "")


class _SharedFieldChanges:
    """One FieldChange per distinct edit, shared by every change that makes it.

    A bulk plan makes the same few edits to thousands of items (status VALIDATED →
    ACCEPTED by one rule, tag `stage` added by another), and building each frozen
    FieldChange cost about as much as the rest of the diff. FieldChange is immutable, so
    sharing is invisible. Keys hold id(setting): every Setting lives in the queue spec for as long
    as this object is used. Only edits whose `before` is a status or an absent tag are
    shared: typed-equal tag values can still differ as objects (a timestamp's zone),
    and each change must show its own item's live value. A setting whose source names
    no rule (an explicit entry's, a table row's) is one item's: nothing to share, so
    no memo (a plan of 100,000 entries made 200,000 keys for nothing).
    """

    def __init__(self) -> None:
        self._status: dict[tuple[int, str], FieldChange] = {}
        self._added: dict[tuple[str, int], FieldChange] = {}
        self._fields: dict[str, str] = {}  # tag key -> its field name, one string for all

    def status(self, before: str, setting: Setting) -> FieldChange:
        if setting.source.rule is None:  # an entry's, or a row's: one item's, nothing to share
            return FieldChange("status", before, setting.value, setting.source)
        key = (id(setting), before)
        shared = self._status.get(key)
        if shared is None:
            shared = self._status[key] = FieldChange("status", before, setting.value, setting.source)
        return shared

    def added_tag(self, key: str, setting: Setting) -> FieldChange:
        """The change that adds tag `key`, absent from the live item, as `setting` says."""
        if setting.source.rule is None:
            return FieldChange(self.tag_field(key), None, setting.value, setting.source)
        memo = (key, id(setting))
        shared = self._added.get(memo)
        if shared is None:
            shared = self._added[memo] = FieldChange(self.tag_field(key), None, setting.value, setting.source)
        return shared

    def tag_field(self, key: str) -> str:
        """model.tag_field, one string per key for a whole queue's changes."""
        field = self._fields.get(key)
        if field is None:
            field = self._fields[key] = tag_field(key)
        return field


def _diff(
    item: Item,
    status: Setting | None,
    locked: Setting | None,
    tags: Mapping[str, Setting],
    shared: _SharedFieldChanges,
    rules: StatusRules,
    ended: dict[int, tuple[Setting, list[tuple[str, str]]]],
) -> Change | None:
    fields: list[FieldChange] = []
    refused = None
    if status is not None and status.value != item.status and not rules.settled(item.status, status.value):
        if rules.ended(item.status, status.value):
            ended.setdefault(id(status), (status, []))[1].append((item.id, item.status))
        else:
            fields.append(shared.status(item.status, status))
            refused = rules.refusal(item.status, status.value)
    if tags:
        live = item.tags
        for key in sorted(tags):
            setting = tags[key]
            before, after = live.get(key), setting.value
            # Typed comparison (tag_value_key), skipped when identity or absence decides it.
            if before is after:
                continue
            if before is None:
                fields.append(shared.added_tag(key, setting))
            elif after is None or _plainly_different(before, after) or tag_value_key(before) != tag_value_key(after):
                fields.append(FieldChange(shared.tag_field(key), before, after, setting.source))
    lock: Literal["lock", "unlock"] | None = None
    if locked is not None and locked.value != item.locked:
        fields.append(FieldChange("locked", item.locked, locked.value, locked.source))
        lock = "lock" if locked.value else "unlock"
    if not fields:
        return None
    # A frozen item may only change together with its own unlock (docs/semantics.md, "Locks");
    # a change the service refuses from the item's state fails the plan the same way.
    frozen = bool(item.locked) and lock is None
    blocked = frozen or refused is not None
    drift = frozen and refused is None and _drifted(locked, fields)
    return Change(item.id, item.etag, tuple(fields), item.base, lock, blocked, refused, drift=drift)


_PLAIN = frozenset((str, int, float, bool))


def _plainly_different(before: TagValue, after: TagValue) -> bool:
    """Whether two one-value tags differ, told without their typed keys for the usual
    case (a changed score): values of one plain type that are unequal and each equal
    to itself (not NaN) have different keys too; for anything else (0.0 and -0.0,
    timestamps, lists) False, and tag_value_key decides."""
    if len(before) != 1 or len(after) != 1:
        return False
    b, a = before[0], after[0]
    return type(b) is type(a) and type(b) in _PLAIN and b != a and b == b and a == a  # b == b: not NaN


def _drifted(locked: Setting | None, fields: Sequence[FieldChange]) -> bool:
    """Whether a change to a locked item is drift rather than blocked: the place that
    says the item is locked (its entry, or one rule) also says every value that differs,
    so the spec states what the frozen item holds and the live value moved away from it.
    A value from elsewhere (a rule changing an item an entry froze, an entry changing an
    item a rule froze) is a spec asking to change a locked item: blocked. reconciler
    keeps no history, so an edit of the very entry that locks the item reads as drift
    too; the remedy is the same (`replace: true`). Explicit entries carry no rule name,
    and an item has at most one entry."""
    if locked is None or locked.value is not True:
        return False
    place = locked.source.rule
    return all(f.source is not None and f.source.rule == place for f in fields)


def diff_fields(
    item: Item,
    status: Setting | None,
    locked: Setting | None,
    tags: Mapping[str, Setting],
    rules: StatusRules = ANY_STATUS,
) -> Change | None:
    """One item's change towards explicit settings, judged exactly as a plan's (locks,
    refusals): for `revert`, whose desired values come from a journal entry, not a spec."""
    return _diff(item, status, locked, tags, _SharedFieldChanges(), rules, {})
