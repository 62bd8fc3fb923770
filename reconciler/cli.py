"""Command line: parse, call the engine, pick a renderer, return the exit code.

Exit codes (README "Exit codes"): 0 ok / no changes · 2 changes present (plan with
--detailed-exitcode) · 1 error: invalid spec, blocked change, safety limit, stale
items, failed writes, bad usage. Usage errors are 1, not click's usual 2, so that a CI
gate never mistakes a typo for "changes present".
"""
from __future__ import annotations

import gc
import json
import logging
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping, NoReturn, Sequence

import click

from . import __version__
from .errors import UserError, UserErrors
from .model import ApplyReport

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
FORMATS = ("text", "json", "markdown", "github")

EPILOG_EXIT = """\b
Exit codes:
  0  success; with --detailed-exitcode: no changes
  1  error: invalid spec, blocked change, safety limit, stale or failed items
  2  (plan --detailed-exitcode only) changes are present"""
EPILOG_APPLY_EXIT = """\b
Exit codes:
  0  applied (or nothing to apply)
  1  error: invalid spec, blocked change, safety limit, stale or failed items, cancelled"""


class Failed(Exception):
    """Output already printed; only the exit code is left to return."""

    def __init__(self, code: int = EXIT_ERROR) -> None:
        self.code = code


def color_wanted(is_tty: bool, env: Mapping[str, str], no_color: bool) -> bool:
    """Colour only on a terminal, and not when the user or the terminal says no:
    `--no-color`, NO_COLOR (https://no-color.org) or TERM=dumb."""
    return is_tty and not no_color and "NO_COLOR" not in env and env.get("TERM") != "dumb"


@dataclass
class Options:
    quiet: bool
    verbose: int
    no_color: bool = False

    @property
    def color(self) -> bool:
        return color_wanted(sys.stdout.isatty(), os.environ, self.no_color)

    def progress(self):
        from .progress import Progress

        return Progress.for_terminal(self.quiet)


class OutPath(click.Path):
    """A file to write, `-` meaning stdout, refusing what can only be a mistyped flag:
    `-out=plan.json` reaches us as `-o ut=plan.json` and `-o=plan.json` as
    `-o =plan.json`, and writing a file named `ut=plan.json` helps nobody."""

    _MISTYPED = re.compile(r"(?:ut|utput)?=(?P<rest>.*)", re.DOTALL)

    def __init__(self) -> None:
        super().__init__(dir_okay=False, allow_dash=True)

    def convert(self, value, param, ctx):
        mistyped = self._MISTYPED.fullmatch(value) if isinstance(value, str) else None
        if mistyped:
            rest = mistyped.group("rest") or "FILE"
            self.fail(f"{value!r} looks like a mistyped flag; write `-o {rest}` or `--out={rest}`", param, ctx)
        return super().convert(value, param, ctx)


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


QUIET_HELP = "No progress output and no notes on stderr."
VERBOSE_HELP = "Log each HTTP request (method, path, status, ms) on stderr; -vv for more."
NO_COLOR_HELP = "No colour (also when NO_COLOR is set or TERM=dumb)."


def _late_global(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """A global option given after the subcommand (`plan spec.yaml -q`): people add
    flags at the end of a command line, so it counts as if given before."""
    if not value:
        return
    opts = ctx.find_object(Options)
    if opts is None:
        return
    if param.name == "quiet":
        opts.quiet = True
    elif param.name == "verbose":
        opts.verbose += int(value)  # type: ignore[call-overload]
    else:
        opts.no_color = True
    _configure_logging(opts.verbose, opts.quiet)


def global_options(command: click.Command) -> click.Command:
    """-q, -v and --no-color on a subcommand too (see _late_global), listed last in its
    --help."""
    for decl, kwargs in (
        (("-q", "--quiet"), {"is_flag": True, "help": QUIET_HELP}),
        (("-v", "--verbose"), {"count": True, "help": VERBOSE_HELP}),
        (("--no-color", "no_color"), {"is_flag": True, "help": NO_COLOR_HELP}),
    ):
        command = click.option(*decl, expose_value=False, callback=_late_global, **kwargs)(command)
    return command


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG_EXIT,
)
@click.version_option(__version__, "--version", prog_name="reconciler")
@click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)
@click.option("-v", "--verbose", count=True, help=VERBOSE_HELP)
@click.option("--no-color", is_flag=True, help=NO_COLOR_HELP)
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int, no_color: bool) -> None:
    """Infrastructure-as-code for evaluation queues.

    Keep the desired status, tags and locks of your submissions in YAML, see the
    smallest set of changes with `plan`, and make them with `apply`: etag-guarded
    batch writes that never overwrite someone else's concurrent edit.

    \b
    Quick start (embedded local backend, no credentials):
      reconciler validate examples/challenge/spec.yaml
      reconciler plan examples/challenge/spec.yaml
      reconciler apply examples/challenge/spec.yaml --auto-approve
    """
    ctx.obj = Options(quiet=quiet, verbose=verbose, no_color=no_color)
    _configure_logging(verbose, quiet)


