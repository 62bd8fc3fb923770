"""The plan as people read it in a terminal (DESIGN §6), Terraform-style.

Values come from the service and the spec, so everything printed passes through
`printable`: a tag value holding an escape sequence must not repaint the reviewer's
terminal, and a bidi override must not make the line say something it does not.
The other renderers reuse `printable` and `describe_value` so a value reads the same
everywhere.
"""
from __future__ import annotations

import re
from typing import Any

from ..model import Change, FieldChange, Plan, QueuePlan, format_scalar, format_tag_value

BLOCKED_REASON = "item is locked; add `locked: false` to change it"
# Said once under every plan for a service whose writes cannot be refused as stale.
GUARD_NOTE = (
    "Note: {service} has no etags. Right before writing, reconciler re-reads each item "
    "and refuses as stale those changed since this plan; a write by someone else between "
    "that re-read and ours cannot be detected."
)
NO_CHANGES = "No changes. Live state matches the spec."

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """`text` with every control or bidi character written as a visible \\uXXXX escape."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def describe_value(field: str, value: Any) -> str:
    """A field's value for people; a missing tag (before) or deleted one (after) is `(absent)`."""
    if field.startswith("tags.") or value is None:
        return printable(format_tag_value(value))
    return printable(format_scalar(value))


def blocked_reason(change: Change) -> str:
    """Why a blocked change cannot be applied: the service's refusal, else the lock."""
    return change.refused or BLOCKED_REASON


def guard_note(plan: Plan) -> str | None:
    return GUARD_NOTE.format(service=plan.provider_type) if plan.guard == "compare" else None


def marker(change: Change) -> str:
    """`!` blocked, `+` lock, `-` unlock, `~` any other change."""
    if change.blocked:
        return "!"
    return {"lock": "+", "unlock": "-"}.get(change.lock or "", "~")


def summary_sentence(plan: Plan) -> str:
    if not plan.has_changes:
        return NO_CHANGES
    s = plan.summary()
    return (
        f"Plan: {s['change']} to change, {s['lock']} to lock, {s['unlock']} to unlock, "
        f"{s['blocked']} blocked (of {s['items_seen']} items seen)."
    )


def queue_counts(queue: QueuePlan) -> str:
    if not queue.changes:
        return "no changes"
    c = queue.counts()
    return f"{c['change']} to change, {c['lock']} to lock, {c['unlock']} to unlock, {c['blocked']} blocked"


def field_line(f: FieldChange) -> str:
    return f"{printable(f.field)}: {describe_value(f.field, f.before)} → {describe_value(f.field, f.after)}"


# --------------------------------------------------------------------------- colour
_STYLE = {"~": "33", "+": "32", "-": "31", "!": "1;31", "dim": "2", "bold": "1"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{_STYLE[style]}m{text}\x1b[0m" if color else text


# --------------------------------------------------------------------------- render
def render_plan_text(plan: Plan, *, color: bool = False) -> str:
    note = guard_note(plan)
    if not plan.has_changes:
        return NO_CHANGES
    lines: list[str] = []
    for queue in plan.queues:
        header = f"Queue {printable(queue.queue_id)} ({queue.items_seen} items seen): {queue_counts(queue)}"
        lines.append(_paint(header, "bold", color))
        _queue_lines(queue, color, lines)
        lines.append("")
    lines.append(_paint(summary_sentence(plan), "bold", color))
    if note:
        lines.append(_paint(note, "dim", color))
    return "\n".join(lines)


def _queue_lines(queue: QueuePlan, color: bool, out: list[str]) -> None:
    """Provenance comments line up in one column per queue; an overlong value only
    pushes its own comment right."""
    bodies = [[field_line(f) for f in change.fields] for change in queue.changes]
    width = min(max((len(b) for lines in bodies for b in lines), default=0), _MAX_ALIGN)
    for change, lines in zip(queue.changes, bodies):
        sign = marker(change)
        head = f"  {sign} {printable(change.item_id)}"
        if change.blocked:
            head += f"  BLOCKED: {printable(blocked_reason(change))}"
        out.append(_paint(head, sign, color))
        for body, f in zip(lines, change.fields):
            if f.source is None:
                out.append(f"      {body}")
            else:
                comment = _paint(f"# {printable(str(f.source))}", "dim", color)
                out.append(f"      {body.ljust(width)}    {comment}")


_MAX_ALIGN = 60
