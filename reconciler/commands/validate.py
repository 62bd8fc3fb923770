"""`reconciler validate`: check spec files offline (YAML, schema, service rules, rule
oscillation); reads nothing but the spec files and their includes, sends nothing."""
from __future__ import annotations

from typing import Sequence

import click

from ..error_handler import EXIT_OK
from .inputs import load_specs
from .options import Options
from .views import annotated


def validate(opts: Options, specs: Sequence[str], fmt: str) -> int:
    with annotated(fmt):
        loaded = load_specs(specs, "validate")
    for spec in loaded:
        rules = sum(len(q.rules) for q in spec.queues)
        entries = sum(len(q.submissions) for q in spec.queues)
        if not opts.quiet:
            click.echo(
                f"{spec.files[0]}: valid ({len(spec.queues)} queue(s), {rules} rule(s), "
                f"{entries} explicit submission(s))"
            )
    return EXIT_OK