# ---------------------------------------------------------------------- helpers
_LOG_HANDLER: logging.Handler | None = None


def _configure_logging(verbose: int, quiet: bool) -> None:
    """Default: the notes the HTTP layer logs at WARNING (a retry about to wait a second
    or more, a throttle being waited out) as "note: …" lines, so a run that stalls on
    the network says why instead of going silent for half a minute; -q: none of them.
    -v: one line per HTTP request (`reconciler.http`) and urllib3's retry warnings;
    -vv: urllib3's debug lines too. urllib3 is never heard without -v.

    Our own handler on our loggers rather than logging.basicConfig, which does nothing
    once the root logger has a handler; it is replaced on each run, so it always writes
    to the current stderr."""
    global _LOG_HANDLER
    loggers = {name: logging.getLogger(name) for name in ("reconciler", "urllib3")}
    if _LOG_HANDLER is not None:
        for logger in loggers.values():
            logger.removeHandler(_LOG_HANDLER)
        _LOG_HANDLER = None
    if verbose:
        _LOG_HANDLER = logging.StreamHandler(sys.stderr)
        _LOG_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        loggers["reconciler"].setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        loggers["urllib3"].setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
        for logger in loggers.values():
            logger.addHandler(_LOG_HANDLER)
        return
    loggers["urllib3"].setLevel(logging.NOTSET)
    # With -q a handler that drops everything, else logging's last resort would print
    _LOG_HANDLER = logging.NullHandler() if quiet else logging.StreamHandler(sys.stderr)
    _LOG_HANDLER.setFormatter(logging.Formatter("note: %(message)s"))
    loggers["reconciler"].setLevel(logging.WARNING)
    loggers["reconciler"].addHandler(_LOG_HANDLER)


_TOP_LEVEL_KEY = re.compile(rb"^([A-Za-z_][\w-]*)[ \t]*:", re.MULTILINE)


def _file_kind(path: str) -> str | None:
    """"plan", "spec" or "include" from a file's first 64 KiB, or None when it is none
    of them recognisably. Used only to say which command fits a file given to the wrong
    one, instead of a dozen errors about fields the file was never meant to have."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024).removeprefix(b"\xef\xbb\xbf")
    except OSError:
        return None
    if head.lstrip().startswith(b"{"):
        return "plan" if b'"format_version"' in head else None
    keys = {m.group(1) for m in _TOP_LEVEL_KEY.finditer(head)}
    if b"queues" in keys or b"version" in keys:
        return "spec"
    return "include" if keys == {b"submissions"} else None


def _wrong_kind_for_spec(path: str) -> UserError | None:
    kind = _file_kind(path)
    if kind == "plan":
        return UserError(
            f"{path} is a plan file, not a spec: print it with `reconciler show {path}` "
            f"or apply it with `reconciler apply {path}`"
        )
    if kind == "include":
        ctx = click.get_current_context(silent=True)
        command = ctx.info_name if ctx is not None else "plan"
        return UserError(
            f"{path} is an include file (only `submissions:`): {command} the spec that "
            "lists it under `include:`"
        )
    return None


def _load_specs(paths: Sequence[str]):
    from .resolve import find_oscillations
    from .spec import load_spec

    specs, errors = [], []
    for path in paths:
        wrong = _wrong_kind_for_spec(path)
        if wrong is not None:
            errors.append(wrong)
            continue
        try:
            spec = load_spec(path)
        except UserErrors as exc:
            errors.extend(exc.errors)
            continue
        except UserError as exc:
            errors.append(exc)
            continue
        for queue in spec.queues:
            errors.extend(find_oscillations(queue))
        specs.append(spec)
    if errors:
        raise UserErrors(errors)
    return specs


def _id_list(values: Sequence[str]) -> tuple[str, ...]:
    """`--only 1,2 --only 3` → ("1", "2", "3"): commas separate ids as well as repeats,
    because that is how people write lists on a command line."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _check_only(unmatched: Sequence[str]) -> None:
    """An `--only` id that no queue lists is a typo: planning nothing would print
    "No changes" and pass a CI gate."""
    if unmatched:
        what = "this id" if len(unmatched) == 1 else "these ids"
        raise UserError(f"--only {', '.join(unmatched)}: no queue in the spec has an item with {what}")


