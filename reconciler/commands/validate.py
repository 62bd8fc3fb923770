"""`reconciler validate`: check spec files offline (YAML, schema, service rules, rule
oscillation); reads nothing but the spec files and their includes, sends nothing."""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Sequence

import click

from ..error_handler import EXIT_ERROR, EXIT_OK
from ..errors import UserError
from .inputs import load_specs
from .options import Options
from .views import annotated


def validate(opts: Options, specs: Sequence[str], fmt: str) -> int:
    if fmt == "json":
        return _validate_json(specs)
    with annotated(fmt):
        loaded = load_specs(specs, "validate")
    for spec in loaded:
        if not opts.quiet:
            counts = _counts(spec)
            click.echo(
                f"{spec.files[0]}: valid ({counts['queues']} queue(s), {counts['rules']} rule(s), "
                f"{counts['entries']} explicit submission(s))"
            )
    return EXIT_OK


def _counts(spec: Any) -> dict[str, int]:
    return {
        "queues": len(spec.queues),
        "rules": sum(len(q.rules) + len(q.ranks) for q in spec.queues),  # a rank is a rule too
        "entries": sum(len(q.submissions) for q in spec.queues),
    }


def _validate_json(specs: Sequence[str]) -> int:
    """One JSON document on stdout whatever the outcome: `valid`, each valid file's
    counts, and every problem with its file, line, column and message (null where the
    problem has no place), so an editor or bot can place them without parsing text."""
    try:
        loaded = load_specs(specs, "validate")
    except UserError as exc:
        doc = {"valid": False, "specs": [], "problems": [p._asdict() for p in exc.problems]}
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return EXIT_ERROR
    doc = {"valid": True, "specs": [{"file": s.files[0], **_counts(s)} for s in loaded], "problems": []}
    click.echo(json.dumps(doc, indent=2, sort_keys=True))
    return EXIT_OK
