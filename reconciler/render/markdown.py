"""The plan as a pull-request comment or a GitHub step summary (docs/ci.md).

Every value from the spec or the service is written as a code span: GitHub renders no
HTML, links, emphasis or @mentions inside one, so a tag value can neither inject
markup nor ping people; the only character that still needs care is `|`, which would
split a table cell and is escaped as `\\|`. Comments have a size limit (65,536
characters), so the output is capped and says what it left out: blocked changes come
first in each queue, then drift on locked items, then locks and unlocks, so the cap
hides ordinary changes before anything about locks; a change of tags only is one row,
so a 300-item score upload fits.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from ..model import DRIFT_REASON, Change, FieldChange, Leaderboard, Plan, QueuePlan
from ..notes import SpecWarning
from .text import blocked_reason, board_title, describe_value, guard_note, label_change, printable, summary_sentence

TITLE = "### reconciler plan"
_CLOSE = "\n</details>\n"
_MIN_LIMIT = 1_000


def cell_code(text: str) -> str:
    """`text` as a code span that is safe inside a table cell (empty text: empty cell)."""
    text = printable(text)
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return fence + pad + text.replace("|", "\\|") + pad + fence


def render_plan_markdown(
    plan: Plan,
    *,
    limit: int = 60_000,
    header: str | None = None,
    problems: Sequence[str] = (),
    warnings: Sequence[SpecWarning] = (),
    level: str = "warning",
) -> str:
    """At most `limit` characters; changes that do not fit are counted in a final note.

    `header` (text.plan_header) says which service the plan is for; `problems` are why
    the plan fails (blocked changes, safety limits): a PR comment that looked like any
    other plan would let a reviewer approve one that `apply` will refuse. `warnings`
    (spec entries the queue lacks, at their lines) come before the changes for the same
    reason: a typo in an id must not pass review as "nothing to do"; `level` says
    whether they are errors (the default of plan) or warnings (--allow-missing)."""
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}")
    total = len(plan.changes)
    reserve = len(_CLOSE) + len(_cut_note(total, limit)) + 2
    out = _Budget(limit - reserve)
    out.add(f"{TITLE}\n\n")
    if header:
        out.add(f"{cell_code(header)}\n\n")
    if problems:
        out.add("**This plan fails** (exit 1; `apply` refuses it):\n\n")
        out.add("".join(f"- {cell_code(p)}\n" for p in problems) + "\n")
    if warnings:
        heading = "**Errors:**" if level == "error" else "**Warnings:**"
        out.add(f"{heading}\n\n" + "".join(f"- {cell_code(str(w))}\n" for w in warnings) + "\n")
    out.add(f"**{summary_sentence(plan, len(warnings))}**\n\n")
    note = guard_note(plan)
    if note:
        out.add(f"_{html.escape(note)}_\n\n")
    out.add("| Queue | Items seen | To change | of them locks | of them unlocks | Blocked |\n")
    out.add("| --- | ---: | ---: | ---: | ---: | ---: |\n")
    for queue in plan.queues:
        c = queue.counts()
        row = (
            f"| {cell_code(queue.queue_id)} | {queue.items_seen} | {c['change']} | "
            f"{c['lock']} | {c['unlock']} | {c['blocked']} |\n"
        )
        if not out.add(row):
            break
    shown = 0
    for queue in plan.queues:
        if not queue.changes:
            continue
        if not out.add(_opening(queue)):
            break
        for change in sorted(queue.changes, key=_urgency):
            if not out.add(_rows(change, plan.labels)):
                break
            shown += 1
        out.force(_CLOSE)  # room reserved up front: a cut table is still closed
    for queue in plan.queues:
        for board in queue.leaderboards:
            out.add(_board(queue, board) + _CLOSE)  # whole or not at all, within the limit
    if shown < total:
        out.force("\n" + _cut_note(total - shown, limit) + "\n")
    return out.text().rstrip("\n")


class _Budget:
    """Appends pieces while they fit; once one does not, nothing more is added."""

    def __init__(self, size: int) -> None:
        self.size, self.used, self.full = size, 0, False
        self.parts: list[str] = []

    def add(self, piece: str) -> bool:
        if self.full or self.used + len(piece) > self.size:
            self.full = True
            return False
        self.force(piece)
        return True

    def force(self, piece: str) -> None:
        """For the closing tag and the note, whose room was reserved up front."""
        self.parts.append(piece)
        self.used += len(piece)

    def text(self) -> str:
        return "".join(self.parts)


def _opening(queue: QueuePlan) -> str:
    n = len(queue.changes)
    lines = [
        f"\n<details><summary>Queue {html.escape(printable(queue.queue_id))}: "
        f"{n} change{'s' if n != 1 else ''}</summary>\n"
    ]
    failing = [c for c in queue.blocked if not c.drift]
    if failing:
        reasons = sorted({blocked_reason(c) for c in failing})
        lines.append(f"**Blocked** ({html.escape(printable('; '.join(reasons)))}): listed first.\n")
    if queue.drifted:
        lines.append(f"**Drift on locked items** ({html.escape(printable(DRIFT_REASON))}).\n")
    lines.append("| Item | Field | Before | After | Source |\n| --- | --- | --- | --- | --- |\n")
    return "\n".join(lines)


def _board(queue: QueuePlan, board: Leaderboard) -> str:
    """A rank's preview, folded: the first places of its first groups."""
    heads = " | ".join(html.escape(printable(c)) for c in board.columns)
    rows = [
        f"\n<details><summary>{html.escape(printable(board_title(queue, board)))}</summary>\n\n",
        f"| Group | Place | Item | {heads} |\n| --- | ---: | --- |{' --- |' * len(board.columns)}\n",
    ]
    for group in board.groups:
        label = cell_code(group.label or "")
        for place, item_id, values in group.rows:
            rows.append(
                f"| {label} | {place} | {cell_code(item_id)} | " + " | ".join(cell_code(v) for v in values) + " |\n"
            )
        if group.size > len(group.rows):
            rows.append(f"| {label} | | … {group.size - len(group.rows)} more |{' |' * len(board.columns)}\n")
    if board.hidden_groups:
        rows.append(f"\n_… {board.hidden_groups} more groups_\n")
    return "".join(rows)


