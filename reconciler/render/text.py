"""The plan as people read it in a terminal (docs/semantics.md, "Reading a plan"), Terraform-style.

Values come from the service and the spec, so everything printed passes through
`printable`: a tag value holding an escape sequence must not repaint the reviewer's
terminal, and a bidi override must not make the line say something it does not.
The other renderers reuse `printable` and `describe_value` so a value reads the same
everywhere.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from ..model import (
    DRIFT_REASON,
    Change,
    FieldChange,
    Leaderboard,
    Plan,
    QueuePlan,
    format_scalar,
    format_tag_value,
    tag_key_of,
    to_scalar,
)
from ..untrusted_text import printable

BLOCKED_REASON = (
    "item is locked; to change it and keep it locked add `replace: true` to its entry "
    "(or pass --replace ID), to unlock it add `locked: false`"
)
# Said once under every plan for a service whose writes cannot be refused as stale.
GUARD_NOTE = (
    "Note: {service} has no etags. Right before writing, reconciler re-reads each item "
    "and refuses as stale those changed since this plan; a write by someone else between "
    "that re-read and ours cannot be detected."
)
NO_CHANGES = "No changes. Live state matches the spec."
# Never "matches the spec" while entries were ignored (--allow-missing).
NO_CHANGES_IGNORED = (
    "No changes to the submissions the queues have; {n} spec entr{ies} for submissions not in their queue did nothing."
)


def no_changes(ignored: int = 0) -> str:
    if not ignored:
        return NO_CHANGES
    return NO_CHANGES_IGNORED.format(n=ignored, ies="y" if ignored == 1 else "ies")


_NUMBERS = frozenset((int, float))  # exactly: a bool is written true/false


def describe_value(field: str, value: Any) -> str:
    """A field's value for people; a missing tag (before) or deleted one (after) is `(absent)`."""
    return _described(tag_key_of(field) is not None, value)


def _described(is_tag: bool, value: Any) -> str:
    if is_tag and type(value) is tuple and len(value) == 1 and type(value[0]) in _NUMBERS:
        return repr(value[0])  # what format_scalar writes for a plain number, printable as it is
    if is_tag or value is None:
        return printable(format_tag_value(value))
    return printable(format_scalar(value))


def blocked_reason(change: Change) -> str:
    """Why a blocked change cannot be applied: the service's refusal, drift on a locked
    item, else the lock."""
    if change.refused:
        return change.refused
    return DRIFT_REASON if change.drift else BLOCKED_REASON


def guard_note(plan: Plan) -> str | None:
    return GUARD_NOTE.format(service=plan.provider_type) if plan.guard == "compare" else None


def marker(change: Change) -> str:
    """`!` blocked or changed under --replace (a locked item either way), `≠` drift on a
    locked item, `+` lock, `-` unlock, `~` any other change (see LEGEND)."""
    if change.drift:
        return "≠"
    if change.blocked or change.relock:
        return "!"
    return {"lock": "+", "unlock": "-"}.get(change.lock or "", "~")


LEGEND = (
    "Markers: ~ change · + change that locks · - change that unlocks · "
    "! blocked (item is locked), or changed under --replace or `replace: true` · "
    "≠ drift on a locked item"
)
REPLACED = "LOCKED: changed under --replace; stays locked"
DRIFTED = "DRIFT"


def plan_header(plan: Plan, *, tool_version: str, created_at: str | None = None) -> str:
    """Which service a plan targets and what made it: a reviewer must be able to tell a
    plan for the sandbox from one for production. `created_at` only for a saved plan
    (a live plan is made now)."""
    made = f"saved {created_at} by " if created_at else ""
    if plan.evaluated_at is not None and plan.shows_clock:  # what `now` meant in conditions
        made = f"evaluated at {format_scalar(to_scalar(plan.evaluated_at))}, {made}"
    return (
        f"Plan for {printable(plan.provider_type)} at {printable(plan.endpoint)} "
        f"({made}reconciler {printable(tool_version)})"
    )


