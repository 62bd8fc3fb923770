"""The command line's wiring: click parses the arguments and hands them to one plain
function per command (commands/), whose exit code error_handler.py settles.

Global options may come before or after the subcommand; Terraform's single-dash
spellings are answered with the flag they mean.
"""

from __future__ import annotations

import gc
import re
import sys
from typing import Any, NoReturn
from collections.abc import Sequence

import click

from . import __version__
from .commands.options import Options, configure_logging
from .commands.views import FORMATS
from .error_handler import run_command
from .errors import UserError
from .gcpause import one_command

EPILOG_EXIT = """\b
Exit codes:
  0  success; with --detailed-exitcode: no changes
  1  error: invalid spec, blocked change, safety limit, stale or failed items
  2  (plan --detailed-exitcode only) changes are present
  3  a bug in reconciler (the message says where its traceback was written)"""
EPILOG_APPLY_EXIT = """\b
Exit codes:
  0  applied (or nothing to apply)
  1  error: invalid spec, blocked change, safety limit, stale or failed items, cancelled
  3  a bug in reconciler (the message says where its traceback was written)
  130  interrupted (Ctrl-C, SIGTERM): the write in flight finished; the report says the rest"""


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


ALLOW_MISSING_HELP = (
    "Let spec entries name submissions their queue does not have (warnings, not errors): "
    "reconciler cannot create items, so by default such an entry is an error."
)
QUIET_HELP = "No progress output and no notes on stderr; `apply --auto-approve` does not echo the plan."
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
    configure_logging(opts.verbose, opts.quiet)


def global_options(command: click.Command) -> click.Command:
    """-q, -v and --no-color on a subcommand too (see _late_global), listed last in its
    --help."""
    options: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
        (("-q", "--quiet"), {"is_flag": True, "help": QUIET_HELP}),
        (("-v", "--verbose"), {"count": True, "help": VERBOSE_HELP}),
        (("--no-color", "no_color"), {"is_flag": True, "help": NO_COLOR_HELP}),
    )
    for decl, kwargs in options:
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
    configure_logging(verbose, quiet)