def _urgency(change: Change) -> int:
    """Listing order within a queue (stable, so ids stay in order within each kind)."""
    if change.blocked and not change.drift:
        return 0
    if change.drift:
        return 1
    if change.lock or change.relock:
        return 2
    return 3


def _rows(change: Change, labels: bool = False) -> str:
    item = cell_code(change.item_id)
    if change.drift:
        item += " **drift (locked)**"
    elif change.blocked:
        item += " **blocked**"
    elif change.relock:
        item += " **locked; changed under --replace**"  # or its entry's `replace: true`
    elif change.lock:
        item += f" ({change.lock})"
    if len(change.fields) > 1 and all(f.tag_key is not None for f in change.fields):
        return f"| {item} | {_tags_row(change.fields, labels)} |\n"
    rows = []
    for i, f in enumerate(change.fields):
        rows.append(f"| {item if i == 0 else ''} | {_field_cells(f, labels)} |\n")
    return "".join(rows)


def _field_cells(f: FieldChange, labels: bool = False) -> str:
    source = cell_code(str(f.source)) if f.source is not None else ""
    if labels and (how := label_change(f)):
        return " | ".join((cell_code(f"label {f.tag_key}"), "", cell_code(how), source))
    return " | ".join((cell_code(f.field), _value_cell(f.field, f.before), _value_cell(f.field, f.after), source))


def _tags_row(fields: Sequence[FieldChange], labels: bool = False) -> str:
    """Several tag changes of one item as one row: `tags` with the keys, then each
    side as `key: value` pairs (on a label service, when every change adds or removes a
    label: `labels` and `added: a, b · removed: c`), and the distinct sources."""
    sources = "; ".join(dict.fromkeys(str(f.source) for f in fields if f.source is not None))
    hows = [label_change(f) for f in fields] if labels else []
    if hows and all(hows):
        said = " · ".join(
            f"{how}: " + ", ".join(f.tag_key or "" for f, h in zip(fields, hows, strict=True) if h == how)
            for how in ("added", "removed")
            if how in hows
        )
        return " | ".join((cell_code("labels"), "", cell_code(said), cell_code(sources)))
    keys = ", ".join(f.tag_key or "" for f in fields)
    before = " · ".join(f"{f.tag_key}: {describe_value(f.field, f.before)}" for f in fields)
    after = " · ".join(f"{f.tag_key}: {describe_value(f.field, f.after)}" for f in fields)
    return " | ".join((cell_code(f"tags: {keys}"), cell_code(before), cell_code(after), cell_code(sources)))


def _value_cell(field: str, value: object) -> str:
    # Not a code span: `(absent)` is no value at all, not a string.
    return "*(absent)*" if value is None else cell_code(describe_value(field, value))


def _cut_note(hidden: int, limit: int) -> str:
    return (
        f"… {hidden:,} more change{'s' if hidden != 1 else ''} not shown (output capped at "
        f"{limit:,} characters); every change is in the saved plan file (in CI the "
        "`reconciler-plan` artifact): `reconciler show plan.json`"
    )
