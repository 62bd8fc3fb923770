"""Run the CLI in-process exactly as the console script does (through `main`)."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping

from click.testing import CliRunner

from reconciler.cli import main


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, input: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _mixed):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def live_item(example, item_id):
    """An item of the example's local store as stored now (the example fixture's spec)."""
    from reconciler.store import Store

    store = Store(example.parent / ".reconciler" / "state.db")
    try:
        return store.get(item_id)
    finally:
        store.close()
