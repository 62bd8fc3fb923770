"""Read live state through a provider and turn it into a Plan (DESIGN §2, left half).

The only I/O here is `provider.pages`; everything it feeds is the pure resolve/diff core.
Several spec files given together are merged into one spec so that one plan (and one
plan file) covers them, which needs them to agree on the provider.
"""
from __future__ import annotations

import gc
import hashlib
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

from . import diff
from .diff import Rediff
from .errors import UserError
from .model import Plan, QueueSpec, Spec, StatusRules
from .providers.base import RELISTED, Progress, Provider

# Called once per queue before it is read; returns the progress callback for it.
ProgressFactory = Callable[[QueueSpec], "Progress | None"]


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    queues: Mapping[str, QueueSpec]
    warnings: tuple[str, ...]
    rules: StatusRules = diff.ANY_STATUS

    def rediffers(self) -> dict[str, Rediff]:
        """Spec mode's conflict handler: re-diff one fresh item against its queue."""
        return {qid: _rediffer(q, self.rules) for qid, q in self.queues.items()}


def _rediffer(queue: QueueSpec, rules: StatusRules) -> Rediff:
    return lambda item: diff.rediff(queue, item, rules)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a queue is read and planned.

    Reading and planning allocate a few small objects per item, none of them in a
    reference cycle (a 100,000-item Synapse listing leaves nothing for gc.collect()),
    and each allocation burst triggers full collections that walk every live item: at
    100,000 items that was a third of planning, and ~20 ms of a 20,000-item listing.
    Only a retried request leaves a little cyclic garbage (its exception's traceback),
    collected once the queue is read; the previous setting is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def merge_specs(specs: Sequence[Spec]) -> Spec:
    """One Spec out of several files naming the same provider and disjoint queues."""
    if len(specs) == 1:
        return specs[0]
    first = specs[0]
    seen: dict[str, str] = {}
    for spec in specs:
        if (spec.provider.type, dict(spec.provider.options)) != (
            first.provider.type, dict(first.provider.options)
        ) or spec.provider.base_dir != first.provider.base_dir:
            raise UserError(
                f"{spec.files[0]}: its provider differs from {first.files[0]}'s; "
                "plan specs for different services separately"
            )
        for queue in spec.queues:
            if queue.id in seen:
                raise UserError(
                    f"{queue.source}: queue {queue.id} is also defined in {seen[queue.id]}"
                )
            seen[queue.id] = str(queue.source)
    digest = hashlib.sha256("".join(s.digest for s in specs).encode()).hexdigest()
    return Spec(
        provider=first.provider,
        queues=tuple(q for s in specs for q in s.queues),
        files=tuple(f for s in specs for f in s.files),
        digest=digest,
    )


def _read_and_diff(
    queue: QueueSpec, provider: Provider, only: frozenset[str] | None, progress: Progress | None
) -> diff.QueueDiffer:
    """Each page diffed as it arrives, while the provider reads the next; a RELISTED
    listing starts the diff over."""
    rules = provider.capabilities.status
    differ = diff.QueueDiffer(queue, only, rules)
    with collector_paused(), closing(provider.pages(queue, progress)) as pages:
        for page in pages:
            if page is RELISTED:
                differ = diff.QueueDiffer(queue, only, rules)
            else:
                differ.add(page)
    return differ


def build_plan(
    spec: Spec,
    provider: Provider,
    *,
    only: frozenset[str] | None = None,
    progress: ProgressFactory | None = None,
) -> PlanResult:
    queue_plans = []
    warnings: list[str] = []
    for queue in spec.queues:
        differ = _read_and_diff(queue, provider, only, progress(queue) if progress else None)
        queue_plans.append(differ.plan())
        missing = differ.missing_ids()
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
    )
    return PlanResult(plan, {q.id: q for q in spec.queues}, tuple(warnings),
                      provider.capabilities.status)