def change_counts(counts: dict[str, int]) -> str:
    """Disjoint counts: every listed item is either to change or blocked; locks and
    unlocks are some of the changes, so they are said to be included, not added."""
    included = [
        f"{counts[kind]} {kind}{'s' if counts[kind] != 1 else ''}" for kind in ("lock", "unlock") if counts[kind]
    ]
    if counts.get("replace"):
        included.append(f"{counts['replace']} under --replace")
    extra = f" (including {', '.join(included)})" if included else ""
    drift = f", {counts['drift']} drifted (locked)" if counts.get("drift") else ""
    return f"{counts['change']} to change{extra}, {counts['blocked']} blocked{drift}"


def summary_sentence(plan: Plan, ignored: int = 0) -> str:
    """`ignored`: spec entries for submissions no queue has (see no_changes)."""
    if not plan.has_changes:
        return no_changes(ignored)
    s = {**plan.summary(), "replace": sum(1 for c in plan.changes if c.relock)}
    return f"Plan: {change_counts(s)} (of {s['items_seen']} items seen)."


def queue_counts(queue: QueuePlan) -> str:
    if not queue.changes:
        return "no changes"
    return change_counts({**queue.counts(), "replace": sum(1 for c in queue.changes if c.relock)})


def label_change(f: FieldChange) -> str | None:
    """ "added" or "removed" for a change of a label (a tag that is present, as true, or
    absent), None for any other change: on a label service `tags.rfi: (absent) → true`
    reads as a value, while the service only has the name `rfi` or not."""
    if f.tag_key is None or {f.before, f.after} != {None, (True,)}:
        return None
    return "added" if f.before is None else "removed"


def field_line(f: FieldChange, labels: bool = False) -> str:
    """`field: before → after`, or `label rfi: added` on a label service."""
    if labels and (how := label_change(f)):
        return f"label {printable(f.tag_key or '')}: {how}"
    is_tag = tag_key_of(f.field) is not None  # once for both values
    return f"{printable(f.field)}: {_described(is_tag, f.before)} → {_described(is_tag, f.after)}"


