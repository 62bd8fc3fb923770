"""What apply did (docs/semantics.md: a run always ends with a report of every item's outcome).

Problems come first and the one-line summary last, where a CI log's tail shows it.
Items that were applied are only counted: the plan already listed them. Items with the
same outcome and the same reason (300 writes refused for one wrong token) are folded
into the first one and a count; the JSON report lists every item.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping, Sequence

from ..model import ApplyReport, ItemResult, Outcome
from .text import printable

OUTCOMES: tuple[Outcome, ...] = ("applied", "unchanged", "stale", "blocked", "failed", "skipped")

# Not applied, most urgent first; each result's detail says why.
_GROUPS: tuple[tuple[Outcome, str, str], ...] = (
    ("failed", "Failed", "31"),
    ("blocked", "Blocked", "31"),
    ("stale", "Stale", "33"),
    ("skipped", "Skipped", "33"),
    ("unchanged", "Unchanged", "2"),
)


def _paint(text: str, style: str, color: bool) -> str:
    return f"\x1b[{style}m{text}\x1b[0m" if color else text


def summary_sentence(report: ApplyReport) -> str:
    c = {o: report.count(o) for o in OUTCOMES}
    counts = (
        f"{c['applied']} applied, {c['unchanged']} unchanged, {c['stale']} stale, "
        f"{c['blocked']} blocked, {c['failed']} failed, {c['skipped']} skipped"
    )
    if report.interrupted:
        return (
            f"Apply interrupted ({report.interrupted}) after the write in flight: {counts} "
            "(not sent); run apply again to make the rest."
        )
    return f"Apply complete: {counts}."


def render_report_text(report: ApplyReport, *, color: bool = False) -> str:
    lines = []
    for outcome, heading, style in _GROUPS:
        results = report.by_outcome(outcome)
        if not results:
            continue
        lines.append(_paint(f"{heading}: {len(results)}", style, color))
        lines += _folded(results)
        lines.append("")
    lines.append(_paint(summary_sentence(report), "1;32" if report.ok else "1;31", color))
    return "\n".join(lines)


def _folded(results: list[ItemResult]) -> list[str]:
    """One line per distinct reason: its first item, then how many more share it."""
    by_detail: dict[str, list[ItemResult]] = {}
    for r in results:
        by_detail.setdefault(r.detail, []).append(r)
    lines = []
    for detail, same in by_detail.items():
        first = same[0]
        shown = f": {printable(detail)}" if detail else ""
        lines.append(f"  queue {printable(first.queue_id)}, item {printable(first.item_id)}{shown}")
        if len(same) > 1:
            lines.append(f"  … and {len(same) - 1:,} more with the same reason")
    return lines


def report_to_dict(report: ApplyReport, refused: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """`apply --format json`: every item's outcome, in the order apply decided them;
    `interrupted` names the signal that stopped the run (null when none did). `refused`
    (the plan's problems, each `{kind, message}`) is present when apply refused the
    whole plan and sent nothing."""
    doc = {
        "ok": report.ok and not refused,
        "interrupted": report.interrupted,
        "requests": report.requests,
        "summary": {o: report.count(o) for o in OUTCOMES},
        "results": [
            {"queue_id": r.queue_id, "item_id": r.item_id, "outcome": r.outcome, "detail": r.detail}
            for r in report.results
        ],
    }
    if refused:
        doc["refused"] = [dict(p) for p in refused]
    return doc
