"""Live items → a CSV table per queue plus a spec that includes it (`export --table`).

A queue managed by hand can be adopted as a table as well as YAML: the rows are what
`export` would write as entries (export.entry_of), each tag key a column typed by
what its values are, and the spec's include entry declares those types, so the
table reads back to exactly the live values and plans to no changes. A value no typed
cell can hold (a list, a value of another type than the rest of its column, an empty
string, text CSV or UTF-8 cannot carry) keeps its whole item in the spec's
`submissions:` instead: every item is stated exactly once, either way.

Pure: the CLI reads the items and writes the files.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import re
from collections import Counter
from typing import Any
from collections.abc import Sequence

from .diff import item_order
from .export import dump_spec, entry_of, spec_document
from .model import Item, ProviderConfig, QueueSpec, format_scalar, scalar_kind
from .providers import provider_class

# model.scalar_kind → the column type a source declares (sources.TYPES)
_COLUMN_TYPES = {"str": "string", "int": "integer", "float": "float", "bool": "boolean", "timestamp": "timestamp"}
_FIXED = ("id", "status", "locked")


def table_paths(out: str, queues: Sequence[QueueSpec]) -> list[str]:
    """One table per queue: OUT itself for one queue, else OUT-<queue id>.csv each."""
    if len(queues) == 1:
        return [out]
    stem, ext = os.path.splitext(out)
    return [f"{stem}-{re.sub(r'[^A-Za-z0-9._-]', '_', q.id)}{ext or '.csv'}" for q in queues]


def export_tables(
    provider: ProviderConfig,
    queues: Sequence[tuple[QueueSpec, Sequence[Item]]],
    out_dir: str,
    tables: Sequence[str],
) -> tuple[str, list[str]]:
    """The spec text and each queue's table text (in `tables` order); `tables` are
    paths inside `out_dir`, where the spec is written."""
    doc = spec_document(provider, queues, out_dir)
    capabilities = provider_class(provider.type).capabilities
    order = capabilities.order or item_order
    texts = []
    for entry, (_queue, items), table in zip(doc["queues"], queues, tables, strict=True):
        # only a status the service can set (export.entry_of); none: an empty cell
        rows = {item.id: entry_of(item, capabilities.status) for item in sorted(items, key=lambda i: order(i.id))}
        types = _column_types(rows.values())
        tabled = {i: row for i, row in rows.items() if _fits(i, row, types)}
        columns = _column_names(types)
        texts.append(_table_text(tabled, types, columns))
        entry["submissions"] = {i: row for i, row in rows.items() if i not in tabled}
        if not entry["submissions"]:
            del entry["submissions"]
        source: dict[str, Any] = {
            "table": posixpath.join(*os.path.relpath(table, out_dir).split(os.sep)),
            "id": "id",
            "status": "status",
            "locked": "locked",
        }
        if types:
            source["tags"] = {key: {"column": columns[key], "type": t} for key, t in types.items()}
        entry["include"] = [source]
    return dump_spec(doc), texts


def _column_types(rows: Any) -> dict[str, str]:
    """Each tag key's column type: the kind most of its single values have."""
    kinds: dict[str, Counter] = {}
    for row in rows:
        for key, value in row.get("tags", {}).items():
            if not isinstance(value, list):
                kinds.setdefault(key, Counter())[scalar_kind(value)] += 1
    return {key: _COLUMN_TYPES[count.most_common(1)[0][0]] for key, count in sorted(kinds.items())}


def _fits(item_id: str, row: dict[str, Any], types: dict[str, str]) -> bool:
    """Whether every value of the row reads back from a typed cell as itself."""
    if not _text_fits(item_id) or ("status" in row and not _text_fits(row["status"])):
        return False
    for key, value in row.get("tags", {}).items():
        if isinstance(value, list) or _COLUMN_TYPES[scalar_kind(value)] != types[key]:
            return False
        if isinstance(value, str) and not _text_fits(value):
            return False
    return True


def _text_fits(text: str) -> bool:
    """Non-empty (an empty cell sets nothing), no NUL (CSV cannot hold it), UTF-8."""
    if not text or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _column_names(types: dict[str, str]) -> dict[str, str]:
    """Tag key → header name: the key itself, or `tag:KEY` where it would clash with
    the id, status or lock column."""
    return {key: f"tag:{key}" if key in _FIXED or key.startswith("tag:") or not key else key for key in types}


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return format_scalar(value)


def _table_text(rows: dict[str, dict[str, Any]], types: dict[str, str], columns: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*_FIXED, *(columns[key] for key in types)])
    for item_id, row in rows.items():
        tags = row.get("tags", {})
        writer.writerow(
            [
                item_id,
                row.get("status", ""),
                "true" if row.get("locked") else "",
                *(_cell(tags[key]) if key in tags else "" for key in types),
            ]
        )
    return out.getvalue()
