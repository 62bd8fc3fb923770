"""Carry out a plan: batching, etag conflicts, bounded re-tries of conflicts, report.

Transport failures (429, 5xx, dropped connections) are retried below this layer by the
provider's HTTP session; what reaches here is either a conflict about one item (stale
etag, native lock) or a batch that failed for good. The engine never re-sends a stale
object: a conflicting item is re-read and either re-diffed against the spec (spec mode)
or reported as stale (plan-file mode, which applies exactly what was reviewed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from .model import ApplyReport, Change, Item, ItemResult, Plan, QueueSpec, same_tag_value
from .providers.base import LockedItem, Progress, Provider, ProviderError, StaleEtag

# Spec mode: turn a fresh copy of a conflicting item into its new change (None: it
# already matches the spec). Plan-file mode passes no re-differ.
Rediff = Callable[[Item], "Change | None"]
MAX_CONFLICT_ROUNDS = 3


def matches_after(change: Change, item: Item) -> bool:
    """True when a fresh item already holds every value the change would write.

    After a conflict this tells "someone (or our own retried request) already made
    exactly this change" apart from a real concurrent edit.
    """
    for f in change.fields:
        if f.field == "status":
            if item.status != f.after:
                return False
        elif f.field == "locked":
            if item.locked != f.after:
                return False
        elif not same_tag_value(item.tags.get(f.field[5:]), f.after):
            return False
    return True


@dataclass
class _Run:
    """Mutable bookkeeping of one apply; turned into an immutable ApplyReport."""

    provider: Provider
    progress: Progress | None
    results: dict[tuple[str, str], ItemResult] = field(default_factory=dict)
    requests: int = 0
    failure: str | None = None  # sticky: once set, nothing else is attempted

    def record(self, queue: QueueSpec, item_id: str, outcome: str, detail: str = "") -> None:
        self.results[(queue.id, item_id)] = ItemResult(queue.id, item_id, outcome, detail)  # type: ignore[arg-type]

    def tick(self, n: int) -> None:
        if self.progress and n:
            self.progress(n)

    def write_batch(self, queue: QueueSpec, batch: list[Change]) -> list[Change]:
        """Write one batch, peeling off conflicting items; returns the conflicts."""
        conflicts: list[Change] = []
        remaining = batch
        while remaining and self.failure is None:
            try:
                self.requests += 1
                self.provider.write(queue, remaining)
            except (StaleEtag, LockedItem) as exc:
                culprit = next((c for c in remaining if c.item_id == exc.item_id), None)
                if culprit is None:  # the service named an id we did not send
                    self.fail(queue, remaining, f"write refused with an unexpected conflict: {exc}")
                    break
                conflicts.append(culprit)
                remaining = [c for c in remaining if c is not culprit]
                continue
            except ProviderError as exc:
                self.fail(queue, remaining, str(exc))
                break
            for change in remaining:
                self.record(queue, change.item_id, "applied")
            self.tick(len(remaining))
            break
        return conflicts

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
) -> ApplyReport:
    """Apply every non-blocked change of `plan`; the caller refuses blocked plans.

    `queues` gives each queue's settings the provider needs to write (lock annotation).
    With `rediff` (spec mode) conflicting items are re-read, re-diffed and retried up to
    `max_rounds` rounds; without it (plan-file mode) they are reported stale unless the
    fresh item already holds the planned values.
    """
    run = _Run(provider, progress)
    for queue_plan in plan.queues:
        queue = queues[queue_plan.queue_id]
        pending = [c for c in queue_plan.changes if not c.blocked]
        for change in queue_plan.blocked:
            run.record(queue, change.item_id, "blocked", "item is locked")
        differ = rediff.get(queue.id) if rediff else None
        for round_no in range(1, max_rounds + 1):
            if not pending or run.failure:
                break
            conflicts: list[Change] = []
            for batch in provider.batches(queue, pending):
                if run.failure:
                    break
                conflicts += run.write_batch(queue, batch)
            if run.failure or not conflicts:
                break
            pending = _settle_conflicts(run, queue, conflicts, differ, last=round_no == max_rounds)
    for queue_plan in plan.queues:
        for change in queue_plan.changes:
            if (queue_plan.queue_id, change.item_id) not in run.results:
                run.results[(queue_plan.queue_id, change.item_id)] = ItemResult(
                    queue_plan.queue_id, change.item_id, "skipped",
                    f"not attempted after an earlier failure ({run.failure})",
                )
    return ApplyReport(results=tuple(run.results.values()), requests=run.requests)


def _settle_conflicts(
    run: _Run, queue: QueueSpec, conflicts: Sequence[Change], differ: Rediff | None, *, last: bool
) -> list[Change]:
    """Re-read conflicting items once and decide each: done, stale, blocked or retry."""
    try:
        fresh = {item.id: item for item in run.provider.get(queue, [c.item_id for c in conflicts])}
    except ProviderError as exc:
        run.fail(queue, conflicts, f"could not re-read conflicting items: {exc}")
        return []
    retry: list[Change] = []
    for change in conflicts:
        item = fresh.get(change.item_id)
        if item is None:
            run.record(queue, change.item_id, "failed", "item no longer exists")
        elif differ is None:
            if matches_after(change, item):
                run.record(queue, change.item_id, "applied", "already held the planned values when re-read")
            else:
                run.record(
                    queue, change.item_id, "stale",
                    f"changed since the plan was made (etag {change.etag} is now {item.etag}); "
                    "nothing was written to it",
                )
        else:
            new = differ(item)
            if new is None:
                run.record(queue, change.item_id, "applied", "matched the spec when re-read")
            elif new.blocked:
                run.record(queue, change.item_id, "blocked", "item was locked by a concurrent write")
            elif last:
                run.record(
                    queue, change.item_id, "stale",
                    f"still changing concurrently after {MAX_CONFLICT_ROUNDS} rounds; nothing was written to it",
                )
            else:
                retry.append(new)
    run.tick(len(conflicts) - len(retry))
    return retry
