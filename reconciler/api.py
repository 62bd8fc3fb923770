"""The Python API (docs/python.md): load a spec, add rows from scoring code,
plan, save, review and apply, without shelling out or writing YAML to disk.

A thin layer over what the commands run (commands/inputs.py, commands/views.py,
apply.py), so the API and the CLI cannot disagree: the same checks, the same reasons a
plan fails, the same writes. Nothing here prints or exits; every failure is an
exception (ReconcilerError and its kinds) whose `.problems` are located as the CLI
prints them.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Mapping, Sequence

from .errors import Problem, UserError
from .model import ApplyReport, Spec

if TYPE_CHECKING:
    from .diff import Rediff
    from .model import Change, ProviderConfig, QueueSpec
    from .model import Plan as Changes
    from .providers.base import Provider


# A library prints nothing unasked: without this, Python's last-resort handler would put
# the HTTP layer's retry notes on the caller's stderr (the CLI installs its own handler).
logging.getLogger("reconciler").addHandler(logging.NullHandler())


class PlanError(UserError):
    """A plan that fails (a change blocked by a lock, a change the service would refuse,
    a safety limit, spec entries the queue lacks): `apply` refuses it and `save` does not
    write it, as `reconciler plan -o` and `apply` do. `.reasons`: (kind, message) each."""

    def __init__(self, reasons: Sequence[tuple[str, str]]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(message for _, message in self.reasons))

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(Problem(None, None, None, message) for _, message in self.reasons)


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file and its includes, offline (what `reconciler validate`
    does). Raises SpecError carrying every problem found."""
    from .commands.inputs import load_specs
    from .spec import spec_errors

    with spec_errors():
        (spec,) = load_specs([str(path)], "load")
    return spec


