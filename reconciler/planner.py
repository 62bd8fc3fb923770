"""Read live state through a provider and turn it into a Plan (docs/architecture.md, the data flow's left half).

The only I/O here is `provider.pages`; everything it feeds is the pure resolve/diff core.
Several spec files given together are merged into one spec so that one plan (and one
plan file) covers them, which needs them to agree on the provider.
"""

from __future__ import annotations

import hashlib
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Callable, Mapping, Sequence

from . import diff
from .diff import Rediff
from .conditions import reads_clock
from .errors import UserError
from .gcpause import collector_paused as collector_paused  # planner.collector_paused, as before
from .model import Assignment, Plan, QueueSpec, Spec, StatusRules, to_scalar
from .notes import SpecWarning
from .providers.base import Progress, Provider, Relisted, bounded
from .ranks import Ranked

# Explicit entries missing from their queue that are each named at their spec line; the
# rest are counted in one more warning (a spec pointed at the wrong queue has thousands).
MAX_LOCATED_MISSING = 20

# Called once per queue before it is read; returns the progress callback for it.
ProgressFactory = Callable[[QueueSpec], "Progress | None"]


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    queues: Mapping[str, QueueSpec]
    warnings: tuple[str, ...]
    rules: StatusRules = diff.ANY_STATUS
    # `only` ids that no queue listed, in the order given
    unmatched_only: tuple[str, ...] = ()
    # the same news as `warnings` about missing entries, located, for every format
    missing: tuple[SpecWarning, ...] = ()
    # status settings items can no longer reach (StatusRules.ends), located: notes
    ended: tuple[SpecWarning, ...] = ()
    # queue id → what its ranks decided, which a re-diffed item keeps
    ranked: Mapping[str, Ranked] = field(default_factory=dict)

    def rediffers(self, replace: frozenset[str] = frozenset()) -> dict[str, Rediff]:
        """Spec mode's conflict handler: re-diff one fresh item against its queue, on
        the plan's clock, keeping the places its ranks gave it."""
        now = self.plan.evaluated_at
        return {qid: _rediffer(q, self.rules, replace, now, self.ranked.get(qid)) for qid, q in self.queues.items()}


def _rediffer(
    queue: QueueSpec, rules: StatusRules, replace: frozenset[str], now: datetime | None, ranked: Ranked | None
) -> Rediff:
    return lambda item: diff.rediff(queue, item, rules, replace, now, ranked)


def merge_specs(specs: Sequence[Spec]) -> Spec:
    """One Spec out of several files naming the same provider and disjoint queues."""
    if len(specs) == 1:
        return specs[0]
    first = specs[0]
    seen: dict[str, str] = {}
    for spec in specs:
        if (spec.provider.type, dict(spec.provider.options)) != (
            first.provider.type,
            dict(first.provider.options),
        ) or spec.provider.base_dir != first.provider.base_dir:
            raise UserError(
                f"{spec.files[0]}: its provider differs from {first.files[0]}'s; "
                "plan specs for different services separately"
            )
        for queue in spec.queues:
            if queue.id in seen:
                raise UserError(f"{queue.source}: queue {queue.id} is also defined in {seen[queue.id]}")
            seen[queue.id] = str(queue.source)
    digest = hashlib.sha256("".join(s.digest for s in specs).encode()).hexdigest()
    return Spec(
        provider=first.provider,
        queues=tuple(q for s in specs for q in s.queues),
        files=tuple(f for s in specs for f in s.files),
        digest=digest,
    )


def _read_and_diff(
    queue: QueueSpec,
    provider: Provider,
    only: frozenset[str] | None,
    progress: Progress | None,
    replace: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> diff.QueueDiffer:
    """Each page diffed as it arrives, while the provider reads the next; a RELISTED
    listing starts the diff over."""
    rules, order = provider.capabilities.status, provider.capabilities.order
    differ = diff.QueueDiffer(queue, only, rules, replace, order, now)
    with collector_paused(), closing(bounded(provider.pages(queue, progress), queue.id)) as pages:
        for page in pages:
            if isinstance(page, Relisted):  # RELISTED, its one instance
                differ = diff.QueueDiffer(queue, only, rules, replace, order, now)
            else:
                differ.add(page)
    return differ


def build_plan(
    spec: Spec,
    provider: Provider,
    *,
    only: frozenset[str] | None = None,
    progress: ProgressFactory | None = None,
    replace: frozenset[str] = frozenset(),
    now: datetime | None = None,
) -> PlanResult:
    """`now`: the plan's clock (tests pin it); by default read here, once, so that every
    item and queue of one plan sees the same `now-7d`."""
    evaluated_at = to_scalar(now or datetime.now(timezone.utc))
    queue_plans = []
    warnings: list[str] = []
    unmatched = set(only or ())
    located: list[SpecWarning] = []
    ended: list[SpecWarning] = []
    ranked: dict[str, Ranked] = {}
    for queue in spec.queues:
        differ = _read_and_diff(queue, provider, only, progress(queue) if progress else None, replace, evaluated_at)
        queue_plans.append(differ.plan())
        if differ.ranked is not None:
            ranked[queue.id] = differ.ranked
        ended += [e.note(provider.capabilities.status) for e in differ.ended()]
        unmatched = {i for i in unmatched if not differ.listed(i)}
        missing = differ.missing_ids()
        located.extend(missing_warnings(queue, missing))
        if missing:
            shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
            warnings.append(
                f"queue {queue.id}: {len(missing)} submission(s) in the spec do not exist "
                f"in the queue and are ignored: {shown}"
            )
    plan = Plan(
        provider_type=spec.provider.type,
        endpoint=provider.endpoint,
        spec_digest=spec.digest,
        queues=tuple(queue_plans),
        provider_options=provider.plan_options(),
        guard=provider.capabilities.guard,
        labels=provider.capabilities.label_tags,
        evaluated_at=evaluated_at,
        shows_clock=any(reads_clock(q) for q in spec.queues),
    )
    return PlanResult(
        plan,
        {q.id: q for q in spec.queues},
        tuple(warnings),
        provider.capabilities.status,
        tuple(sorted(unmatched, key=diff.item_order)),
        tuple(located),
        tuple(ended),
        ranked,
    )


def missing_warnings(queue: QueueSpec, missing: Sequence[str]) -> list[SpecWarning]:
    """One warning per explicit entry the queue does not have, at the entry's line (the
    first MAX_LOCATED_MISSING of them; the others counted in one more)."""
    out = []
    for item_id in missing[:MAX_LOCATED_MISSING]:
        source = _entry_source(queue.submissions[item_id]) or queue.source
        out.append(
            SpecWarning(
                f"queue {queue.id}: submission {item_id} is not in the queue (a mistyped id?); "
                "reconciler cannot create items, so this entry does nothing",
                source.file,
                source.line,
                source.column,
            )
        )
    rest = len(missing) - MAX_LOCATED_MISSING
    if rest > 0:
        out.append(
            SpecWarning(
                f"queue {queue.id}: {rest} more submission(s) in the spec are not in the queue",
                queue.source.file,
                queue.source.line,
                queue.source.column,
            )
        )
    return out


def _entry_source(entry: Assignment):
    settings = [entry.status, entry.locked, *entry.tags.values()]
    return next((s.source for s in settings if s is not None), None)