def _check_replace(replace: frozenset[str], plan) -> None:
    """`--replace ID` names an item whose change the lock blocks; anything else is a
    typo or a stale command line, and changing a locked item is never done silently."""
    relocked = {c.item_id for c in plan.changes if c.relock}
    unmatched = sorted(replace - relocked)
    if unmatched:
        what = "this id" if len(unmatched) == 1 else "these ids"
        raise UserError(
            f"--replace {', '.join(unmatched)}: no change to {what} is blocked by a lock "
            "(--replace is for changing an item that stays locked)"
        )


def _plan_from_specs(opts: Options, paths: Sequence[str], only: Sequence[str], replace: Sequence[str] = ()):
    from .planner import build_plan, merge_specs
    from .providers import open_provider

    only = _id_list(only)
    replace_ids = frozenset(_id_list(replace))
    spec = merge_specs(_load_specs(paths))
    progress = opts.progress()
    provider = open_provider(spec.provider)
    try:
        result = build_plan(
            spec,
            provider,
            only=frozenset(only) if only else None,
            progress=lambda q: progress.line(f"Reading queue {q.id}"),
            replace=replace_ids,
        )
        _check_only(result.unmatched_only)
        _check_replace(replace_ids, result.plan)
    except BaseException:
        provider.close()
        raise
    finally:
        progress.close()
    return spec, provider, result


def _echo_warnings(warnings) -> None:
    """Spec entries the queue lacks, at their lines, on stderr in every format and even
    with -q: they are findings about the spec (a mistyped id), not progress notes."""
    for warning in warnings:
        _echo_err(f"warning: {warning}")


@dataclass(frozen=True)
class View:
    """What every rendering of one plan shares besides the plan itself: its plan file
    metadata, the header naming the service, and why the plan fails (if it does)."""

    meta: Mapping
    header: str
    problems: tuple[str, ...] = ()

    @property
    def warnings(self) -> tuple:
        return tuple(self.meta.get("warnings", ()))


def _view(plan, meta: Mapping, *, saved: bool, force: bool, fail_on_missing: bool = False) -> View:
    from .render.text import plan_header

    header = plan_header(
        plan, tool_version=meta["tool_version"], created_at=meta["created_at"] if saved else None
    )
    missing = meta.get("warnings", ()) if fail_on_missing else ()
    return View(meta, header, tuple(_gate(plan, force, missing)))


def _render(plan, fmt: str, opts: Options, view: View) -> str:
    if fmt == "json":
        from .render.json import render_plan_json

        return render_plan_json(plan, **view.meta)
    if fmt == "markdown":
        from .render.markdown import render_plan_markdown

        return render_plan_markdown(plan, header=view.header, problems=view.problems, warnings=view.warnings)
    if fmt == "github":
        from .render.github import render_plan_github

        _write_step_summary(plan, view)
        return render_plan_github(plan, view.problems, view.warnings)
    from .render.text import render_plan_text

    return render_plan_text(plan, color=opts.color, header=view.header)


