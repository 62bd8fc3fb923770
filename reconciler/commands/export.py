"""`reconciler export`: write the live state of a spec's queues as a spec of explicit
entries, and the spec schema beside it; reads each queue once, writes nothing to it."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence

import click

from ..error_handler import EXIT_OK, echo_err
from ..errors import UserError
from ..model import QueueSpec
from .inputs import load_specs
from .options import Options
from .schema import schema_text


def export(opts: Options, spec_path: str, out: str, table: str | None = None, force: bool = False) -> int:
    from ..export import export_spec, unstatable_tags
    from ..providers import open_provider

    (spec,) = load_specs([spec_path], "export")
    if out != "-":
        _check_out(out, spec.files, force)
    out_dir = os.getcwd() if out == "-" else os.path.dirname(os.path.abspath(out))
    tables = _table_paths(table, out_dir, spec.queues)
    for path in tables:
        _check_out(path, spec.files, force)
    progress = opts.progress()
    with open_provider(spec.provider) as provider:
        try:
            queues = [(q, provider.list_items(q, progress.line(f"Reading queue {q.id}"))) for q in spec.queues]
        finally:
            progress.close()
    if tables:
        from ..table_export import export_tables

        text, table_texts = export_tables(spec.provider, queues, out_dir, tables)
        for path, table_text in zip(tables, table_texts, strict=True):
            _write(path, table_text, "the exported table")
    else:
        text = export_spec(spec.provider, queues, out_dir)
    if not opts.quiet:
        for warning in unstatable_tags(queues):
            echo_err(f"warning: {warning}")
    if out == "-":
        click.echo(text, nl=False)
        return EXIT_OK
    _write(out, text, "the exported spec")
    _write_schema_beside(out, spec.files, force, opts.quiet)
    if not opts.quiet:
        items = sum(len(items) for _, items in queues)
        echo_err(f"Wrote {items} submission(s) of {len(queues)} queue(s) to {out}.")
    return EXIT_OK


def _table_paths(table: str | None, out_dir: str, queues: Sequence[QueueSpec]) -> list[str]:
    """Where each queue's table goes; refused before anything is read when the spec
    could not include them (a spec's includes stay inside its folder)."""
    if table is None:
        return []
    from ..table_export import table_paths

    paths = [os.path.abspath(p) for p in table_paths(table, queues)]
    for path in paths:
        if os.path.commonpath([out_dir, path]) != out_dir:
            raise UserError(
                f"--table {table}: the table must be inside the exported spec's folder "
                f"({out_dir}), which the spec can include from"
            )
    return paths


def _write(path: str, text: str, what: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise UserError(f"{path}: cannot write {what}: {exc.strerror}") from None


def _is_input(path: Path, inputs: Sequence[str]) -> str | None:
    """The input file `path` is (the spec or one of its includes), or None."""
    for name in inputs:
        try:
            if path.exists() and os.path.samefile(path, name):
                return name
        except OSError:
            continue
    return None


def _check_out(out: str, inputs: Sequence[str], force: bool) -> None:
    """Checked before the service is read: an export must never cost the user a file.
    The spec being exported (or an include) is refused even with --force."""
    path = Path(out)
    same = _is_input(path, inputs)
    if same is not None:
        raise UserError(
            f"{out}: is {'the spec being exported' if same == inputs[0] else 'a file the spec reads'}; "
            "export to another file (or to stdout: leave out -o)"
        )
    if path.exists() and not force:
        raise UserError(
            f"{out}: already exists; pass --force to replace it, or export to another file (or to stdout: leave out -o)"
        )


def _write_schema_beside(out: str, inputs: Sequence[str], force: bool, quiet: bool) -> None:
    """The exported spec's first line points editors at `spec.schema.json` beside it;
    write that file (what `reconciler schema` prints) so the pointer resolves. A
    different file of that name may be the user's own (or an older version's): it is
    replaced only with --force, and an input file never."""
    path = Path(out).parent / "spec.schema.json"
    text = schema_text("spec") + "\n"
    try:
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        elif path.read_text(encoding="utf-8") != text:
            if force and _is_input(path, inputs) is None and not os.path.samefile(path, out):
                path.write_text(text, encoding="utf-8")
            elif not quiet:
                echo_err(
                    f"note: {path} exists and differs from this version's spec schema; left as it "
                    "is (`reconciler schema > spec.schema.json` writes it, or export with --force)"
                )
    except OSError as exc:
        raise UserError(f"{path}: cannot write the spec schema: {exc.strerror}") from None