# --------------------------------------------------------------------------- colour
_STYLE = {"~": "33", "+": "32", "-": "31", "!": "1;31", "≠": "1;35", "dim": "2", "bold": "1"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_STYLE[style]}m{text}\x1b[0m" if color else text


# --------------------------------------------------------------------------- render
def render_plan_text(plan: Plan, *, color: bool = False, header: str | None = None, ignored: int = 0) -> str:
    """The plan with `header` (plan_header) first when given, then a legend of the
    markers, each queue's changes and the summary last, where a log's tail shows it."""
    top = [_paint(header, "dim", color)] if header else []
    note = guard_note(plan)
    if not plan.has_changes:
        return "\n".join(top + [no_changes(ignored)] + _boards(plan))
    lines: list[str] = top + [_paint(LEGEND, "dim", color), ""]
    for queue in plan.queues:
        header = f"Queue {printable(queue.queue_id)} ({queue.items_seen} items seen): {queue_counts(queue)}"
        lines.append(_paint(header, "bold", color))
        _queue_lines(queue, color, lines, plan.labels)
        lines.append("")
    lines += _boards(plan)[1:] + [""] if any(q.leaderboards for q in plan.queues) else []
    lines.append(_paint(summary_sentence(plan), "bold", color))
    if note:
        lines.append(_paint(note, "dim", color))
    return "\n".join(lines)


def _queue_lines(queue: QueuePlan, color: bool, out: list[str], labels: bool = False) -> None:
    """Provenance comments line up in one column per queue; an overlong value only
    pushes its own comment right."""
    line_of = _field_lines(labels)
    bodies = [line_of(f) for change in queue.changes for f in change.fields]  # one list, not one a change
    width = min(max(map(len, bodies), default=0), _MAX_ALIGN)
    body_of = iter(bodies)
    last_source: object = None  # the fields of one entry follow each other and share its line
    last_where, comment = "", ""
    for change in queue.changes:
        sign = marker(change)
        head = f"  {sign} {printable(change.item_id)}"
        if change.drift:
            head += f"  {DRIFTED}: {printable(blocked_reason(change))}"
        elif change.blocked:
            head += f"  BLOCKED: {printable(blocked_reason(change))}"
        elif change.relock:
            head += f"  {REPLACED}"
        out.append(_paint(head, sign, color))
        for f in change.fields:
            body, source = next(body_of), f.source
            if source is None:
                out.append(f"      {body}")
                continue
            if source is not last_source:  # a rule's setting is one object for every item
                last_source, where = source, str(source)
                if where != last_where:
                    last_where, comment = where, _paint(f"# {printable(where)}", "dim", color)
            out.append(f"      {body.ljust(width)}    {comment}")


_ABSENT = format_tag_value(None)  # None as _described shows it, field or tag


def _field_lines(labels: bool) -> Callable[[FieldChange], str]:
    """field_line for the many lines of one plan, remembering what repeats between
    them: each field's name as shown, and each status value (a few statuses over
    100,000 changes), told with no call for a one-number tag (BENCHMARKS.md "Fourth
    round"). The same text as field_line (tests/render)."""
    names: dict[str, tuple[str, bool]] = {}  # field -> (`field: ` shown, is a tag)
    texts: dict[str, str] = {}  # a status value (a str outside tags) as _described shows it

    def shown(is_tag: bool, value: Any) -> str:
        if value is None:
            return _ABSENT
        kind = type(value)
        if kind is tuple:
            if is_tag and len(value) == 1 and type(value[0]) in _NUMBERS:
                return repr(value[0])
        elif kind is str and not is_tag:
            text = texts.get(value)
            if text is None:
                text = texts[value] = _described(False, value)
            return text
        return _described(is_tag, value)

    def line_of(f: FieldChange) -> str:
        if labels and (how := label_change(f)):
            return f"label {printable(f.tag_key or '')}: {how}"
        named = names.get(f.field)
        if named is None:
            named = names[f.field] = (f"{printable(f.field)}: ", tag_key_of(f.field) is not None)
        head, is_tag = named
        return f"{head}{shown(is_tag, f.before)} → {shown(is_tag, f.after)}"

    return line_of


_MAX_ALIGN = 60


def board_title(queue: QueuePlan, board: Leaderboard) -> str:
    return (
        f"Leaderboard {board.rule} of queue {queue.queue_id} ({board.source.file}:{board.source.line}), "
        f"by {', '.join(board.columns)}"
    )


def board_lines(board: Leaderboard) -> list[str]:
    """The preview of one rank: each shown group's first places, best first."""
    lines: list[str] = []
    for group in board.groups:
        indent = "  "
        if group.label is not None:
            lines.append(f"  {printable(group.label)} ({group.size} ranked)")
            indent = "    "
        width = max(len(item_id) for _, item_id, _ in group.rows)
        for place, item_id, values in group.rows:
            lines.append(f"{indent}{place:>4}  {printable(item_id).ljust(width)}  {printable(', '.join(values))}")
        if group.size > len(group.rows):
            lines.append(f"{indent}   … {group.size - len(group.rows)} more")
    if board.hidden_groups:
        lines.append(f"  … {board.hidden_groups} more groups")
    if not board.groups:
        lines.append("  (nothing ranked)")
    return lines


def _boards(plan: Plan) -> list[str]:
    """Every queue's leaderboard previews, after a blank line (none: nothing)."""
    out: list[str] = []
    for queue in plan.queues:
        for board in queue.leaderboards:
            out += ["", printable(board_title(queue, board))] + board_lines(board)
    return out