def _write_step_summary(plan, view: View) -> None:
    """GitHub shows $GITHUB_STEP_SUMMARY on the run page; append the markdown plan."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        from .render.markdown import render_plan_markdown

        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(render_plan_markdown(
                    plan, header=view.header, problems=view.problems, warnings=view.warnings
                ) + "\n")
        except OSError as exc:
            raise UserError(f"GITHUB_STEP_SUMMARY {target}: cannot append the plan: {exc.strerror}") from None


def _fail_if_problems(plan, view: View, fmt: str, force: bool) -> None:
    """plan and show alike: each problem on stderr, safety limits also as annotations
    under --format github (blocked changes are annotated at their spec lines by the
    renderer), and exit 1."""
    for problem in view.problems:
        _echo_err(f"error: {problem}")
    if fmt == "github" and not force:
        from .render.github import command

        for violation in plan.safety_violations():
            click.echo(command("error", violation, title="safety limit"))
    if view.problems:
        raise Failed()


def _saved_meta(loaded) -> dict:
    """What a saved plan says about itself, as _plan_meta says it of a new one."""
    return {"tool_version": loaded.tool_version, "created_at": loaded.created_at, "warnings": loaded.warnings}


def _plan_meta(warnings: Sequence = ()) -> dict:
    return {
        "tool_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "warnings": tuple(warnings),
    }


def _gate(plan, force: bool, missing: Sequence = ()) -> list[str]:
    """Problems that make plan fail and apply refuse (blocked changes, safety, and with
    --fail-on-missing the spec entries their queue lacks)."""
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} warning(s) about spec entries for submissions not in their queue "
            "(--fail-on-missing)"
        )
    locked = [c for c in plan.blocked if c.refused is None]
    if locked:
        ids = ", ".join(c.item_id for c in locked[:10]) + (" …" if len(locked) > 10 else "")
        problems.append(
            f"{len(locked)} change(s) blocked by locks ({ids}): set `locked: false` "
            "for an item to change it, or stop changing it"
        )
    refused = [c for c in plan.blocked if c.refused is not None]
    if refused:
        shown = "; ".join(f"{c.item_id}: {c.refused}" for c in refused[:5]) + (" …" if len(refused) > 5 else "")
        problems.append(
            f"{len(refused)} change(s) the service would refuse ({shown}): stop asking for them"
        )
    if not force:
        problems += [f"{v} (use --force to override)" for v in plan.safety_violations()]
    return problems


@contextmanager
def _annotated(fmt: str) -> Iterator[None]:
    """With --format github, errors also go to stdout as workflow annotations (at their
    file, line and column), so a failing check points at the spec line; stderr and the
    exit code stay as in every other format."""
    try:
        yield
    except UserError as exc:
        if fmt == "github":
            from .render.github import github_errors_for

            click.echo(github_errors_for([exc]))
        raise


def _is_plan_file(path: str) -> bool:
    if path.endswith(".json"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


# --------------------------------------------------------------------- commands
@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler validate specs/*.yaml")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "github"]), default="text",
              help="github: report errors as workflow annotations (::error file=…,line=…::).")
@click.pass_obj
def validate(opts: Options, specs: tuple[str, ...], fmt: str) -> None:
    """Check spec files offline: YAML, schema, service rules, rule oscillation.

    Reads nothing but the spec files (and their includes) and sends nothing.
    """
    with _annotated(fmt):
        loaded = _load_specs(specs)
    for spec in loaded:
        rules = sum(len(q.rules) for q in spec.queues)
        entries = sum(len(q.submissions) for q in spec.queues)
        if not opts.quiet:
            click.echo(
                f"{spec.files[0]}: valid ({len(spec.queues)} queue(s), {rules} rule(s), "
                f"{entries} explicit submission(s))"
            )


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler plan spec.yaml\n"
    "  reconciler plan spec.yaml -o plan.json        # save for `apply plan.json`\n"
    "  reconciler plan spec.yaml --detailed-exitcode # CI: 0 none, 2 changes, 1 error\n"
    "  reconciler plan spec.yaml --format markdown > plan.md\n"
    "  reconciler plan spec.yaml --only 9700001,9700002\n"
    "  reconciler plan spec.yaml --replace 9700003   # correct a locked item, keep it locked\n\n" + EPILOG_EXIT
)
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=OutPath(),
              help="Save the plan as a JSON plan file for `apply PLANFILE` ('-': the plan file on stdout, the report on stderr).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="json: the plan file document only on stdout; markdown: for PR comments; github: workflow annotations.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option("--only", multiple=True, metavar="ID[,ID…]", help="Plan only these submission ids (repeatable or comma-separated); an id no queue has is an error.")
@click.option("--force", is_flag=True, help="Do not fail on safety limits (max_change_percent, max_changes).")
@click.option("--fail-on-missing", is_flag=True,
              help="Fail when a spec entry names a submission its queue does not have (a mistyped id).")
@click.option("--replace", multiple=True, metavar="ID[,ID…]",
              help="Change these locked items anyway: unlock, change and relock in one write (shown with `!`).")
@click.pass_obj
def plan(opts: Options, specs, out, fmt, detailed_exitcode, only, force, fail_on_missing, replace) -> None:
    """Show the smallest set of changes that makes live state match the spec.

    Reads every page of each queue once and writes nothing. Fails (exit 1) when a
    change is blocked by a lock or the plan exceeds the queue's safety limits.
    """
    with _annotated(fmt):
        spec, provider, result = _plan_from_specs(opts, specs, only, replace)
        provider.close()
        _echo_warnings(result.missing)
        meta = _plan_meta(result.missing)
        view = _view(result.plan, meta, saved=False, force=force, fail_on_missing=fail_on_missing)
        to_stdout = out == "-"
        if not (to_stdout and fmt == "json"):  # else the same document twice
            click.echo(_render(result.plan, fmt, opts, view), err=to_stdout)
        if to_stdout:
            from .planfile import dump_plan

            click.echo(dump_plan(result.plan, **meta), nl=False)
        elif out:
            from .planfile import dump_plan

            try:
                Path(out).write_text(dump_plan(result.plan, **meta), encoding="utf-8")
            except OSError as exc:
                raise UserError(f"{out}: cannot write the plan file: {exc.strerror}") from None
            if not opts.quiet:
                _echo_err(f"Saved the plan to {out}. Apply exactly this plan with: reconciler apply {out}")
    _fail_if_problems(result.plan, view, fmt, force)
    if detailed_exitcode and result.plan.has_changes:
        raise Failed(EXIT_CHANGES)


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler apply spec.yaml                 # plan, confirm, apply\n"
    "  reconciler apply spec.yaml --auto-approve  # no prompt (CI)\n"
    "  reconciler apply spec.yaml --only 9700003  # just this item\n"
    "  reconciler apply plan.json                 # exactly the reviewed plan\n\n" + EPILOG_APPLY_EXIT
)
@click.argument("targets", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--force", is_flag=True, help="Do not fail on safety limits (max_change_percent, max_changes).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Format of the final report on stdout.")
@click.option("--only", multiple=True, metavar="ID[,ID…]",
              help="With SPEC files: change only these submission ids (repeatable or comma-separated).")
@click.option("--fail-on-missing", is_flag=True,
              help="Fail when a spec entry names a submission its queue does not have (a mistyped id).")
@click.option("--replace", multiple=True, metavar="ID[,ID…]",
              help="Change these locked items anyway: unlock, change and relock in one write (shown with `!`).")
@click.pass_obj
def apply(opts: Options, targets, auto_approve, force, fmt, only, fail_on_missing, replace) -> None:
    """Make live state match a spec, or apply a saved plan file.

    With SPEC files: plans, asks for confirmation, writes etag-guarded batches, and
    re-reads, re-diffs and retries items that someone else changed meanwhile (at most
    3 rounds). With one PLANFILE (from `plan -o`): writes exactly the reviewed changes
    without reading first; an item changed since the plan was made is skipped and
    reported as stale (exit 1), nothing else about it is changed.
    """
    from .apply import apply_plan

    if len(targets) == 1 and _is_plan_file(targets[0]):
        if only or replace:
            flag = "--only" if only else "--replace"
            raise UserError(
                f"{targets[0]}: {flag} works on a spec, but a plan file is applied exactly as "
                f"reviewed; make the plan with `reconciler plan {flag} ID -o FILE`"
            )
        plan_obj, queues, provider, rediff, meta = _open_plan_file(targets[0])
        view = _view(plan_obj, meta, saved=True, force=force, fail_on_missing=fail_on_missing)
    else:
        spec, provider, result = _plan_from_specs(opts, targets, only, replace)
        plan_obj, queues, rediff = result.plan, result.queues, result.rediffers(frozenset(_id_list(replace)))
        meta = _plan_meta(result.missing)
        view = _view(plan_obj, meta, saved=False, force=force, fail_on_missing=fail_on_missing)
    with provider:
        _echo_warnings(view.warnings)
        if fmt == "text" or not auto_approve:
            from .render.text import render_plan_text

            click.echo(render_plan_text(plan_obj, color=opts.color, header=view.header), err=fmt != "text")
        if view.problems:
            for problem in view.problems:
                _echo_err(f"error: {problem}")
            _echo_err("Nothing was applied.")
            raise Failed()
        if not plan_obj.has_changes:
            _echo_report(ApplyReport(results=()), fmt, opts)
            return
        if not auto_approve:
            _confirm()
        progress = opts.progress()
        total = len([c for c in plan_obj.changes if not c.blocked])
        try:
            report = apply_plan(
                plan_obj, provider, queues, rediff=rediff,
                progress=progress.line("Writing", total),
            )
        finally:
            progress.close()
    _echo_report(report, fmt, opts)
    stale = report.count("stale")
    if stale:
        # what to do next: the stale items' new state has not been reviewed by anyone
        click.echo(
            f"Nothing was written to them: run `reconciler plan` again to review the new state "
            f"of the {stale} stale item{'s' if stale != 1 else ''}, then apply the new plan.",
            err=fmt != "text",
        )
    if not report.ok:
        raise Failed()


def _echo_report(report: ApplyReport, fmt: str, opts: Options) -> None:
    if fmt == "json":
        from .render.report import report_to_dict

        click.echo(json.dumps(report_to_dict(report), indent=2, sort_keys=True))
    else:
        from .render.report import render_report_text

        click.echo(render_report_text(report, color=opts.color))


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm() -> None:
    """Only "yes" applies; anything else, end of input (Ctrl-D) or Ctrl-C cancels with
    the one message that says nothing was written (click would say "Aborted.")."""
    if not _stdin_is_terminal():
        raise UserError(
            "refusing to apply without confirmation: stdin is not a terminal "
            "(review the plan, then pass --auto-approve)"
        )
    try:
        answer = click.prompt("Apply these changes? Only 'yes' will be accepted", default="", show_default=False, err=True)
    except click.Abort:
        _echo_err("")  # the prompt's line was left open
        answer = ""
    if answer.strip() != "yes":
        raise UserError("apply cancelled; nothing was written")


def _open_plan_file(path: str):
    from .model import QueueSpec, Source
    from .planfile import load_plan
    from .providers import open_provider_for_plan

    loaded = load_plan(_read_plan_file(path), path)
    plan_obj = loaded.plan
    queues = {
        q.queue_id: QueueSpec(
            id=q.queue_id,
            source=Source(path, 1),
            lock_key=q.lock_key,
            safety=q.safety,
        )
        for q in plan_obj.queues
    }
    provider = open_provider_for_plan(plan_obj)
    return plan_obj, queues, provider, None, _saved_meta(loaded)


def _refuse_spec_as_plan_file(path: str) -> None:
    if _file_kind(path) in ("spec", "include"):
        raise UserError(
            f"{path} is a spec, not a plan file: plan it with `reconciler plan {path}` "
            "(add `-o plan.json` to save the plan)"
        )


def _read_plan_file(path: str) -> bytes:
    """The file's bytes, but never more than one past the size cap: load_plan refuses
    an oversized file from those alone, so a huge one is not read into memory."""
    from .planfile import MAX_PLAN_BYTES

    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read plan file: {exc.strerror}") from None


@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler show plan.json --format markdown")
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.pass_obj
def show(opts: Options, planfile: str, fmt: str) -> None:
    """Print a saved plan file (validated first; nothing is sent).

    Exits 1, as `plan` does, when the plan fails (a blocked change, a safety limit):
    `apply` would refuse it.
    """
    from .planfile import load_plan

    _refuse_spec_as_plan_file(planfile)
    data = _read_plan_file(planfile)
    loaded = load_plan(data, planfile)
    view = _view(loaded.plan, _saved_meta(loaded), saved=True, force=False)
    _echo_warnings(view.warnings)
    if fmt == "json":
        click.echo(data.decode("utf-8").rstrip("\n"))
    else:
        click.echo(_render(loaded.plan, fmt, opts, view))
    _fail_if_problems(loaded.plan, view, fmt, False)


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler export spec.yaml -o current.yaml   # adopt an existing queue\n"
    "  reconciler export spec.yaml -o -              # print it"
)
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=OutPath(),
              help="Where to write the exported spec ('-' for stdout).")
@click.pass_obj
def export(opts: Options, spec_path: str, out: str) -> None:
    """Write the live state of a spec's queues as a spec of explicit entries.

    Brings an existing queue under management: planning the exported spec shows no
    changes. Entries are sorted by id and minimal (no empty tags, no `locked: false`).
    Reads each queue once; writes nothing to the service. The output's first line
    points editors at `spec.schema.json`, which is written beside it (what
    `reconciler schema` prints); with `-o -` create it yourself.
    """
    from .export import export_spec, unstatable_tags
    from .providers import open_provider

    (spec,) = _load_specs([spec_path])
    out_dir = os.getcwd() if out == "-" else os.path.dirname(os.path.abspath(out))
    progress = opts.progress()
    with open_provider(spec.provider) as provider:
        try:
            queues = [(q, provider.list(q, progress.line(f"Reading queue {q.id}"))) for q in spec.queues]
        finally:
            progress.close()
    text = export_spec(spec.provider, queues, out_dir)
    if not opts.quiet:
        for warning in unstatable_tags(queues):
            _echo_err(f"warning: {warning}")
    if out == "-":
        click.echo(text, nl=False)
    else:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{out}: cannot write the exported spec: {exc.strerror}") from None
        _write_schema_beside(out)
        if not opts.quiet:
            items = sum(len(items) for _, items in queues)
            _echo_err(f"Wrote {items} submission(s) of {len(queues)} queue(s) to {out}.")


def _write_schema_beside(out: str) -> None:
    """The exported spec's first line points editors at `spec.schema.json` beside it;
    write that file (what `reconciler schema` prints) so the pointer resolves, replacing
    an older copy, since the schema belongs to this reconciler version."""
    path = Path(out).parent / "spec.schema.json"
    text = _schema_text("spec") + "\n"
    try:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write the spec schema: {exc.strerror}") from None


def _schema_text(which: str) -> str:
    from importlib.resources import files

    return (files("reconciler") / "schemas" / f"{which}.schema.json").read_text("utf-8").rstrip("\n")


@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler schema > spec.schema.json")
@click.argument("which", type=click.Choice(["spec", "plan"]), default="spec")
def schema(which: str) -> None:
    """Print the JSON Schema of spec files (default) or plan files.

    Point your editor's YAML language server at it for completion and checks:
    add `# yaml-language-server: $schema=spec.schema.json` as a spec's first line.
    """
    click.echo(_schema_text(which))


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler serve --token dev --synthetic 9615000:1000\n"
    "  reconciler serve --service workflow-results --token dev --synthetic frb-search:500\n"
    "  reconciler serve --token dev --seed examples/challenge/live.yaml --port 8080\n"
    "  reconciler serve --token dev --fail-rate 0.1 --drop-rate 0.05 --max-concurrent 3"
)
@click.option("--service", default="synapse", show_default=True, metavar="TYPE",
              help="Which service to fake: synapse, workflow-results, datamaker, supervisely or omics.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback must be asked for explicitly.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: a free port).")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store (default: a temporary file).")
@click.option("--token", required=True, envvar="RECONCILER_SANDBOX_TOKEN", help="Bearer token clients must send (or RECONCILER_SANDBOX_TOKEN).")
@click.option("--seed", type=click.Path(exists=True, dir_okay=False), help="Seed file (JSON or YAML) when the store is new.")
@click.option("--synthetic", multiple=True, metavar="QUEUE:COUNT", help="COUNT new items in queue QUEUE (Synapse: RECEIVED submissions, ids from 9700001; docs/sandbox.md says what each fake makes).")
@click.option("--log-requests", type=click.Path(dir_okay=False), help="Append one JSON line per request to this file.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of requests answered 503 before processing.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of requests processed, then dropped without a response.")
@click.option("--latency-ms", type=click.IntRange(0), default=0, help="Added latency per request.")
@click.option("--max-concurrent", type=click.IntRange(1), default=None, help="429 beyond this many concurrent requests (Synapse: 3).")
@click.option("--max-per-minute", type=click.IntRange(1), default=None, help="429 beyond this many requests a minute (Synapse: 600).")
@click.option("--random-seed", type=int, default=None, help="Seed of the fault generator, for reproducible runs.")
@click.option("--no-lock-refusal", is_flag=True, help="workflow-results: accept updates that keep a locked work locked.")
def serve(service, host, port, db, token, seed, synthetic, log_requests, fail_rate, drop_rate, latency_ms,
          max_concurrent, max_per_minute, random_seed, no_lock_refusal) -> None:
    """Run a faithful fake of a service for rehearsals, tests and demos.

    By default the evaluation-queue endpoints of Synapse's REST API under /repo/v1 from a
    local SQLite store, with Synapse's etags, batch rules and error codes; --service
    picks another service's fake (docs/sandbox.md). Every fake takes the same fault
    injection, latency and throttling options. Point a spec at it with e.g.
    `provider: {type: synapse, endpoint: http://127.0.0.1:PORT/repo/v1}` and
    SYNAPSE_AUTH_TOKEN set to the token.
    """
    from .sandbox.server import SandboxConfig, serve_forever

    evals = []
    for entry in synthetic:
        queue_id, _, count = entry.rpartition(":")
        if not (queue_id and count.isdigit()):
            raise click.BadParameter(f"expected QUEUE:COUNT, got {entry!r}", param_hint="--synthetic")
        evals.append((queue_id, int(count)))
    serve_forever(SandboxConfig(
        service=service, host=host, port=port, db_path=db, token=token, seed=seed, synthetic=evals,
        log_requests=log_requests, fail_rate=fail_rate, drop_rate=drop_rate,
        latency_ms=latency_ms, max_concurrent=max_concurrent, max_per_minute=max_per_minute,
        random_seed=random_seed, lock_refuses_updates=not no_lock_refusal,
    ))


# ------------------------------------------------------------------------ entry
def run() -> NoReturn:
    """The `reconciler` command: exit with main's code, minus the interpreter's last
    garbage collection.

    At exit CPython runs a full cycle collection over every object still alive (all of
    click, requests and PyYAML included) although the process is about to end: 30-40 ms
    of every command's wall time, more than its own plan takes on a small queue. Frozen
    objects are skipped; everything else about exiting (flushing output, closing files
    and connections, atexit handlers) happens as usual.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


