"""`reconciler watch SPEC… --every DURATION [--apply]`: plan (and apply what is safe)
on a schedule, one line per cycle (docs/operations.md).

Each cycle re-reads the spec files (a `git pull` between cycles takes effect), plans,
and with --apply applies exactly what `apply --auto-approve` would: a plan that is
blocked or over a safety limit is reported as refused and nothing of it is written.
What goes wrong never ends the watcher: a spec that does not load is reported every
cycle and nothing is applied from it; a service failure backs off (the interval
doubling up to --max-backoff, back to --every after a good cycle). SIGTERM or SIGINT
lets the cycle in flight finish its writes and report, then the watcher exits 0. The
watcher holds the specs' run lock (runlock.py) for its whole life, so an `apply` of the
same spec on this machine waits for it or refuses.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import click

from ..error_handler import EXIT_OK, write_bug_log
from ..errors import UserError, UserErrors
from ..untrusted_text import one_line, printable
from .inputs import load_specs, plan_from_specs
from .options import Options

MAX_MESSAGE = 300  # characters of an error shown on a cycle's line


@dataclasses.dataclass
class Backoff:
    """The wait before the next cycle: `every`, doubled after each failed cycle up to
    `cap`, back to `every` after a good one."""

    every: float
    cap: float
    failures: int = 0

    def after(self, failed: bool) -> float:
        self.failures = self.failures + 1 if failed else 0
        if not self.failures:
            return self.every
        return min(self.every * 2**self.failures, max(self.cap, self.every))


def cycle(
    opts: Options, specs: Sequence[str], *, apply: bool, journal: str | None, stop: threading.Event | None = None
) -> dict[str, Any]:
    """One cycle, as the record its line and the status file show. `outcome`: invalid
    (a spec does not load), failed (the service, or a write), refused (blocked or over
    a safety limit), changes (planned, not applied: no --apply), applied, no-changes,
    stopped (a signal came during the writes: the one in flight finished, the rest not sent)."""
    started = time.monotonic()
    record: dict[str, Any] = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "counts": {}}
    try:
        load_specs(specs, "watch")
    except UserErrors as exc:
        return _done(record, started, "invalid", message="; ".join(str(e) for e in exc.errors))
    except UserError as exc:
        return _done(record, started, "invalid", message=str(exc))
    try:
        record.update(_plan_and_apply(opts, specs, apply=apply, journal=journal, stop=stop or threading.Event()))
    except UserError as exc:
        return _done(record, started, "failed", message=str(exc))
    except Exception as exc:  # a bug must not end an unattended watcher either
        log = write_bug_log(exc)
        return _done(
            record, started, "failed", message=f"a bug in reconciler ({type(exc).__name__}); traceback in {log}"
        )
    return _done(record, started, record.pop("outcome"))


def _plan_and_apply(
    opts: Options, specs: Sequence[str], *, apply: bool, journal: str | None, stop: threading.Event
) -> dict[str, Any]:
    from ..apply import apply_plan
    from ..journal import record_apply
    from .views import problems

    began = datetime.now(timezone.utc)
    _, provider, result = plan_from_specs(dataclasses.replace(opts, quiet=True), specs, "watch", ())
    with provider:
        plan = result.plan
        summary = plan.summary()
        out: dict[str, Any] = {
            "counts": {"items": summary["items_seen"], "changes": summary["change"], "blocked": summary["blocked"]}
        }
        found = problems(plan, False)
        if not plan.has_changes:
            out["outcome"] = "no-changes"
        elif found:
            out.update(outcome="refused", message="; ".join(text for _, text in found))
        elif not apply:
            out["outcome"] = "changes"
        else:
            # a signal lets the write in flight finish; the rest waits for the next run
            report = apply_plan(
                plan,
                provider,
                result.queues,
                rediff=result.rediffers(),
                stop=lambda: "signal" if stop.is_set() else None,
            )
            for outcome in ("applied", "unchanged", "stale", "failed", "skipped"):
                if report.count(outcome):
                    out["counts"][outcome] = report.count(outcome)
            entry = record_apply(journal, specs, plan, report, began, command="watch")
            if entry is not None:
                out["journal"] = str(entry)
            bad = report.by_outcome("failed") + report.by_outcome("skipped")
            out["outcome"] = "stopped" if report.interrupted else "failed" if bad else "applied"
            if bad and not report.interrupted:
                out["message"] = f"item {bad[0].item_id}: {bad[0].detail}"
        out["requests"] = provider.requests_sent() or 0
    return out


def _done(record: dict[str, Any], started: float, outcome: str, message: str | None = None) -> dict[str, Any]:
    record["outcome"] = outcome
    if message is not None:
        record["message"] = one_line(message, MAX_MESSAGE)
    record["duration_s"] = round(time.monotonic() - started, 3)
    record.setdefault("requests", 0)
    return record


def line(record: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(record, sort_keys=True)
    counts = ", ".join(f"{v} {k}" for k, v in record["counts"].items())
    text = f"{record['time']}  {record['outcome']}"
    text += f"  {counts}" if counts else ""
    text += f"  ({record['duration_s']:.1f}s, {record['requests']} requests)"
    if record.get("message"):
        text += f"  {record['message']}"
    if record.get("next_in_s") is not None and record["outcome"] in ("failed", "invalid"):
        text += f"  next in {record['next_in_s']:g}s"
    return printable(text)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def watch(
    opts: Options,
    specs: Sequence[str],
    *,
    every: str,
    apply: bool,
    fmt: str,
    status_file: str | None,
    journal: str | None,
    max_backoff: str,
    wait_lock: str | None,
) -> int:
    from ..atomic_file import write_atomically
    from ..durations import parse_duration
    from ..gcpause import going_on
    from ..runlock import locked_targets

    interval = parse_duration(every, "--every")
    if interval <= 0:
        raise UserError(f"--every {every}: must be longer than 0s")
    backoff = Backoff(interval, parse_duration(max_backoff, "--max-backoff"))
    stop = threading.Event()
    _stop_on_signals(stop)
    with locked_targets(specs, "watch", wait_lock), going_on():
        while True:
            record = cycle(opts, specs, apply=apply, journal=journal, stop=stop)
            # a spec that does not load is the user's to fix: it is re-read on schedule
            delay = backoff.after(failed=record["outcome"] == "failed")
            record["next_in_s"] = None if stop.is_set() else delay
            if status_file:
                try:
                    write_atomically(Path(status_file), json.dumps(record, sort_keys=True) + "\n")
                except OSError as exc:
                    click.echo(f"note: {status_file}: cannot write the status file: {exc.strerror}", err=True)
            click.echo(line(record, fmt))
            if stop.wait(delay):
                return EXIT_OK
