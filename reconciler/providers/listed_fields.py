"""Read-only service fields (`where: {item: …}`, Capabilities.fields) taken from the
object a provider's listing already returned: no request of their own.

`ListedFields` is the Item's `fields` mapping, parsed on demand: a plan whose rules read
no field parses none, so 100,000 listed items cost one small object each. A value of
another JSON type than the field declares reads as absent, which no condition but
`exists: false` matches (the service changed its shape; a plan must not crash on it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from collections.abc import Iterator, Mapping

from ..model import Scalar, to_scalar


class ListedFields(Mapping[str, Scalar]):
    """`declared` (name → type) read from `doc`, each at `paths[name]` (a tuple of keys
    into nested objects; default: the name itself)."""

    __slots__ = ("_declared", "_doc", "_paths")

    def __init__(
        self, doc: Mapping[str, Any], declared: Mapping[str, str], paths: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        self._doc, self._declared, self._paths = doc, declared, paths or {}

    def __getitem__(self, name: str) -> Scalar:
        kind = self._declared.get(name)
        if kind is None:
            raise KeyError(name)
        raw: Any = self._doc
        for key in self._paths.get(name, (name,)):
            raw = raw.get(key) if isinstance(raw, Mapping) else None
        value = _typed(raw, kind)
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._declared if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True


def fields_read(queue: Any) -> frozenset[str]:
    """The service fields some rule of `queue` tests, or a rank reads (what a listing
    must carry)."""
    ranked = frozenset().union(*(rank.fields for rank in queue.ranks))
    return frozenset(name for rule in queue.rules for name in rule.where.item) | ranked


def _typed(raw: Any, kind: str) -> Scalar | None:
    if isinstance(raw, list) and len(raw) == 1:  # as for tags: [x] is the value x
        raw = raw[0]
    if raw is None:
        return None
    if kind == "timestamp":
        return _time(raw)
    if kind == "boolean":
        return raw if isinstance(raw, bool) else None
    if kind == "integer":
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if kind == "float":
        return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    if kind == "string":
        return (
            raw if isinstance(raw, str) else (str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else None)
        )
    return None


def _time(raw: Any) -> Scalar | None:
    """A datetime (botocore), an ISO 8601 text, or seconds since the epoch."""
    try:
        if isinstance(raw, datetime):
            return to_scalar(raw)
        if isinstance(raw, str):
            return to_scalar(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return to_scalar(datetime.fromtimestamp(raw, tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        return None
    return None
