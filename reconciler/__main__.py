"""`python -m reconciler`: the same as the `reconciler` command."""

from .cli import run

run()
