"""Carry out a plan: batching, conflicts, bounded re-tries of conflicts, report.

Transport failures (429, 5xx, dropped connections) are retried below this layer by the
provider's HTTP session; what reaches here is a conflict about one item (stale etag,
native lock), a per-item account of a write (WriteResult: services where a change is
several calls or a batch is not all or nothing), or a write that failed for good. The
engine never re-sends a stale object: after a conflict every item not yet written is
re-read at once (one listing, not one read per item), and each changed one is either
re-diffed against the spec (spec mode) or reported as stale with what changed
(plan-file mode, which applies exactly what was reviewed).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Callable, Iterable, Mapping, Sequence

from .diff import Rediff
from .model import ApplyReport, Change, Item, ItemResult, Plan, QueueSpec
from .providers.base import (
    ConfigError,
    LockedItem,
    Progress,
    Provider,
    ProviderError,
    StaleEtag,
    WriteResult,
    managed_digest,
    matches_after,
)
from .secret_keys import without_secrets

MAX_CONFLICT_ROUNDS = 3
MAX_STALE_PATHS = 5  # fields named in one stale item's report; the rest are counted
# Bookkeeping every write changes (etag, version, modification time): named after the
# fields someone meant to change, so the cap never hides those behind these
_INTERNAL = re.compile(r"etag|version|modified|updated", re.IGNORECASE)


@dataclass
class _Run:
    """Mutable bookkeeping of one apply; turned into an immutable ApplyReport."""

    provider: Provider
    progress: Progress | None
    results: dict[tuple[str, str], ItemResult] = field(default_factory=dict)
    calls: int = 0  # provider calls, the count for a provider that sends no requests
    failure: str | None = None  # sticky: once set, nothing else is attempted
    # Asked between writes: the name of a signal received (SIGINT, SIGTERM) stops the
    # run after the write in flight, sending nothing more
    stop: Callable[[], str | None] | None = None
    interrupted: str | None = None

    def stopping(self) -> bool:
        if self.interrupted is None and self.stop is not None:
            self.interrupted = self.stop()
        return self.interrupted is not None

    rebased: set[str] = field(default_factory=set)  # items rebased once by sort_out

    def record(self, queue: QueueSpec, item_id: str, outcome: str, detail: str = "") -> None:
        self.results[(queue.id, item_id)] = ItemResult(queue.id, item_id, outcome, detail)  # type: ignore[arg-type]

    def tick(self, n: int) -> None:
        if self.progress and n:
            self.progress(n)

    def write_all(self, queue: QueueSpec, changes: Sequence[Change], queue_size: int) -> list[tuple[Change, Item]]:
        """Write `changes` batch by batch; returns the conflicts, each with its fresh copy.

        A batch refused for one item's sake (StaleEtag, LockedItem) means others of the
        run may be stale too (another apply of the same spec, an earlier run that
        landed): every change not yet written is re-read at once (`Provider.reread`:
        one listing on Synapse), the stale ones are set aside and only the rest is
        batched again. So a conflict costs one re-read, never one round trip per item
        (and a batch re-sent per item peeled off it)."""
        conflicts: list[tuple[Change, Item]] = []
        batches = deque(self.provider.batches(queue, changes))
        while batches and self.failure is None and not self.stopping():
            batch = batches.popleft()
            try:
                self.calls += 1
                result = self.provider.write(queue, batch)
            except (StaleEtag, LockedItem) as exc:
                culprit = next((c for c in batch if c.item_id == exc.item_id), None)
                if culprit is None:  # the service named an id we did not send
                    self.fail(queue, batch, f"write refused with an unexpected conflict: {exc}")
                    break
                unwritten = [c for part in (batch, *batches) for c in part]
                kept = self.sort_out(queue, unwritten, culprit, queue_size, conflicts)
                batches = deque(self.provider.batches(queue, kept) if kept else ())
                continue
            except ProviderError as exc:
                if isinstance(exc, ConfigError) and self.first_write():
                    raise  # a refused token before anything landed: one line, as plan says it
                self.fail(queue, batch, self.unwritten(str(exc)))
                break
            if result is None:
                for change in batch:
                    self.record(queue, change.item_id, "applied")
                self.tick(len(batch))
            else:
                conflicts += self.account(queue, batch, result)
        return conflicts

    def sort_out(
        self,
        queue: QueueSpec,
        unwritten: Sequence[Change],
        culprit: Change,
        queue_size: int,
        conflicts: list[tuple[Change, Item]],
    ) -> list[Change]:
        """Re-read every unwritten change's item; the ones changed since they were read
        (and the culprit the service named) join `conflicts` with their fresh copy, gone
        ones fail; returns the changes still safe to send. A change whose item moved only
        outside what the spec manages (another writer's own tag key: the etag moves on
        any write) is rebased onto the fresh copy and sent with the rest, once per item
        (a second move is a conflict, bounded by the engine's rounds)."""
        try:
            self.calls += 1
            fresh = {item.id: item for item in self.provider.reread(queue, [c.item_id for c in unwritten], queue_size)}
        except ProviderError as exc:
            self.fail(queue, unwritten, f"could not re-read conflicting items: {exc}")
            return []
        kept: list[Change] = []
        for change in unwritten:
            item = fresh.get(change.item_id)
            if item is None:
                self.record(queue, change.item_id, "failed", "item no longer exists")
                self.tick(1)
            elif change is culprit or item.etag != change.etag:
                rebased = None
                if change.item_id not in self.rebased:
                    rebased = _rebased(self.provider, queue, change, item)
                if rebased is None:
                    conflicts.append((change, item))
                else:
                    self.rebased.add(change.item_id)
                    kept.append(rebased)
            else:
                kept.append(change)
        return kept

    def account(self, queue: QueueSpec, batch: Sequence[Change], result: WriteResult) -> list[tuple[Change, Item]]:
        """Record exactly what a WriteResult says; changes it does not name were not
        attempted and are left for the final "skipped" pass."""
        by_id = {c.item_id: c for c in batch}
        for item_id in result.applied:
            self.record(queue, item_id, "applied")
        for item_id in result.unchanged:
            self.record(queue, item_id, "unchanged", "already held the planned values")
        for item_id, reason in result.failed.items():
            self.record(queue, item_id, "failed", reason)
        for item_id, reason in result.overwritten.items():
            self.record(queue, item_id, "stale", reason)
        self.tick(len(result.applied) + len(result.unchanged) + len(result.failed) + len(result.overwritten))
        if result.error:
            self.failure = f"queue {queue.id}: {result.error}"
        return [(by_id[i], fresh) for i, fresh in result.stale.items() if i in by_id]

    def first_write(self) -> bool:
        """Whether nothing can have landed yet: no write answered, and this one either
        all-or-nothing or the run's first (a token is refused at its first request)."""
        answered = any(r.outcome in ("applied", "unchanged", "failed") for r in self.results.values())
        return not answered and (self.provider.capabilities.atomic_batches or self.calls == 1)

    def unwritten(self, reason: str) -> str:
        if self.provider.capabilities.atomic_batches:
            return reason
        return f"{reason} (parts of this write may have landed; run plan again to see)"

    def fail(self, queue: QueueSpec, changes: Iterable[Change], reason: str) -> None:
        for change in changes:
            self.record(queue, change.item_id, "failed", reason)
        self.failure = f"queue {queue.id}: {reason}"


def apply_plan(
    plan: Plan,
    provider: Provider,
    queues: Mapping[str, QueueSpec],
    *,
    rediff: Mapping[str, Rediff] | None = None,
    progress: Progress | None = None,
    max_rounds: int = MAX_CONFLICT_ROUNDS,
    stop: Callable[[], str | None] | None = None,
) -> ApplyReport:
    """Apply every non-blocked change of `plan`; the caller refuses blocked plans.

    `queues` gives each queue's settings the provider needs to write (lock key).
    With `rediff` (spec mode) conflicting items are re-diffed from their fresh copies
    and retried up to `max_rounds` rounds; without it (plan-file mode) they are reported
    stale unless the fresh item already holds the planned values. The report's request
    count is what the provider sent meanwhile, every retry and refusal included. `stop`
    is asked between writes; once it names a signal, the write in flight is finished and
    nothing more is sent.
    """
    run = _Run(provider, progress, stop=stop)
    sent_before = provider.requests_sent()
    for queue_plan in plan.queues:
        queue = queues[queue_plan.queue_id]
        pending = [c for c in queue_plan.changes if not c.blocked]
        for change in queue_plan.blocked:
            run.record(queue, change.item_id, "blocked", change.why_blocked)
        differ = rediff.get(queue.id) if rediff else None
        for round_no in range(1, max_rounds + 1):
            if not pending or run.failure or run.stopping():
                break
            conflicts = run.write_all(queue, pending, queue_plan.items_seen)
            if run.failure or not conflicts:
                break
            pending = _settle_conflicts(run, queue, conflicts, differ, last=round_no == max_rounds)
    for queue_plan in plan.queues:
        for change in queue_plan.changes:
            if (queue_plan.queue_id, change.item_id) not in run.results:
                why = (
                    f"not sent: apply was interrupted ({run.interrupted})"
                    if run.interrupted
                    else f"not attempted after an earlier failure ({run.failure})"
                )
                run.results[(queue_plan.queue_id, change.item_id)] = ItemResult(
                    queue_plan.queue_id,
                    change.item_id,
                    "skipped",
                    why,
                )
    sent_after = provider.requests_sent()
    requests = run.calls if sent_before is None or sent_after is None else sent_after - sent_before
    return ApplyReport(results=tuple(run.results.values()), requests=requests, interrupted=run.interrupted)


def _settle_conflicts(
    run: _Run,
    queue: QueueSpec,
    conflicts: Sequence[tuple[Change, Item]],
    differ: Rediff | None,
    *,
    last: bool,
) -> list[Change]:
    """Decide each conflicting item from its fresh copy: done, stale, blocked or retry."""
    retry: list[Change] = []
    for change, item in conflicts:
        if differ is None:
            if matches_after(change, item):
                run.record(queue, change.item_id, "unchanged", "already held the planned values when re-read")
            elif (rebased := _rebased(run.provider, queue, change, item)) is not None and not last:
                retry.append(rebased)  # moved again outside the managed fields after a rebase
            elif rebased is not None:
                run.record(
                    queue,
                    change.item_id,
                    "stale",
                    f"still changing concurrently after {MAX_CONFLICT_ROUNDS} rounds; nothing was written to it",
                )
            else:
                run.record(
                    queue,
                    change.item_id,
                    "stale",
                    f"changed since the plan was made ({what_changed(change.base, item.base)}); "
                    "nothing was written to it",
                )
        else:
            new = differ(item)
            if new is None:
                run.record(queue, change.item_id, "unchanged", "matched the spec when re-read")
            elif new.blocked:
                run.record(queue, change.item_id, "blocked", new.refused or "item was locked by a concurrent write")
            elif last:
                run.record(
                    queue,
                    change.item_id,
                    "stale",
                    f"still changing concurrently after {MAX_CONFLICT_ROUNDS} rounds; nothing was written to it",
                )
            else:
                retry.append(new)
    run.tick(len(conflicts) - len(retry))
    return retry


def _rebased(provider: Provider, queue: QueueSpec, change: Change, fresh: Item) -> Change | None:
    """The planned change onto the item as re-read, when only what the spec does not
    manage moved since the plan (another writer's own tag key, an unmanaged field: an
    etag service's etag moves on any write): the reviewed change is still the change,
    written with the fresh etag over the fresh object so the other writer's data
    survives. None when a managed field moved (stale) or the provider cannot tell."""
    if fresh.etag == change.etag:  # refused for another reason (a lock): not ours to retry
        return None
    planned = provider.item_of(queue, change.base)
    if planned is None:
        return None
    managed = queue.managed_tags
    if managed_digest(planned, managed) != managed_digest(fresh, managed):
        return None
    return replace(change, etag=fresh.etag, base=fresh.base)


def what_changed(base: Mapping[str, Any], fresh: Mapping[str, Any]) -> str:
    """The fields that differ between the object a change was planned from and the
    item as re-read, as `path: before → now` (deepdiff does the structural diff).
    Both are in the shape `list` returns (a provider that plans from a projection hands
    back its fresh copies projected the same way)."""
    from deepdiff import DeepDiff  # only a stale item needs it

    # threshold_to_diff_deeper=0: name each changed key even when most of them changed;
    # a secret's value is never shown (secret_keys.py), so neither side holds one
    diff = DeepDiff(
        without_secrets(dict(base)), without_secrets(dict(fresh)), verbose_level=2, threshold_to_diff_deeper=0
    )
    lines: list[str] = []
    for kind in ("values_changed", "type_changes"):
        for path, change in diff.get(kind, {}).items():
            lines.append(f"{_path(path)}: {_short(change['old_value'])} → {_short(change['new_value'])}")
    for kind, arrow in (("dictionary_item_added", "(absent) → {}"), ("iterable_item_added", "(absent) → {}")):
        for path, value in diff.get(kind, {}).items():
            lines.append(f"{_path(path)}: " + arrow.format(_short(value)))
    for kind in ("dictionary_item_removed", "iterable_item_removed"):
        for path, value in diff.get(kind, {}).items():
            lines.append(f"{_path(path)}: {_short(value)} → (absent)")
    if not lines:
        return "its version changed"
    lines.sort(key=lambda line: (_INTERNAL.search(line.partition(":")[0]) is not None, line))
    shown = "; ".join(lines[:MAX_STALE_PATHS])
    more = len(lines) - MAX_STALE_PATHS
    return shown + (f"; and {more} more" if more > 0 else "")


def _path(deepdiff_path: str) -> str:
    """root['results']['locked'] → results.locked; root['tags'][0] → tags[0]."""
    text = deepdiff_path.removeprefix("root")
    out = ""
    for part in text.replace("]", "").split("["):
        if not part:
            continue
        if part[0] in "'\"":
            out += ("." if out else "") + part.strip("'\"")
        else:
            out += f"[{part}]"
    return out or "(the object)"


def _short(value: Any) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
