"""GitHub Actions workflow commands: annotations on the spec lines that cause trouble.

`::error file=F,line=L::message` puts the message on line L of F in the pull request's
diff. Values are escaped by GitHub's rules (`%`, CR and LF in the message; also `:` and
`,` in properties), so a tag value can neither end the command early nor start a
second one.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Located, UserError, UserErrors
from ..model import Change, Plan, Source, format_scalar, to_scalar
from ..notes import SpecWarning
from .text import REPLACED, blocked_reason, field_line, printable, summary_sentence


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: object) -> str:
    """One workflow command line; properties whose value is None are left out."""
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items() if value is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def render_plan_github(
    plan: Plan,
    problems: Sequence[str] = (),
    warnings: Sequence[SpecWarning] = (),
    *,
    level: str = "warning",
) -> str:
    """A warning per spec entry the queue lacks and an error per blocked change, each at
    the spec line that causes it, then the plan's summary: a notice, or an error saying
    why when the plan fails (`problems`)."""
    lines = [
        command(
            level,
            printable(w.message),
            file=printable(w.file) if w.file else None,
            line=w.line,
            col=w.column,
            title="not in the queue",
        )
        for w in warnings
    ]
    for queue in plan.queues:
        for change in queue.blocked:
            source = _first_source(change)
            message = (
                f"queue {printable(queue.queue_id)}: {printable(change.item_id)} is blocked: "
                f"{printable(blocked_reason(change))} ({'; '.join(field_line(f, plan.labels) for f in change.fields)})"
            )
            if change.drift:
                message = message.replace(" is blocked: ", " drifted: ", 1)
            lines.append(
                command(
                    "warning" if change.drift else "error",
                    message,
                    file=printable(source.file) if source else None,
                    line=source.line if source else None,
                    title="refused change"
                    if change.refused
                    else "drift on a locked item"
                    if change.drift
                    else "blocked change",
                )
            )
        for change in (c for c in queue.changes if c.relock):
            source = _first_source(change)
            lines.append(
                command(
                    "warning",
                    f"queue {printable(queue.queue_id)}: {printable(change.item_id)} {REPLACED} "
                    f"({'; '.join(field_line(f, plan.labels) for f in change.fields)})",
                    file=printable(source.file) if source else None,
                    line=source.line if source else None,
                    title="locked item changed",
                )
            )
    if problems:
        message = f"the plan fails: {'; '.join(problems)}. {summary_sentence(plan)}{_evaluated(plan)}"
        lines.append(command("error", message, title="reconciler plan"))
    else:
        lines.append(
            command("notice", summary_sentence(plan, len(warnings)) + _evaluated(plan), title="reconciler plan")
        )
    return "\n".join(lines)


def _evaluated(plan: Plan) -> str:
    """The plan's clock, which relative times in conditions counted from."""
    if plan.evaluated_at is None or not plan.shows_clock:
        return ""
    return f" (evaluated at {format_scalar(to_scalar(plan.evaluated_at))})"


def _first_source(change: Change) -> Source | None:
    return next((f.source for f in change.fields if f.source is not None), None)


def github_errors_for(errors: list[UserError]) -> str:
    """Located errors as annotations at their file, line and column; others unplaced."""
    lines = []
    for error in errors:
        if isinstance(error, UserErrors):
            lines.append(github_errors_for(error.errors))
        elif isinstance(error, Located):
            lines.append(
                command(
                    "error",
                    printable(error.message),
                    file=printable(error.file),
                    line=error.line,
                    col=error.column,
                )
            )
        else:
            lines.append(command("error", printable(str(error))))
    return "\n".join(lines)