@dataclass(frozen=True)
class Plan:
    """A plan (the value a plan file holds, docs/plan-file.md) and what applying it needs.

    Made by `reconciler.plan` or `Plan.load`; `problems` says why it would be refused."""

    changes_plan: Changes  # the change set, as planfile.py and the renderers read it
    meta: Mapping[str, Any]  # tool_version, created_at, warnings (entries the queue lacks)
    queues: Mapping[str, QueueSpec]  # the queue settings a write needs (lock key, safety)
    saved: bool = False  # loaded from a plan file (applied exactly as reviewed)
    provider: ProviderConfig | None = None  # the spec's; a saved plan names its endpoint itself
    rediff: Mapping[str, Rediff] | None = None  # spec mode: a conflict is re-diffed, not stale
    force: bool = False  # safety limits overridden
    allow_missing: bool = False  # entries the queue lacks are warnings
    source: str | None = None  # the spec's root file or the plan file: the journal goes beside it

    @property
    def reasons(self) -> tuple[tuple[str, str], ...]:
        """Why the plan fails, each (kind, message), as the CLI reports it."""
        return self._view().reasons

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(message for _, message in self.reasons)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def summary(self) -> dict[str, int]:
        """Counts: items_seen, change, lock, unlock, blocked (and drift when any)."""
        return self.changes_plan.summary()

    @property
    def has_changes(self) -> bool:
        return self.changes_plan.has_changes

    @property
    def changes(self) -> tuple[Change, ...]:
        return self.changes_plan.changes

    def text(self) -> str:
        """The plan as `reconciler plan` prints it (no colour)."""
        from .render.text import render_plan_text

        view = self._view()
        return render_plan_text(self.changes_plan, header=view.header, ignored=len(view.warnings))

    def to_json(self) -> str:
        """The plan file's text (validated by schemas/plan.schema.json; never a token)."""
        from .planfile import dump_plan

        view = self._view()
        return dump_plan(self.changes_plan, **view.meta, problems=view.problem_docs)

    def save(self, path: str | Path) -> None:
        """Write the plan file `reconciler apply PLANFILE` (or `Plan.load`) applies
        exactly as reviewed. A failing plan raises PlanError and writes nothing: a file
        that exists reads as "ready to apply"."""
        if self.reasons:
            raise PlanError(self.reasons)
        try:
            Path(path).write_text(self.to_json(), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{path}: cannot write the plan file: {exc.strerror}") from None

    @classmethod
    def load(cls, path: str | Path) -> Plan:
        """A saved plan file, checked (schema, checksum, size) as `apply PLANFILE` does.
        Raises SpecError with its located problems."""
        from .commands.inputs import load_plan_file, refuse_spec_as_plan_file
        from .spec import spec_errors

        with spec_errors():
            refuse_spec_as_plan_file(str(path))
            changes, queues, meta = load_plan_file(str(path))
        return cls(changes, meta, queues, saved=True, source=str(path))

    def _view(self) -> Any:
        from .commands.views import make_view

        return make_view(
            self.changes_plan, self.meta, saved=self.saved, force=self.force, allow_missing=self.allow_missing
        )


def plan(
    spec: Spec,
    *,
    only: Sequence[str] = (),
    replace: Sequence[str] = (),
    force: bool = False,
    allow_missing: bool = False,
) -> Plan:
    """Read the live state of the spec's queues and diff it (`reconciler plan`): writes
    nothing. `only`, `replace`, `force` and `allow_missing` are the CLI's --only,
    --replace, --force and --allow-missing. Raises UserError for an unreachable or
    refusing service, an --only or --replace id that matches nothing."""
    from .commands.inputs import plan_spec
    from .commands.views import new_meta

    provider, result = plan_spec(spec, tuple(only), tuple(replace))
    provider.close()
    return Plan(
        result.plan,
        new_meta(result.missing),
        result.queues,
        provider=spec.provider,
        rediff=result.rediffers(frozenset(replace)),
        force=force,
        allow_missing=allow_missing,
        source=spec.files[0],
    )


def apply(
    target: Plan | Spec,
    *,
    force: bool | None = None,
    allow_missing: bool | None = None,
    journal: str | Path | None = None,
) -> ApplyReport:
    """Apply a plan (or plan a spec and apply that, as `reconciler apply SPEC
    --auto-approve` does) with guarded writes. A failing plan raises PlanError and
    nothing is written. The report says each item's outcome; `report.ok` is False when
    any was stale, blocked, failed or skipped. A run that wrote something is recorded in
    the journal, as the CLI's is: `journal`, else `.reconciler/journal/` beside the spec
    or plan file (`reconciler history`, `reconciler revert`)."""
    if isinstance(target, Spec):
        target = plan(target, force=bool(force), allow_missing=bool(allow_missing))
    target = dataclasses.replace(
        target,
        force=target.force if force is None else force,
        allow_missing=target.allow_missing if allow_missing is None else allow_missing,
    )
    if target.reasons:
        raise PlanError(target.reasons)
    from .providers import open_provider, open_provider_for_plan

    from .journal import record_apply

    provider = open_provider(target.provider) if target.provider else open_provider_for_plan(target.changes_plan)
    started = datetime.now(timezone.utc)
    with provider:
        if not target.has_changes:
            return ApplyReport(results=(), requests=provider.requests_sent() or 0)
        report = write_plan(target.changes_plan, provider, target.queues, rediff=target.rediff)
    record_apply(
        str(journal) if journal is not None else None, [target.source or "."], target.changes_plan, report, started
    )
    return report


def write_plan(
    changes: Changes,
    provider: Provider,
    queues: Mapping[str, QueueSpec],
    *,
    rediff: Mapping[str, Rediff] | None = None,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[], str | None] | None = None,
) -> ApplyReport:
    """Apply the plan's unblocked changes; the report counts every request the
    provider sent (a spec's listing too), as the CLI's report does."""
    from .apply import apply_plan

    report = apply_plan(changes, provider, queues, rediff=rediff, progress=progress, stop=stop)
    sent = provider.requests_sent()
    return dataclasses.replace(report, requests=sent) if sent is not None else report
