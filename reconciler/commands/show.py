"""`reconciler show`: print a saved plan file, validated first; nothing is sent."""

from __future__ import annotations

import click

from ..error_handler import EXIT_ERROR, EXIT_OK
from .inputs import read_plan_file, refuse_spec_as_plan_file
from .options import Options
from .views import echo_warnings, make_view, render, report_problems, saved_meta


def show(opts: Options, planfile: str, fmt: str) -> int:
    from ..planfile import load_plan

    refuse_spec_as_plan_file(planfile)
    data = read_plan_file(planfile)
    loaded = load_plan(data, planfile)
    view = make_view(loaded.plan, saved_meta(loaded), saved=True, force=False)
    echo_warnings(view)
    if fmt == "json":
        click.echo(data.decode("utf-8").rstrip("\n"))
    else:
        click.echo(render(loaded.plan, fmt, opts, view))
    return EXIT_ERROR if report_problems(loaded.plan, view, fmt, False) else EXIT_OK
