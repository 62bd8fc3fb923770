"""`reconciler schema`: print the JSON Schema of spec files or plan files."""

from __future__ import annotations

from importlib.resources import files

import click

from ..error_handler import EXIT_OK


def schema_text(which: str) -> str:
    """The packaged schema `which` ("spec" or "plan"), without its final newline."""
    return (files("reconciler") / "schemas" / f"{which}.schema.json").read_text("utf-8").rstrip("\n")


def schema(which: str) -> int:
    click.echo(schema_text(which))
    return EXIT_OK
