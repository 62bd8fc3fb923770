"""Explicit entries checked in bulk: the common shape, proved valid without a per-entry loop.

A `submissions:` mapping of 20,000 entries was the largest part of checking a big
include against the schema, even compiled (fastschema.py): about 2 µs an entry. Entries
are all alike (a status, a few scalar tags), so their shape can be proved valid with a
handful of C-level passes over all of them at once: the set of their types, of their
field names, of their tags' value types. `plain` answers True only for mappings the
entry schema (spec.schema.json `$defs/entry`) accepts; anything it is not sure of (a
list of labels, a list tag value, a timestamp, any mistake) answers False, and the
mapping is checked by the schema as before. tests/test_plain_entries.py holds it to the
schema on generated mappings: never looser.
"""

from __future__ import annotations

from itertools import chain, repeat
from typing import Any

_FIELDS = frozenset({"status", "tags", "locked", "replace"})
_SCALAR_OR_NULL = frozenset({str, int, float, bool, type(None)})


class _Absent:
    """A field an entry does not write (`status: null` is written, and refused)."""


_ABSENT = _Absent()


def plain(entries: dict[Any, Any]) -> bool:
    """Whether every entry of `entries` (a `submissions:` mapping) is certainly valid."""
    values = entries.values()
    if (
        "" in entries
        or not set(map(type, entries)) <= {str}
        or not set(map(type, values)) <= {dict}
        or not all(values)  # an entry sets something (minProperties 1)
        or not set().union(*values) <= _FIELDS
    ):
        return False

    def field(name: str) -> list[Any]:
        return list(map(dict.get, values, repeat(name), repeat(_ABSENT)))

    statuses = field("status")
    if not set(map(type, statuses)) <= {str, _Absent} or "" in statuses:
        return False
    if not all(set(map(type, field(flag))) <= {bool, _Absent} for flag in ("locked", "replace")):
        return False
    tags = field("tags")
    if not set(map(type, tags)) <= {dict, _Absent}:
        return False  # a list of labels, or a mistake: the schema decides
    mappings = [t for t in tags if t is not _ABSENT]
    names = set().union(*mappings)
    return (
        "" not in names
        and set(map(type, names)) <= {str}
        and set(map(type, chain.from_iterable(map(dict.values, mappings)))) <= _SCALAR_OR_NULL
    )
