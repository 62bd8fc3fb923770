"""One guarded write for every service without etags (the compare guard, docs/semantics.md).

Workflow Results, datamaker, Supervisely and HealthOmics cannot refuse a stale write,
so reconciler re-reads the items right before writing and writes only those still as
planned. This module is that write, once: the re-read, the guard, the calls a change
needs (each carrying one item or many), the lost-answer rule, the optional read-back and
the in-flight cap. A provider (a `GuardedService`) only says how to re-read items and
which calls a change needs, so each event has one outcome and one text on every service:

- the guard's re-read fails: nothing is sent; the items are not named (the engine
  reports them skipped) and the run stops with REREAD_FAILED's words;
- an item changed since the plan: stale (the engine's words), or unchanged when it
  already holds the planned values;
- a change landed in part: failed, saying what was written, what was not and why, and
  what was not attempted (`landing`);
- an ambiguous answer (none at all, a 5xx): the items are re-read and only those the
  call has not reached are sent again, at most LOST_ANSWER_RESENDS times; an item that
  another writer changed meanwhile is stale;
- after the write (services whose answers say nothing, or whose writes replace whole
  documents) the items are read back: applied only if they hold every planned value;
  erased by another writer: `WriteResult.overwritten` (reported stale with what changed);
  a read-back that fails: failed, "not confirmed".
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal
from collections.abc import Callable, Mapping, Sequence

from ..model import Change, Item, QueueSpec, format_tag_value, same_tag_value, tag_field, tag_key_of
from .base import ProviderError, WriteResult, compare_guard, matches_after

LOST_ANSWER_RESENDS = 2  # re-sends of a call whose answer was lost, each after a re-read
RESEND_WAIT_CAP = 30.0  # seconds, the longest wait before a re-send

REREAD_FAILED = "re-reading the items before writing failed, nothing written: {exc}"
UNCONFIRMED = "written, but not confirmed: reading it back failed ({exc}); run plan again to see"
GONE_AFTER = "written, then no longer found when read back (deleted by someone else meanwhile)"
UNSETTLED = "{reason}; it may or may not have been written (re-reading it failed: {exc}); run plan again"
NEVER_LANDED = "{reason} on each of {attempts} attempts (re-read after each: it had not landed)"
DECLINED = "{reason}; run plan again"


@dataclass(frozen=True)
class Fresh:
    """An item as re-read, and the service's own object where a call is built from it
    (a whole document to send back, a task's meta): `raw` is never shown."""

    item: Item
    raw: Any = None


@dataclass(frozen=True)
class Answer:
    """What one call's answer says. ok: written. lost: no answer or a 5xx, so it may
    have landed (re-read, re-send what has not). declined: the service said it did not
    write (re-read, never re-sent). refused: not written; `fatal` stops the run (the
    token refused, the service gone), `named` gives some items their own reason."""

    kind: Literal["ok", "lost", "declined", "refused"]
    reason: str = ""
    fatal: bool = False
    named: Mapping[str, str] = field(default_factory=dict)


OK = Answer("ok")


@dataclass
class Call:
    """One call a change needs, carrying one item or many (`ids`). `send` gets the ids
    still to write and their fresh copies (a whole-document service builds its body
    from them); `landed` says from a fresh copy whether this call's change is there
    (True), not yet (False) or never can be (a reason)."""

    ids: list[str]
    what: str  # how the item's failure text names this call: "status", "tags -held"
    send: Callable[[Sequence[str], Mapping[str, Fresh]], Answer]
    landed: Callable[[str, Fresh], bool | str]


@dataclass
class Calls:
    """The calls a provider needs for the changes the guard let through, in the order
    each item's calls must be sent, and the items it cannot write at all (why)."""

    calls: list[Call] = field(default_factory=list)
    unwritable: dict[str, str] = field(default_factory=dict)


class GuardedService(ABC):
    """What a provider without etags supplies to `guarded_write`."""

    max_in_flight: int = 1  # calls sent at once
    reads_back: bool = False  # confirm every write by reading the items back
    resend_wait: float = 1.0  # seconds before the first re-send, doubled each time
    # why a write answered as done can leave planned values as they were (read-back)
    kept_why: str = "the service kept them"

    @abstractmethod
    def guard_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> Mapping[str, Fresh | str]:
        """The changes' items as stored now (absent: gone; a str: why this one cannot
        be written, such as a malformed object). Raises ProviderError."""

    def confirm_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> Mapping[str, Fresh | str]:
        """The read-back (`reads_back`); default: `guard_reread`. A service that can
        read the managed fields alone reads only those."""
        return self.guard_reread(queue, changes)

    @abstractmethod
    def guard_calls(self, queue: QueueSpec, pairs: Sequence[tuple[Change, Fresh]]) -> Calls:
        """The calls that make each change on its fresh copy; a change needing none is
        unchanged."""


def landing(done: Sequence[str], what: str | None, reason: str, rest: Sequence[str]) -> str:
    """One text for a change that did not land whole: what was written, what was not
    and why, what was not attempted."""
    if what is None:
        text = f"{' and '.join(rest)} not attempted: {reason}"
    else:
        text = f"{what} not written: {reason}"
        if rest:
            text += f" ({' and '.join(rest)} not attempted)"
    return f"{' and '.join(done)} written; {text}" if done else text


def guarded_write(service: GuardedService, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
    """Re-read, guard, send each change's calls, settle lost answers, read back."""
    result = WriteResult()
    if not changes:
        return result
    try:
        fresh = service.guard_reread(queue, changes)
    except ProviderError as exc:
        result.error = REREAD_FAILED.format(exc=exc)
        return result
    usable: dict[str, Fresh] = {}
    for change in changes:
        copy = fresh.get(change.item_id)
        if isinstance(copy, str):
            result.failed[change.item_id] = f"not written: {copy}"
        elif copy is not None:
            usable[change.item_id] = copy
    judged = [c for c in changes if c.item_id not in result.failed]
    to_write, guarded = compare_guard(judged, {i: f.item for i, f in usable.items()})
    result.absorb(guarded)
    planned = service.guard_calls(queue, [(c, usable[c.item_id]) for c, _ in to_write])
    for item_id, reason in planned.unwritable.items():
        result.failed[item_id] = f"not written: {reason}"
    run = _Run(service, queue, {c.item_id: c for c, _ in to_write if c.item_id not in result.failed}, usable, result)
    run.send_all(planned.calls)
    run.finish()
    return result


class _Run:
    """One guarded write's bookkeeping, item by item."""

    def __init__(
        self,
        service: GuardedService,
        queue: QueueSpec,
        changes: dict[str, Change],
        fresh: dict[str, Fresh],
        result: WriteResult,
    ) -> None:
        self.service, self.queue, self.changes, self.fresh, self.result = service, queue, changes, fresh, result
        self.calls: dict[str, list[str]] = {i: [] for i in changes}  # item -> what of each call
        self.done: dict[str, list[str]] = {i: [] for i in changes}  # item -> what landed
        self.settled: set[str] = set()  # failed, stale or unchanged on the way
        self.confirmed: set[str] = set()  # last call seen landed by a re-read: no read-back needed
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def send_all(self, calls: Sequence[Call]) -> None:
        """Calls that share an item are sent one after another, in order (an item's
        calls land in the order given); calls of unrelated items go out together, at
        most `max_in_flight` at once."""
        calls = [c for c in calls if c.ids]
        parent = list(range(len(calls)))

        def root(n: int) -> int:
            while parent[n] != n:
                parent[n] = parent[parent[n]]
                n = parent[n]
            return n

        last: dict[str, int] = {}
        for n, call in enumerate(calls):
            call.ids = [i for i in call.ids if i in self.changes]
            for item_id in call.ids:
                if item_id in last:
                    parent[root(n)] = root(last[item_id])
                last[item_id] = n
                self.calls[item_id].append(call.what)
        grouped: dict[int, list[Call]] = {}
        for n, call in enumerate(calls):
            if call.ids:
                grouped.setdefault(root(n), []).append(call)
        chains = list(grouped.values())
        if self.service.max_in_flight > 1 and len(chains) > 1:
            workers = min(self.service.max_in_flight, len(chains))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="guarded-write") as pool:
                list(pool.map(self.send_chain, chains))
        else:
            for chain in chains:
                self.send_chain(chain)

    def send_chain(self, chain: Sequence[Call]) -> None:
        for call in chain:
            if self.stop.is_set():
                return
            self.send(call)

    def send(self, call: Call) -> None:
        """One call: sent, and after an ambiguous answer settled by a re-read."""
        pending = [i for i in call.ids if i not in self.settled]
        if self.stop.is_set() or not pending:
            return
        answer = OK
        for attempt in range(LOST_ANSWER_RESENDS + 1):
            if attempt:
                time.sleep(min(self.service.resend_wait * 2 ** (attempt - 1), RESEND_WAIT_CAP))
            answer = call.send(pending, {i: self.fresh[i] for i in pending})
            if answer.kind == "ok":
                self.landed(call, pending)
                return
            if answer.kind == "refused":
                for item_id in pending:
                    self.fail(item_id, call.what, answer.named.get(item_id, answer.reason))
                if answer.fatal:
                    self.halt(answer.reason)
                return
            pending = self.settle(call, pending, answer)
            if not pending:
                return
            if answer.kind == "declined":
                for item_id in pending:
                    self.fail(item_id, call.what, DECLINED.format(reason=answer.reason))
                return
        reason = NEVER_LANDED.format(reason=answer.reason, attempts=LOST_ANSWER_RESENDS + 1)
        for item_id in pending:
            self.fail(item_id, call.what, reason)
        self.halt(reason)

    def settle(self, call: Call, pending: list[str], answer: Answer) -> list[str]:
        """After an ambiguous answer: what is stored decides. Landed: done. Changed by
        another writer before this item's first call landed: stale (or unchanged), as
        the guard says. Else still to send (from the copy just read)."""
        try:
            now = self.service.guard_reread(self.queue, [self.changes[i] for i in pending])
        except ProviderError as exc:
            for item_id in pending:
                self.fail(item_id, call.what, UNSETTLED.format(reason=answer.reason, exc=exc))
            self.halt(answer.reason)
            return []
        still: list[str] = []
        reached: list[str] = []
        for item_id in pending:
            copy = now.get(item_id)
            if copy is None or isinstance(copy, str):
                self.fail(item_id, call.what, copy or "the item no longer exists")
                continue
            verdict = call.landed(item_id, copy)
            change = self.changes[item_id]
            if verdict is True:
                reached.append(item_id)
            elif isinstance(verdict, str):
                self.fail(item_id, call.what, verdict)
            elif not self.done[item_id] and copy.item.etag != change.etag:
                with self.lock:
                    self.settled.add(item_id)
                    if matches_after(change, copy.item):
                        self.result.unchanged.append(item_id)
                    else:
                        self.result.stale[item_id] = copy.item
            else:
                self.fresh[item_id] = copy
                still.append(item_id)
        self.landed(call, reached, seen=True)
        return still

    def landed(self, call: Call, ids: Sequence[str], *, seen: bool = False) -> None:
        with self.lock:
            for item_id in ids:
                self.done[item_id].append(call.what)
                if seen and len(self.done[item_id]) == len(self.calls[item_id]):
                    self.confirmed.add(item_id)

    def fail(self, item_id: str, what: str, reason: str) -> None:
        with self.lock:
            done = self.done[item_id]
            rest = self.calls[item_id][len(done) + 1 :]
            single = len(self.calls[item_id]) == 1
            self.result.failed[item_id] = f"not written: {reason}" if single else landing(done, what, reason, rest)
            self.settled.add(item_id)

    def halt(self, reason: str) -> None:
        with self.lock:
            self.result.error = self.result.error or reason
        self.stop.set()

    def finish(self) -> None:
        """Name every item: no call needed (unchanged), stopped part-way (failed), all
        calls landed (applied, or judged by the read-back); an item none of whose calls
        was sent stays unnamed (skipped)."""
        answered: list[str] = []
        for item_id, whats in self.calls.items():
            if item_id in self.settled:
                continue
            done = self.done[item_id]
            if not whats:
                self.result.unchanged.append(item_id)
            elif len(done) == len(whats):
                answered.append(item_id)
            elif done:
                self.result.failed[item_id] = landing(
                    done, None, f"the run stopped ({self.result.error})", whats[len(done) :]
                )
        if not self.service.reads_back:
            self.result.applied += answered
            return
        self.result.applied += [i for i in answered if i in self.confirmed]
        unconfirmed = [i for i in answered if i not in self.confirmed]
        if unconfirmed:
            self.read_back(unconfirmed)

    def read_back(self, ids: list[str]) -> None:
        try:
            back = self.service.confirm_reread(self.queue, [self.changes[i] for i in ids])
        except ProviderError as exc:
            for item_id in ids:
                self.result.failed[item_id] = UNCONFIRMED.format(exc=exc)
            return
        for item_id in ids:
            change, now = self.changes[item_id], back.get(item_id)
            if now is None:
                self.result.failed[item_id] = GONE_AFTER
            elif isinstance(now, str):
                self.result.failed[item_id] = f"written, but {now} when read back"
            elif matches_after(change, now.item):
                self.result.applied.append(item_id)
            else:
                verdict, detail = judge_read_back(change, self.fresh[item_id].item, now.item, self.service.kept_why)
                if verdict == "overwritten":
                    self.result.overwritten[item_id] = detail
                else:
                    self.result.failed[item_id] = detail


def judge_read_back(change: Change, before: Item, now: Item, kept_why: str) -> tuple[str, str]:
    """Why an item read back after its write was answered does not hold the change:
    ("not taken", the fields the service left as they were) when only planned fields
    differ and each still holds its value from before the write (a deep merge keeping
    a removed key, a write the service ignored); else ("overwritten", what changed)
    when another writer wrote the item between our write and the read-back."""
    wanted = _managed(before)
    for f in change.fields:
        wanted[f.field] = f.after
    got, was = _managed(now), _managed(before)
    differ = sorted(k for k in wanted.keys() | got.keys() if not _same(wanted.get(k), got.get(k)))
    planned = {f.field for f in change.fields}
    changes = "; ".join(f"{_label(k)}: {_shown(k, wanted.get(k))} → {_shown(k, got.get(k))}" for k in differ)
    if all(k in planned and _same(got.get(k), was.get(k)) for k in differ):
        landed = sorted({_part(f.field) for f in change.fields} - {_part(k) for k in differ})
        prefix = f"{' and '.join(landed)} written; " if landed else ""
        return "not taken", (
            f"{prefix}not applied: the write was answered as done but the item read back still "
            f"holds its old values (written → read back: {changes}); {kept_why}"
        )
    return "overwritten", (
        f"written, then changed by another writer before it was read back (written → read "
        f"back: {changes}); not applied: run again to converge"
    )


def _managed(item: Item) -> dict[str, Any]:
    """The managed fields as change field names: status, locked, tags.KEY."""
    fields: dict[str, Any] = {"status": item.status, "locked": item.locked}
    fields.update({tag_field(k): v for k, v in item.tags.items()})
    return fields


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return same_tag_value(a, b)
    return a == b


def _part(name: str) -> str:
    return "tags" if tag_key_of(name) is not None else {"locked": "lock"}.get(name, name)


def _label(name: str) -> str:
    key = tag_key_of(name)
    return name if key is None else f"tag {key!r}"


def _shown(name: str, value: Any) -> str:
    if tag_key_of(name) is not None:
        return format_tag_value(value)
    return repr(value)
