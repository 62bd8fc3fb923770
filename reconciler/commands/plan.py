"""`reconciler plan`: read live state, show the smallest set of changes, optionally save
them as a plan file; writes nothing to the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Sequence

import click

from ..error_handler import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, echo_err
from ..errors import UserError
from ..gcpause import collector_paused, freeze_if_exiting, keep_until_exit
from .inputs import plan_from_specs
from .options import Options
from .views import annotated, echo_notes, echo_warnings, make_view, new_meta, render, report_problems


def plan(opts: Options, specs: Sequence[str], **options: Any) -> int:
    """The command with the cycle collector paused throughout (loading and reading
    pause it anyway), and what it built frozen at the end when the process exits next
    (gcpause.freeze_if_exiting). Re-enabled in between or after, the collector's first
    full collection walked every object of the spec and the plan: 1.1 s of a
    100,000-entry plan (BENCHMARKS.md)."""
    try:
        with collector_paused():
            return _plan(opts, specs, **options)
    finally:
        # after the pause: its end asks how many objects are frozen, which counts them
        # one by one (gc.get_freeze_count: 0.05 s over a 100,000-entry plan)
        freeze_if_exiting()


def _plan(
    opts: Options,
    specs: Sequence[str],
    *,
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    only: Sequence[str],
    force: bool,
    allow_missing: bool,
    replace: Sequence[str],
    strict: bool = False,
) -> int:
    from ..planfile import dump_plan

    to_stdout = out == "-"
    if to_stdout and fmt == "markdown":
        # the report goes to stderr when stdout holds the plan file: a PR comment there
        # would be lost in a log, so say so instead of quietly moving it
        raise UserError(
            "-o - writes the plan file to stdout, which leaves --format markdown nowhere "
            "to go: save the plan with -o plan.json and redirect the markdown, or leave out -o"
        )
    with annotated(fmt):
        spec, provider, result = plan_from_specs(opts, specs, "plan", only, replace)
        provider.close()
        keep_until_exit(spec, result)
        echo_notes(result.ended)
        meta = new_meta(result.missing)
        view = make_view(
            result.plan,
            meta,
            saved=False,
            force=force,
            allow_missing=allow_missing,
            strict_notes=result.ended if strict else (),
        )
        echo_warnings(view)
        # a failing plan is not saved: apply would refuse it, and a file that exists
        # reads as "ready to apply"
        save = out is not None and not view.problems
        if not (to_stdout and fmt == "json" and save):  # else the same document twice
            click.echo(render(result.plan, fmt, opts, view), err=to_stdout)
        if out is not None and not save:
            echo_err(
                f"The plan fails, so it was not saved to {'stdout' if to_stdout else out}: "
                "apply would refuse it (the reasons follow)."
            )
        elif to_stdout:
            click.echo(dump_plan(result.plan, **meta, problems=view.problem_docs), nl=False)
        elif out:
            try:
                Path(out).write_text(dump_plan(result.plan, **meta, problems=view.problem_docs), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"{out}: cannot write the plan file: {exc.strerror}") from None
            if not opts.quiet:
                echo_err(f"Saved the plan to {out}. Apply exactly this plan with: reconciler apply {out}")
    if report_problems(result.plan, view, fmt, force):
        return EXIT_ERROR
    if detailed_exitcode and result.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK
