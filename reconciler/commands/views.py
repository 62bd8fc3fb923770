"""What plan, show and apply print about a plan: its metadata, the problems that make
it fail, the chosen renderer, warnings, and errors as GitHub annotations."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from collections.abc import Iterator, Mapping, Sequence

import click

from .. import __version__
from ..error_handler import echo_err
from ..errors import UserError
from .options import Options

if TYPE_CHECKING:
    from ..model import Plan
    from ..notes import SpecWarning
    from ..planfile import LoadedPlan

FORMATS = ("text", "json", "markdown", "github")


@dataclass(frozen=True)
class View:
    """What every rendering of one plan shares besides the plan itself: its plan file
    metadata, the header naming the service, and why the plan fails (if it does)."""

    meta: Mapping
    header: str
    # why the plan fails, each (kind, message): kind is missing, blocked, refused, safety
    # or settled (--strict)
    reasons: tuple[tuple[str, str], ...] = ()
    # --allow-missing: entries for submissions their queue lacks are warnings, not errors
    allow_missing: bool = False

    @property
    def warnings(self) -> tuple:
        """The located findings about entries their queue lacks (errors unless
        allow_missing)."""
        return tuple(self.meta.get("warnings", ()))

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(message for _, message in self.reasons)

    @property
    def problem_docs(self) -> list[dict[str, str]]:
        """The reasons as the JSON documents (plan file, apply report) carry them."""
        return [{"kind": kind, "message": message} for kind, message in self.reasons]

    @property
    def level(self) -> str:
        """How those findings are reported: "error" (the default) or "warning"."""
        return "warning" if self.allow_missing else "error"


def make_view(
    plan: Plan,
    meta: Mapping,
    *,
    saved: bool,
    force: bool,
    allow_missing: bool = False,
    strict_notes: Sequence[SpecWarning] = (),
) -> View:
    from ..render.text import plan_header

    header = plan_header(plan, tool_version=meta["tool_version"], created_at=meta["created_at"] if saved else None)
    missing = () if allow_missing else meta.get("warnings", ())
    found = problems(plan, force, missing)
    if strict_notes:
        found.insert(
            0,
            (
                "settled",
                f"{len(strict_notes)} spec setting(s) settled otherwise (--strict): "
                "items ended in a state they can no longer leave",
            ),
        )
    return View(meta, header, tuple(found), allow_missing)


def saved_meta(loaded: LoadedPlan) -> dict:
    """What a saved plan says about itself, as new_meta says it of a new one."""
    return {"tool_version": loaded.tool_version, "created_at": loaded.created_at, "warnings": loaded.warnings}


def new_meta(warnings: Sequence[SpecWarning] = ()) -> dict:
    return {
        "tool_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "warnings": tuple(warnings),
    }


def problems(plan: Plan, force: bool, missing: Sequence = ()) -> list[tuple[str, str]]:
    """Problems that make plan fail and apply refuse (blocked changes, safety, and
    unless --allow-missing the spec entries their queue lacks: reconciler cannot create
    items, so such an entry is a mistyped or outdated id that would pass CI green)."""
    found = []
    if missing:
        found.append(
            (
                "missing",
                f"{len(missing)} spec entr{'y names a submission' if len(missing) == 1 else 'ies name submissions'} "
                "not in the queue: reconciler cannot create items; fix the id or pass --allow-missing "
                "to ignore such entries",
            )
        )
    locked = [c for c in plan.failing if c.refused is None]
    if locked:
        ids = ", ".join(c.item_id for c in locked[:10]) + (" …" if len(locked) > 10 else "")
        found.append(
            (
                "blocked",
                f"{len(locked)} change(s) blocked by locks ({ids}): to change an item and keep it "
                "locked add `replace: true` to its entry or pass --replace ID; to unlock it set "
                "`locked: false`; or stop changing it",
            )
        )
    refused = [c for c in plan.failing if c.refused is not None]
    if refused:
        shown = "; ".join(f"{c.item_id}: {c.refused}" for c in refused[:5]) + (" …" if len(refused) > 5 else "")
        found.append(("refused", f"{len(refused)} change(s) the service would refuse ({shown}): stop asking for them"))
    if not force:
        found += [("safety", f"{v} (use --force to override)") for v in plan.safety_violations()]
    return found


def render(plan: Plan, fmt: str, opts: Options, view: View) -> str:
    if fmt == "json":
        from ..render.json import render_plan_json

        return render_plan_json(plan, **view.meta, problems=view.problem_docs)
    if fmt == "markdown":
        from ..render.markdown import render_plan_markdown

        return render_plan_markdown(
            plan, header=view.header, problems=view.problems, warnings=view.warnings, level=view.level
        )
    if fmt == "github":
        from ..render.github import render_plan_github

        _write_step_summary(plan, view)
        return render_plan_github(plan, view.problems, view.warnings, level=view.level)
    from ..render.text import render_plan_text

    return render_plan_text(plan, color=opts.color, header=view.header, ignored=len(view.warnings))


def _write_step_summary(plan: Plan, view: View) -> None:
    """GitHub shows $GITHUB_STEP_SUMMARY on the run page; append the markdown plan."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        from ..render.markdown import render_plan_markdown

        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(
                    render_plan_markdown(
                        plan,
                        header=view.header,
                        problems=view.problems,
                        warnings=view.warnings,
                        level=view.level,
                    )
                    + "\n"
                )
        except OSError as exc:
            raise UserError(f"GITHUB_STEP_SUMMARY {target}: cannot append the plan: {exc.strerror}") from None


def report_problems(plan: Plan, view: View, fmt: str, force: bool) -> bool:
    """plan and show alike: each problem on stderr, safety limits also as annotations
    under --format github (blocked changes are annotated at their spec lines by the
    renderer); True when there are any (the command exits 1)."""
    for problem in view.problems:
        echo_err(f"error: {problem}")
    if fmt == "github" and not force:
        from ..render.github import command

        for violation in plan.safety_violations():
            click.echo(command("error", violation, title="safety limit"))
    return bool(view.problems)


def echo_notes(notes: Sequence[SpecWarning]) -> None:
    """Spec settings live state made moot (settled otherwise), once, at their lines."""
    for note in notes:
        echo_err(f"note: {note}")


def echo_warnings(view: View) -> None:
    """Spec entries the queue lacks, at their lines, on stderr in every format and even
    with -q: they are findings about the spec (a mistyped id), not progress notes;
    errors unless --allow-missing."""
    for warning in view.warnings:
        echo_err(f"{view.level}: {warning}")


@contextmanager
def annotated(fmt: str) -> Iterator[None]:
    """With --format github, errors also go to stdout as workflow annotations (at their
    file, line and column), so a failing check points at the spec line; stderr and the
    exit code stay as in every other format."""
    try:
        yield
    except UserError as exc:
        if fmt == "github":
            from ..render.github import github_errors_for

            click.echo(github_errors_for([exc]))
        raise