def _long_option_names(group: click.Group) -> frozenset[str]:
    names = {o for p in group.params for o in getattr(p, "opts", ()) if o.startswith("--")}
    for command in group.commands.values():
        names |= {o for p in command.params for o in getattr(p, "opts", ()) if o.startswith("--")}
    return frozenset(names)


def _check_single_dash(args: Sequence[str]) -> None:
    """Terraform spells its flags with one dash (`-auto-approve`); click would read that
    as `-a` and answer "No such option: -a", so name the flag that was meant."""
    names = _long_option_names(cli)
    for arg in args:
        if arg == "--":
            return
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            if f"-{arg.partition('=')[0]}" in names:
                raise UserError(f"no such option {arg}: did you mean `-{arg}`?")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; every user error is one line, no traceback."""
    try:
        _check_single_dash(list(argv) if argv is not None else sys.argv[1:])
        cli.main(args=list(argv) if argv is not None else None, prog_name="reconciler", standalone_mode=False)
    except Failed as exc:
        return exc.code
    except UserErrors as exc:
        for error in exc.errors:
            _echo_err(f"error: {error}")
        return EXIT_ERROR
    except UserError as exc:
        _echo_err(f"error: {exc}")
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        _echo_err("Aborted.")
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except KeyboardInterrupt:
        _echo_err("Interrupted.")
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    return EXIT_OK
