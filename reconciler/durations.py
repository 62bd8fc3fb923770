"""Durations as people write them on a command line: `90s`, `5m`, `1h30m`, `250ms`."""

from __future__ import annotations

import re

from .errors import UserError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, flag: str) -> float:
    """Seconds in `text`; a bare number counts as seconds. `flag` names the option in
    the one-line error a malformed value gets."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    pos, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise UserError(f"{flag} {text!r}: not a duration (write e.g. 30s, 5m, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """`90.0` → `1m30s`, for messages."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
