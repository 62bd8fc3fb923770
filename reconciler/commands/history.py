"""`reconciler history [DIR]`: the journal's entries, newest first (when, where, who,
counts). A file that is not an entry is one located error and the others are listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..error_handler import EXIT_ERROR, EXIT_OK, echo_err
from ..journal import DEFAULT_DIR, Entry, read_journal
from ..untrusted_text import printable

OUTCOME_ORDER = ("applied", "unchanged", "stale", "blocked", "failed", "skipped")


def summary(entry: Entry) -> dict[str, Any]:
    doc = entry.doc
    provider = doc["plan"]["provider"]
    return {
        "id": doc["id"],
        "file": str(entry.path),
        "when": doc["finished_at"],
        "command": doc["command"],
        "provider": provider["type"],
        "endpoint": provider["endpoint"],
        "targets": doc["targets"],
        "who": doc["who"],
        "counts": doc["counts"],
        "requests": doc["requests"],
    }


def counts_text(counts: dict[str, int]) -> str:
    shown = [f"{counts[k]} {k}" for k in OUTCOME_ORDER if counts.get(k)]
    return ", ".join(shown) or "nothing written"


def _who_text(who: dict[str, Any]) -> str:
    text = f"{who.get('user') or '?'}@{who['host']}"
    ci = who.get("ci") or {}
    run = ci.get("run_url") or ci.get("CI_JOB_URL") or ci.get("CI_PIPELINE_URL")
    return f"{text} ({run})" if run else text


def history(directory: str | None, fmt: str) -> int:
    folder = Path(directory) if directory else DEFAULT_DIR
    entries, errors = read_journal(folder)
    rows = [summary(e) for e in entries]
    if fmt == "json":
        click.echo(json.dumps({"entries": rows, "errors": [str(e) for e in errors]}, indent=2, sort_keys=True))
    elif not rows:
        click.echo(f"No journal entries in {folder}.")
    for row in rows if fmt == "text" else ():
        click.echo(
            printable(
                f"{row['id']}  {row['when']}  {row['command']}  {row['provider']} {row['endpoint']}  "
                f"{_who_text(row['who'])}  {counts_text(row['counts'])}"
            )
        )
    for error in errors:
        echo_err(f"error: {printable(str(error))}")
    return EXIT_ERROR if errors else EXIT_OK
