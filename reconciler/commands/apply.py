"""`reconciler apply`: plan a spec and apply it after confirmation, or apply a saved
plan file exactly as reviewed; prints the report."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from collections.abc import Sequence

import click

from ..error_handler import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, echo_err
from ..errors import UserError
from ..model import ApplyReport
from .inputs import id_list, is_plan_file, open_plan_file, plan_from_specs
from .interrupt import stop_between_writes
from .options import Options
from .views import echo_notes, echo_warnings, make_view, new_meta


def apply(
    opts: Options,
    targets: Sequence[str],
    *,
    auto_approve: bool,
    force: bool,
    fmt: str,
    only: Sequence[str],
    allow_missing: bool,
    replace: Sequence[str],
    strict: bool = False,
    journal: str | None = None,
) -> int:
    from ..api import write_plan
    from ..render.text import render_plan_text

    if len(targets) == 1 and is_plan_file(targets[0]):
        if only or replace:
            flag = "--only" if only else "--replace"
            raise UserError(
                f"{targets[0]}: {flag} works on a spec, but a plan file is applied exactly as "
                f"reviewed; make the plan with `reconciler plan {flag} ID -o FILE`"
            )
        plan, queues, provider, meta = open_plan_file(targets[0])
        rediff = None
        view = make_view(plan, meta, saved=True, force=force, allow_missing=allow_missing)
    else:
        _, provider, result = plan_from_specs(opts, targets, "apply", only, replace)
        plan, queues, rediff = result.plan, result.queues, result.rediffers(frozenset(id_list(replace)))
        view = make_view(
            plan,
            new_meta(result.missing),
            saved=False,
            force=force,
            allow_missing=allow_missing,
            strict_notes=result.ended if strict else (),
        )
        echo_notes(result.ended)
    with provider:
        echo_warnings(view)
        # the plan is shown before a confirmation, and otherwise unless -q asks for quiet
        if not auto_approve or (fmt == "text" and not opts.quiet):
            click.echo(
                render_plan_text(plan, color=opts.color, header=view.header, ignored=len(view.warnings)),
                err=fmt != "text",
            )
        if view.problems:
            for problem in view.problems:
                echo_err(f"error: {problem}")
            echo_err("Nothing was applied.")
            if fmt == "json":  # a script reading the report must learn why, too
                _echo_report(ApplyReport(results=()), fmt, opts, refused=view.problem_docs)
            return EXIT_ERROR
        if not plan.has_changes:
            _echo_report(ApplyReport(results=(), requests=provider.requests_sent() or 0), fmt, opts)
            return EXIT_OK
        if not auto_approve:
            _confirm()
        progress = opts.progress()
        total = len([c for c in plan.changes if not c.blocked])
        started = datetime.now(timezone.utc)
        try:
            with stop_between_writes() as stop:  # the report counts apply SPEC's listing too
                report = write_plan(
                    plan, provider, queues, rediff=rediff, progress=progress.line("Writing", total), stop=stop
                )
        finally:
            progress.close()
    _echo_report(report, fmt, opts)
    _journal(opts, journal, targets, plan, report, started)  # an interrupted run's writes too
    if report.interrupted:
        return EXIT_INTERRUPTED
    stale = report.count("stale")
    if stale:
        # what to do next: the stale items' new state has not been reviewed by anyone
        click.echo(
            f"Nothing was written to them: run `reconciler plan` again to review the new state "
            f"of the {stale} stale item{'s' if stale != 1 else ''}, then apply the new plan.",
            err=fmt != "text",
        )
    return EXIT_OK if report.ok else EXIT_ERROR


def _journal(
    opts: Options, journal: str | None, targets: Sequence[str], plan, report: ApplyReport, started: datetime
) -> None:
    """Record the run in the journal (after the report: what was written is told first
    even if the journal cannot be written, which is then a UserError, exit 1)."""
    from ..journal import record_apply

    path = record_apply(journal, targets, plan, report, started)
    if path is not None and not opts.quiet:
        echo_err(f"Recorded in the journal: {path}")


def _echo_report(report: ApplyReport, fmt: str, opts: Options, refused: Sequence[dict] = ()) -> None:
    if fmt == "json":
        from ..render.report import report_to_dict

        click.echo(json.dumps(report_to_dict(report, refused), indent=2, sort_keys=True))
    else:
        from ..render.report import render_report_text

        click.echo(render_report_text(report, color=opts.color))


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm() -> None:
    """Only "yes" applies; anything else, end of input (Ctrl-D) or Ctrl-C cancels with
    the one message that says nothing was written (click would say "Aborted.")."""
    if not stdin_is_terminal():
        raise UserError(
            "refusing to apply without confirmation: stdin is not a terminal "
            "(review the plan, then pass --auto-approve)"
        )
    try:
        answer = click.prompt(
            "Apply these changes? Only 'yes' will be accepted", default="", show_default=False, err=True
        )
    except click.Abort:
        echo_err("")  # the prompt's line was left open
        answer = ""
    if answer.strip() != "yes":
        raise UserError("apply cancelled; nothing was written")