def _sandbox_services(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of `serve --service` (the sandbox is imported only here)."""
    from .sandbox.server import SERVICES

    return [name for name in sorted(SERVICES) if name.startswith(incomplete)]


# --------------------------------------------------------------------- commands
@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler validate specs/*.yaml")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    help="github: report errors as workflow annotations (::error file=…,line=…::); "
    "json: one document with `valid` and every problem's file, line, column and message.",
)
@click.pass_obj
def validate(opts: Options, specs: tuple[str, ...], fmt: str) -> int:
    """Check spec files offline: YAML, schema, service rules, rule oscillation.

    Reads nothing but the spec files (and their includes) and sends nothing.
    """
    from .commands.validate import validate as run_validate

    return run_validate(opts, specs, fmt)


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
@click.option(
    "-o",
    "--out",
    type=OutPath(),
    help="Save the plan as a JSON plan file for `apply PLANFILE` ('-': the plan file on stdout, the report on stderr).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="json: the plan file document only on stdout; markdown: for PR comments; github: workflow annotations.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option(
    "--only",
    multiple=True,
    metavar="ID[,ID…]",
    help="Plan only these submission ids (repeatable or comma-separated); an id no queue has is an error.",
)
@click.option("--force", is_flag=True, help="Do not fail on safety limits (max_change_percent, max_changes).")
@click.option("--allow-missing", is_flag=True, help=ALLOW_MISSING_HELP)
@click.option(
    "--replace",
    multiple=True,
    metavar="ID[,ID…]",
    help="Change these locked items anyway: unlock, change and relock in one write (shown with `!`); "
    "in a spec, `replace: true` in the entry.",
)
@click.option(
    "--strict", is_flag=True, help="Fail on entries settled otherwise (a cancel for a batch that already finished)."
)
@click.pass_obj
def plan(opts: Options, specs, out, fmt, detailed_exitcode, only, force, allow_missing, replace, strict) -> int:
    """Show the smallest set of changes that makes live state match the spec.

    Reads every page of each queue once and writes nothing. Fails (exit 1) when a
    change is blocked by a lock or the plan exceeds the queue's safety limits.
    """
    from .commands.plan import plan as run_plan

    return run_plan(
        opts,
        specs,
        out=out,
        fmt=fmt,
        detailed_exitcode=detailed_exitcode,
        only=only,
        force=force,
        allow_missing=allow_missing,
        replace=replace,
        strict=strict,
    )


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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of the final report on stdout.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="ID[,ID…]",
    help="With SPEC files: change only these submission ids (repeatable or comma-separated).",
)
@click.option("--allow-missing", is_flag=True, help=ALLOW_MISSING_HELP)
@click.option(
    "--replace",
    multiple=True,
    metavar="ID[,ID…]",
    help="Change these locked items anyway: unlock, change and relock in one write (shown with `!`); "
    "in a spec, `replace: true` in the entry.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="With SPEC files: fail on entries settled otherwise (a cancel for a batch that already finished).",
)
@click.option(
    "--wait-lock",
    metavar="DURATION",
    default=None,
    help="When another run holds the spec's or plan's lock, wait up to DURATION (30s, 5m) instead of refusing.",
)
@click.option(
    "--journal",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Record what was written in this journal folder (default: .reconciler/journal/ beside the first file).",
)
@click.pass_obj
def apply(
    opts: Options, targets, auto_approve, force, fmt, only, allow_missing, replace, strict, wait_lock, journal
) -> int:
    """Make live state match a spec, or apply a saved plan file.

    With SPEC files: plans, asks for confirmation, writes etag-guarded batches, and
    re-reads, re-diffs and retries items that someone else changed meanwhile (at most
    3 rounds). With one PLANFILE (from `plan -o`): writes exactly the reviewed changes
    without reading first; an item changed since the plan was made is skipped and
    reported as stale (exit 1), nothing else about it is changed.

    One run per spec or plan file at a time on this machine: a second one refuses,
    naming the first (or waits, with --wait-lock).
    """
    from .commands.apply import apply as run_apply
    from .runlock import locked_targets

    with locked_targets(targets, "apply", wait_lock):
        return run_apply(
            opts,
            targets,
            auto_approve=auto_approve,
            force=force,
            fmt=fmt,
            only=only,
            allow_missing=allow_missing,
            replace=replace,
            strict=strict,
            journal=journal,
        )


@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler show plan.json --format markdown")
@click.argument("planfile", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.pass_obj
def show(opts: Options, planfile: str, fmt: str) -> int:
    """Print a saved plan file (validated first; nothing is sent).

    Exits 1, as `plan` does, when the plan fails (a blocked change, a safety limit):
    `apply` would refuse it.
    """
    from .commands.show import show as run_show

    return run_show(opts, planfile, fmt)


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler export spec.yaml > current.yaml    # print it (the default)\n"
    "  reconciler export spec.yaml -o current.yaml   # adopt an existing queue\n"
    "  reconciler export spec.yaml -o current.yaml --force   # replace an older export\n"
    "  reconciler export spec.yaml -o adopted.yaml --table adopted.csv   # entries as a table\n"
    "  reconciler export spec.yaml --table adopted.csv > adopted.yaml    # the same"
)
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--out",
    default="-",
    type=OutPath(),
    help="Where to write the exported spec (default '-': stdout). An existing file is refused without --force.",
)
@click.option(
    "--table",
    type=OutPath(),
    default=None,
    metavar="OUT.csv",
    help="Write the entries as a CSV table the spec includes (one per queue: "
    "OUT-<queue>.csv when there are several), inside the spec's folder.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing output files (and a differing spec.schema.json beside them); never a file the spec reads.",
)
@click.pass_obj
def export(opts: Options, spec_path: str, out: str, table: str | None, force: bool) -> int:
    """Write the live state of a spec's queues as a spec of explicit entries.

    Brings an existing queue under management: planning the exported spec shows no
    changes. Entries are sorted by id and minimal (no empty tags, no `locked: false`).
    Reads each queue once; writes nothing to the service. With `-o FILE` the output's
    first line points editors at `spec.schema.json`, which is written beside it (what
    `reconciler schema` prints) unless a different one is there; on stdout create it
    yourself. An existing FILE (or table) is refused unless --force, and a file the
    spec reads is never written over. With `--table`, the entries go to a typed CSV
    table the exported spec includes (docs/spec.md "Table and JSON sources"), which
    plans to no changes just the same.
    """
    from .commands.export import export as run_export

    return run_export(opts, spec_path, out, table, force)


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler watch spec.yaml --every 5m                 # plan only: report drift\n"
    "  reconciler watch spec.yaml --every 1m --apply --format json --status-file status.json\n\n"
    "docs/operations.md: running it under systemd, Kubernetes or a scheduled workflow."
)
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--every", required=True, metavar="DURATION", help="Time between cycles (30s, 5m, 1h).")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Apply each cycle's plan when it is safe (never a blocked or over-limit one).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per cycle (time, counts, outcome, duration, requests).",
)
@click.option(
    "--status-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write the last cycle's record here as JSON (atomically), for a monitor.",
)
@click.option(
    "--journal",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Journal folder of the cycles that write (default: .reconciler/journal/ beside the first spec).",
)
@click.option(
    "--max-backoff",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="Longest wait after failed cycles (the wait doubles from --every).",
)
@click.option(
    "--wait-lock",
    metavar="DURATION",
    default=None,
    help="When another run holds a spec's lock, wait up to DURATION instead of refusing.",
)
@click.pass_obj
def watch(opts: Options, specs, every, apply_, fmt, status_file, journal, max_backoff, wait_lock) -> int:
    """Plan, and with --apply apply, on a schedule until stopped; one line per cycle.

    Each cycle re-reads the spec files. A spec that does not load is reported and
    nothing is applied from it; a failing service backs off and never ends the watcher.
    SIGTERM or SIGINT: the cycle in flight finishes its writes, is reported, exit 0.
    Cycles that write are journalled, as `apply` is.
    """
    from .commands.watch import watch as run_watch

    return run_watch(
        opts,
        specs,
        every=every,
        apply=apply_,
        fmt=fmt,
        status_file=status_file,
        journal=journal,
        max_backoff=max_backoff,
        wait_lock=wait_lock,
    )


@global_options
@cli.command(
    epilog="\b\nExamples:\n  reconciler history\n"
    "  reconciler history examples/challenge/.reconciler/journal --format json"
)
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history(directory: str | None, fmt: str) -> int:
    """List the journal's entries, newest first: when, where, who, counts.

    DIR defaults to .reconciler/journal. A file there that is not a journal entry is
    one error naming it (exit 1); the other entries are listed all the same.
    """
    from .commands.history import history as run_history

    return run_history(directory, fmt)


@global_options
@cli.command(
    epilog="\b\nExamples:\n"
    "  reconciler history\n"
    "  reconciler revert 20261205T012233000000Z-1a2b3c4d -o revert.json\n"
    "  reconciler apply revert.json"
)
@click.argument("entry")
@click.option(
    "-o", "--out", type=OutPath(), help="Save the revert plan as a plan file for `apply PLANFILE` ('-': on stdout)."
)
@click.option(
    "--journal",
    type=click.Path(file_okay=False),
    default=None,
    metavar="DIR",
    help="Where to find ENTRY when it is an entry id (default: .reconciler/journal).",
)
@click.option(
    "--spec",
    "specs",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="SPEC",
    help="Refuse unless the entry applied this spec and the spec still names the entry's endpoint.",
)
@click.pass_obj
def revert(opts: Options, entry: str, out: str | None, journal: str | None, specs: tuple[str, ...]) -> int:
    """Plan undoing a journal entry: restore the `before` values of the items it applied.

    Reads the items as they are now. An item whose managed fields no longer hold what
    the entry wrote was changed since: it is named and left out, never overwritten.
    The result is an ordinary plan: review it, save it with -o, apply it with
    `reconciler apply PLANFILE` (which journals it).
    """
    from .commands.revert import revert as run_revert

    return run_revert(opts, entry, out=out, journal=journal, specs=specs)


@global_options
@cli.command(epilog="Example:\n\n\b\n  reconciler schema > spec.schema.json")
@click.argument("which", type=click.Choice(["spec", "plan", "journal"]), default="spec")
def schema(which: str) -> int:
    """Print the JSON Schema of spec files (default), plan files or journal entries.

    Point your editor's YAML language server at it for completion and checks:
    add `# yaml-language-server: $schema=spec.schema.json` as a spec's first line.
    """
    from .commands.schema import schema as run_schema

    return run_schema(which)


class _ServeCommand(click.Command):
    """`serve --help` ends with each fake's quirks, read from the fakes' own declarations
    (imported only when the help is shown, not on every start)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from .commands.serve import write_quirks_help

        write_quirks_help(formatter)


@global_options
@cli.command(
    cls=_ServeCommand,
    epilog="\b\nExamples:\n"
    "  reconciler serve --token dev --synthetic 9615000:1000\n"
    "  reconciler serve --service workflow-results --token dev --synthetic frb-search:500\n"
    "  reconciler serve --token dev --seed examples/challenge/live.yaml --port 8080\n"
    "  reconciler serve --token dev --fail-rate 0.1 --drop-rate 0.05 --max-concurrent 3\n"
    "  reconciler serve --service supervisely --token dev --quirk meta-update=merge --quirk list-rows=full",
)
@click.option(
    "--service",
    default="synapse",
    show_default=True,
    metavar="TYPE",
    shell_complete=_sandbox_services,
    help="Which service to fake: synapse, workflow-results, datamaker, supervisely or omics.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback must be asked for explicitly.",
)
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: a free port).")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite store (default: a temporary file).")
@click.option(
    "--token",
    required=True,
    envvar="RECONCILER_SANDBOX_TOKEN",
    help="Bearer token clients must send (or RECONCILER_SANDBOX_TOKEN).",
)
@click.option(
    "--seed", type=click.Path(exists=True, dir_okay=False), help="Seed file (JSON or YAML) when the store is new."
)
@click.option(
    "--synthetic",
    multiple=True,
    metavar="QUEUE:COUNT",
    help="COUNT new items in queue QUEUE (Synapse: RECEIVED submissions, ids from 9700001; "
    "docs/sandbox.md says what each fake makes).",
)
@click.option("--log-requests", type=click.Path(dir_okay=False), help="Append one JSON line per request to this file.")
@click.option(
    "--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of requests answered 503 before processing."
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests processed, then dropped without a response.",
)
@click.option("--latency-ms", type=click.IntRange(0), default=0, help="Added latency per request.")
@click.option(
    "--max-concurrent",
    type=click.IntRange(1),
    default=None,
    help="429 beyond this many concurrent requests (Synapse: 3).",
)
@click.option(
    "--max-per-minute",
    type=click.IntRange(1),
    default=None,
    help="429 beyond this many requests a minute (Synapse: 600).",
)
@click.option("--random-seed", type=int, default=None, help="Seed of the fault generator, for reproducible runs.")
@click.option(
    "--quirk",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="A switch of the chosen fake's own behaviour (repeatable); each service's are listed below.",
)
@click.option(
    "--url-file",
    type=click.Path(dir_okay=False),
    help="Write the base URL (one line) to this file once listening: with --port 0, how a script learns the port.",
)
def serve(**config) -> int:
    """Run a faithful fake of a service for rehearsals, tests and demos.

    By default the evaluation-queue endpoints of Synapse's REST API under /repo/v1 from a
    local SQLite store, with Synapse's etags, batch rules and error codes; --service
    picks another service's fake (docs/sandbox.md). Every fake takes the same fault
    injection, latency and throttling options. Point a spec at it with e.g.
    `provider: {type: synapse, endpoint: http://127.0.0.1:PORT/repo/v1}` and
    SYNAPSE_AUTH_TOKEN set to the token.
    """
    from .commands.serve import serve as run_serve

    return run_serve(**config)


# ------------------------------------------------------------------------ entry
def run() -> NoReturn:
    """The `reconciler` command: exit with main's code, minus the interpreter's last
    garbage collection.

    At exit CPython runs a full cycle collection over every object still alive (all of
    click, requests and PyYAML included) although the process is about to end: a large
    share of a short command's wall time (BENCHMARKS.md, "No collection at exit").
    Frozen objects are skipped; everything else about exiting (flushing output, closing
    files and connections, atexit handlers) happens as usual.
    """
    with one_command():  # a command may freeze what it built once done (gcpause.freeze_if_exiting)
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
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2 and f"-{arg.partition('=')[0]}" in names:
            raise UserError(f"no such option {arg}: did you mean `-{arg}`?")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (error_handler.py: one line per user error,
    exit 3 and a traceback log for a bug)."""
    args = list(argv) if argv is not None else sys.argv[1:]

    def parse_and_run() -> int | None:
        _check_single_dash(args)
        return cli.main(args=args, prog_name="reconciler", standalone_mode=False)

    return run_command(parse_and_run)
