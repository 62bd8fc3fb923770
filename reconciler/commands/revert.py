"""`reconciler revert ENTRY [-o plan.json]`: read live state and plan restoring the
`before` values of what a journal entry applied (reverting.py); items changed since
are named and left out. The result is an ordinary plan: shown, saved with -o, applied
with `apply PLANFILE` (and journalled then)."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import click

from ..error_handler import EXIT_ERROR, EXIT_OK, echo_err
from ..errors import UserError
from ..journal import DEFAULT_DIR, Entry, read_entry
from ..model import Source
from .options import Options


def find_entry(entry: str, journal: str | None) -> Entry:
    """ENTRY as a file, else as an entry id in the journal folder."""
    path = Path(entry)
    if not path.is_file():
        path = (Path(journal) if journal else DEFAULT_DIR) / f"{entry.removesuffix('.json')}.json"
        if not path.is_file():
            raise UserError(f"{entry}: no such journal entry (neither a file nor an entry of {path.parent})")
    return read_entry(path)


def check_same_spec(entry: Entry, specs: Sequence[str]) -> None:
    """Refuse an entry of another spec or another endpoint than the `--spec` given."""
    from ..planner import merge_specs
    from ..providers import open_provider
    from .inputs import load_specs

    doc = entry.doc
    wanted = {str(Path(s).resolve()) for s in specs}
    if not wanted & set(doc["targets"]):
        raise UserError(
            f"{entry.path}: this entry applied {', '.join(doc['targets'])}, not {', '.join(sorted(wanted))}; "
            "nothing was planned"
        )
    spec = merge_specs(load_specs(specs, "revert"))
    with open_provider(spec.provider) as provider:
        endpoint = provider.endpoint
    recorded = doc["plan"]["provider"]
    if (spec.provider.type, endpoint) != (recorded["type"], recorded["endpoint"]):
        raise UserError(
            f"{entry.path}: this entry was applied to {recorded['type']} {recorded['endpoint']}, "
            f"the spec now names {spec.provider.type} {endpoint}; nothing was planned"
        )


def revert(opts: Options, entry_ref: str, *, out: str | None, journal: str | None, specs: Sequence[str]) -> int:
    from ..planfile import dump_plan
    from ..providers import open_provider_for_plan
    from ..render.text import render_plan_text
    from ..reverting import applied_ids, entry_plan, queue_plan, queue_settings, revert_plan
    from .views import make_view, new_meta

    entry = find_entry(entry_ref, journal)
    if specs:
        check_same_spec(entry, specs)
    doc = entry.doc
    ids = applied_ids(doc)
    if not ids:
        raise UserError(f"{entry.path}: the entry applied nothing, so there is nothing to revert")
    settings = queue_settings(doc)
    fresh = {}
    with open_provider_for_plan(entry_plan(doc)) as provider:
        for queue_id, item_ids in ids.items():
            recorded = queue_plan(settings[queue_id])
            fresh[queue_id] = provider.reread(
                recorded.as_queue(Source(str(entry.path), 1)), item_ids, recorded.items_seen
            )
        rules = provider.capabilities.status
    plan, changed = revert_plan(doc, str(entry.path), fresh, rules)
    meta = new_meta()
    view = make_view(plan, meta, saved=False, force=False)
    click.echo(render_plan_text(plan, color=opts.color, header=view.header), err=out == "-")
    for item in changed:
        echo_err(
            f"note: queue {item.queue_id} item {item.item_id} changed since entry {doc['id']} "
            f"({item.what}): left out, not overwritten"
        )
    if out == "-":
        click.echo(dump_plan(plan, **meta), nl=False)
    elif out:
        try:
            Path(out).write_text(dump_plan(plan, **meta), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{out}: cannot write the plan file: {exc.strerror}") from None
        if not opts.quiet:
            echo_err(f"Saved the revert plan to {out}. Apply it with: reconciler apply {out}")
    for problem in view.problems:
        echo_err(f"error: {problem}")
    return EXIT_ERROR if view.problems else EXIT_OK
