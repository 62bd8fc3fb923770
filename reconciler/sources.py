"""Table (CSV, TSV) and JSON sources of a queue's `include:` → explicit entries
(docs/spec.md, "Table and JSON sources").

Scoring pipelines end with a table of scores or one `results.json` per submission; a
spec names such a file and says which column (or key) holds the id, the status, the
lock and each tag, with the tag's type. Each row becomes an explicit entry, exactly as
if it had been written under `submissions:`, and remembers the cell each value came
from, so plans say `scores/round-3.csv:17 (auc)` and errors point at
`scores/round-3.csv:17:23`.

The file's text is typed here, once, strictly: a cell that does not parse as its
column's type is an error at its line and column, never a guess, so `1` and `1.0` (two
different annotation types on Synapse) are what the spec declares. Nothing in a cell is
evaluated (`=HYPERLINK(...)` is text). The service's own per-value checks run later on
the entries, as on YAML entries (providers' `check_queue`), and their problems are
placed on the cell through `RowOrigin`.

Pure but for reading the file itself (size-capped before it is read whole).
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import os
import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from .errors import Located, suggest
from .jsonload import parse as parse_json
from .jsonload import scanstring
from .model import Assignment, Setting, Source, to_scalar
from .gcpause import collector_paused, settle
from .yamlload import _decode as decode_utf8

MAX_BYTES = 64 * 1024 * 1024  # a table or JSON source larger than this is refused unread
MAX_SHOWN = 20  # errors shown per source file (one screenful), then a count of the rest
TYPES = ("string", "integer", "float", "boolean", "timestamp")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
DELIMITERS = {"csv": ",", "tsv": "\t"}
_DELIMITER_NAMES = {",": "commas", "\t": "tabs"}


# ------------------------------------------------------------------- the spec side
@dataclass(frozen=True)
class Column:
    """One declared column (table) or key (JSON) and what it sets."""

    target: str  # "status", "locked" or "tags.<key>"
    name: str  # the column's header name, or the JSON key
    type: str | None  # one of TYPES; None: a JSON value keeps its own JSON type


@dataclass(frozen=True)
class SourceConfig:
    """An `include:` entry of the form `{table: …}` or `{json: …}` (schema-checked)."""

    kind: str  # "table" | "json"
    pattern: str
    format: str | None  # csv | tsv; None: from the extension
    id_name: str | None  # the id column or key
    id_path: str | None  # or a path pattern with `{id}` (JSON)
    columns: tuple[Column, ...]
    delete_empty: bool

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> SourceConfig:
        kind = "table" if "table" in entry else "json"
        key = "column" if kind == "table" else "key"
        default_type = "string" if kind == "table" else None
        columns = [
            Column(field, entry[field], t)
            for field, t in (("status", "string"), ("locked", "boolean"))
            if field in entry
        ]
        for tag, declared in entry.get("tags", {}).items():
            if isinstance(declared, str):
                columns.append(Column("tags." + tag, declared, default_type))
            else:
                columns.append(Column("tags." + tag, declared.get(key, tag), declared.get("type", default_type)))
        ident = entry["id"]
        return cls(
            kind=kind,
            pattern=entry[kind],
            format=entry.get("format"),
            id_name=ident if isinstance(ident, str) else None,
            id_path=ident["path"] if isinstance(ident, dict) else None,
            columns=tuple(columns),
            delete_empty=entry.get("empty", "skip") == "delete",
        )


def is_source(entry: Any) -> bool:
    """Whether an `include:` entry is a table or JSON source (not a glob string)."""
    return isinstance(entry, dict)


# ---------------------------------------------------------------------- results
class RowOrigin:
    """Where one row (or JSON object) was read: places errors on its cells."""

    __slots__ = ("data", "index")

    def __init__(self, data: _Reader, index: int) -> None:
        self.data, self.index = data, index

    def error(self, path: tuple, message: str) -> Located:
        """An error about the entry's `path` (as providers name it: (), ("status",),
        ("tags", key), …) at the cell that set it; the id's cell for the entry itself."""
        target = None
        if path[:1] in (("status",), ("locked",)):
            target = path[0]
        elif len(path) >= 2 and path[0] == "tags":
            target = f"tags.{path[1]}"
        return self.data.cell_error(self.index, target, message)

    def where(self) -> str:
        """FILE:LINE:COLUMN of the row's id, for "already defined at" messages."""
        error = self.data.cell_error(self.index, None, "")
        return f"{error.file}:{error.line}:{error.column}"


@dataclass
class SourceFile:
    """One table or JSON file read: its entries in file order and its problems."""

    display: str
    raw: bytes
    entries: list[tuple[str, Assignment, RowOrigin]]
    errors: list[Located]
    hidden: int = 0  # problems found beyond the MAX_SHOWN in `errors`


class _Reader:
    """A format's reader, which also places errors on the cells it read."""

    display: str
    text: str
    errors: list[Located]
    hidden: int
    _line_starts: list[int] | None = None

    def line_starts(self) -> list[int]:
        """The offset where each line starts (found once, when a position is needed)."""
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", self.text)]
        return self._line_starts

    def line_column(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a text offset."""
        starts = self.line_starts()
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def read(self) -> list[tuple[str, Assignment, RowOrigin]]:
        raise NotImplementedError

    def cell_error(self, index: int, target: str | None, message: str) -> Located:
        """`message` at the cell of entry `index` that set `target` (None: the id)."""
        raise NotImplementedError

    def add(self, error: Callable[..., Located]) -> None:
        """Record a problem; past MAX_SHOWN only counted (a wrong type in each of
        100,000 rows is 20 lines and a count, built in no time). `error` is called with
        no arguments: a lambda binding the loop's values as its defaults."""
        if len(self.errors) < MAX_SHOWN:
            self.errors.append(error())
        else:
            self.hidden += 1


def capped(errors: list[Located], sources: Iterable[SourceFile]) -> list[Located]:
    """`errors` (sorted by file) with at most MAX_SHOWN of each table or JSON source,
    then a line saying how many more: a wrong type in each of 100,000 rows is one
    screenful, not 100,000 lines. YAML files' errors are all kept."""
    hidden: dict[str, int] = {}
    for source in sources:
        hidden[source.display] = hidden.get(source.display, 0) + source.hidden
    shown: dict[str, int] = {}
    out: list[Located] = []
    for error in errors:
        if error.file in hidden:
            shown[error.file] = shown.get(error.file, 0) + 1
            if shown[error.file] > MAX_SHOWN:
                hidden[error.file] += 1
                continue
        out.append(error)
    for display, count in hidden.items():
        if count:
            last = max((i for i, e in enumerate(out) if e.file == display), default=len(out) - 1)
            out.insert(
                last + 1,
                Located(
                    display,
                    None,
                    None,
                    f"... and {count} more problem(s) in this file (the first {MAX_SHOWN} are shown)",
                ),
            )
    return out


# ------------------------------------------------------------------ reading files
def read_source(path: Path, display: str, relative: str, config: SourceConfig) -> SourceFile:
    """Read and type one source file; raises Located when the file as a whole is
    unusable (too large, not UTF-8, not CSV/JSON at all)."""
    return parse_source(_read_capped(path, display), display, relative, config)


def parse_source(raw: bytes, display: str, relative: str, config: SourceConfig) -> SourceFile:
    """Type the bytes of one source (a file's, or records given to Spec.with_entries)."""
    text = decode_utf8(raw, display).removeprefix("\ufeff")  # a UTF-8 BOM is fine
    if config.kind == "table":
        fmt = config.format or FORMATS.get(posixpath.splitext(relative)[1].lower())
        reader: _Reader = _TableReader(display, text, fmt or "csv", config)
    else:
        reader = _JsonReader(display, text, relative, config)
    entries = reader.read()
    return SourceFile(display, raw, entries, reader.errors, reader.hidden)


def format_problem(config: SourceConfig, relative: str) -> str | None:
    """Why a table's format cannot be known from its name (or None)."""
    if config.kind != "table" or config.format is not None:
        return None
    if posixpath.splitext(relative)[1].lower() in FORMATS:
        return None
    return (
        f"cannot tell the format of {relative!r} from its extension "
        f"(.csv or .tsv): write `format: csv` or `format: tsv`"
    )


def _read_capped(path: Path, display: str) -> bytes:
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            raise Located(
                display,
                None,
                None,
                f"file is {size / 2**20:,.0f} MiB, larger than the {MAX_BYTES // 2**20} MiB "
                "a table or JSON source may be (split it)",
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise Located(display, None, None, f"cannot read file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:  # it grew while we looked
        raise Located(
            display,
            None,
            None,
            f"file is larger than the {MAX_BYTES // 2**20} MiB a table or JSON source may be (split it)",
        )
    return raw


# ------------------------------------------------------------------------ typing
class _BadCell(ValueError):
    """A value that is not of its column's type; the message says what was expected."""


_INTEGER = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)", re.I)
_BOOLEANS = {"true": True, "false": False, "True": True, "False": False, "TRUE": True, "FALSE": False}


def _shown(text: Any) -> str:
    text = str(text)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _integer(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise _BadCell(f"expected an integer, got {_shown(text)}")
    if len(text) > 4000:
        raise _BadCell("expected an integer, got a number of more than 4000 digits")
    return int(text)


def _float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise _BadCell(f"expected a float, got {_shown(text)}")
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise _BadCell(f"expected a float, got {_shown(text)} (out of range)")
    return value


def _boolean(text: str) -> bool:
    value = _BOOLEANS.get(text)
    if value is None:
        raise _BadCell(f"expected true or false, got {_shown(text)}")
    return value


def _timestamp(text: str) -> datetime:
    try:
        return to_scalar(datetime.fromisoformat(text))
    except ValueError:
        raise _BadCell(f"expected an ISO 8601 timestamp (2026-12-05T10:00:00Z), got {_shown(text)}") from None


_TEXT_PARSERS: dict[str, Callable[[str], Any] | None] = {
    "string": None,
    "integer": _integer,
    "float": _float,
    "boolean": _boolean,
    "timestamp": _timestamp,
}


def _json_value(value: Any, declared: str | None) -> Any:
    """A JSON value as its declared type: JSON already types numbers and booleans, so
    only what the declaration allows passes (an integer is a float's value too)."""
    if declared is None:
        if isinstance(value, (str, int, float)):  # bool is an int
            return value
        raise _BadCell(f"expected a string, number or boolean, got {_json_kind(value)}")
    if declared == "string" and isinstance(value, str):
        return value
    if declared == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if declared == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if declared == "boolean" and isinstance(value, bool):
        return value
    if declared == "timestamp" and isinstance(value, str):
        return _timestamp(value)
    word = {
        "string": "a string",
        "integer": "an integer",
        "float": "a number",
        "boolean": "true or false",
        "timestamp": "an ISO 8601 timestamp string",
    }[declared]
    raise _BadCell(f"expected {word}, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_shown(value)}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "null"


@lru_cache(maxsize=1024)
def _tag_key(target: str) -> str:
    return target[len("tags.") :]


def _assignment(display: str, values: list[tuple[str, Any, str, int]]) -> Assignment:
    """(target, value, cell name, line) → the entry; a tag's value None deletes it."""
    status = locked = None
    tags: dict[str, Setting] = {}
    for target, value, cell, line in values:
        if target == "status":
            status = Setting(value, Source(display, line, None, None, cell))
        elif target == "locked":
            locked = Setting(value, Source(display, line, None, None, cell))
        else:  # the tag key, sliced once per column (_tag_key), not once per cell
            tags[_tag_key(target)] = Setting(
                None if value is None else (value,), Source(display, line, None, None, cell)
            )
    return Assignment(status=status, locked=locked, tags=tags)


# ------------------------------------------------------------------------ tables
class _TableReader(_Reader):
    """RFC 4180 CSV (or TSV) with a header line; rows are records, so a quoted cell
    may span lines and the line numbers stay those an editor shows."""

    def __init__(self, display: str, text: str, fmt: str, config: SourceConfig) -> None:
        self.display, self.text, self.config = display, text, config
        self.delimiter = DELIMITERS[fmt]
        self.errors: list[Located] = []
        self.hidden = 0
        self.header: list[str] = []
        self.lines: list[int] = []  # start line of each entry's record
        self.record_line = 1  # where the record being read starts

    def read(self) -> list[tuple[str, Assignment, RowOrigin]]:
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter, strict=True)
        try:
            with collector_paused():
                entries = self._rows(reader)
                settle()
                return entries
        except csv.Error as exc:
            line = self.record_line
            message = str(exc)
            if "end of data" in message:  # csv's words for a quote never closed
                message = 'a quoted cell of this row is never closed (a quote inside a cell is written "")'
            self.add(lambda: Located(self.display, line, None, f"not valid {self._format_name()}: {message}"))
            return []

    def _format_name(self) -> str:
        return "CSV" if self.delimiter == "," else "TSV"

    def _rows(self, reader: Any) -> list[tuple[str, Assignment, RowOrigin]]:
        header = next(reader, None)
        if not header:
            self.add(
                lambda: Located(
                    self.display,
                    1,
                    1,
                    "the first line must be a header naming the columns"
                    + (" (the file is empty)" if not self.text else ""),
                )
            )
            return []
        self.header = header
        indexes = self._header_indexes(header)
        if indexes is None:
            return []
        id_index, fields = indexes
        width = len(header)
        display, delete = self.display, self.config.delete_empty
        entries: list[tuple[str, Assignment, RowOrigin]] = []
        previous = reader.line_num
        self.record_line = previous + 1
        for record in reader:
            line, previous = previous + 1, reader.line_num
            self.record_line = previous + 1
            if not record:
                continue  # a blank line
            if len(record) != width:
                cells = len(record)
                self.add(
                    lambda line=line, n=cells: Located(
                        display, line, 1, f"row has {n} cell(s), the header has {width} column(s)"
                    )
                )
                continue
            item_id = record[id_index]
            if not item_id:
                self.add(lambda line=line: self._cell_located(line, id_index, "the id is empty"))
                continue
            values = []
            bad = False
            for target, index, parse, cell in fields:
                text = record[index]
                if not text:
                    if delete and target[0] == "t":
                        values.append((target, None, cell, line))
                    continue
                if parse is not None:
                    try:
                        value = parse(text)
                    except _BadCell as exc:
                        self.add(lambda line=line, index=index, m=str(exc): self._cell_located(line, index, m))
                        bad = True
                        continue
                else:
                    value = text
                values.append((target, value, cell, line))
            if bad:
                continue
            entries.append((item_id, _assignment(display, values), RowOrigin(self, len(self.lines))))
            self.lines.append(line)
        return entries

    def _header_indexes(self, header: list[str]) -> tuple[int, list[tuple[str, int, Any, str]]] | None:
        """The id column's index and (target, index, parser, name) per declared column;
        None when the header itself is wrong (every problem of it reported)."""
        other = "\t" if self.delimiter == "," else ","
        if len(header) == 1 and other in header[0]:
            self.add(
                lambda: Located(
                    self.display,
                    1,
                    1,
                    f"the header has no {_DELIMITER_NAMES[self.delimiter]} but has {_DELIMITER_NAMES[other]}: "
                    f"this looks like {'TSV' if other == chr(9) else 'CSV'}, not {self._format_name()} "
                    f"(rename the file or write `format: {'tsv' if other == chr(9) else 'csv'}`)",
                )
            )
            return None
        first: dict[str, int] = {}
        ok = True
        for index, name in enumerate(header):
            if not name:
                self.add(lambda index=index: self._at_cell(1, index, f"column {index + 1} has no name"))
                ok = False
            elif name in first:
                self.add(
                    lambda index=index, name=name: self._at_cell(
                        1, index, f"duplicate column name {name!r} (also column {first[name] + 1})"
                    )
                )
                ok = False
            else:
                first[name] = index
        wanted = [("id", self.config.id_name or "", None)] + [(c.target, c.name, c.type) for c in self.config.columns]
        fields = []
        for target, name, declared in wanted:
            if name not in first:
                near = suggest(name, [h for h in header if h])
                hint = f": did you mean {near!r}?" if near is not None else ""
                self.add(
                    lambda name=name, hint=hint: Located(
                        self.display,
                        1,
                        1,
                        f"column {name!r} is not in the header{hint} (columns: {', '.join(map(repr, header))[:300]})",
                    )
                )
                ok = False
            elif target != "id":
                fields.append((target, first[name], _TEXT_PARSERS[declared or "string"], name))
        if not ok:
            return None
        return first[self.config.id_name or ""], fields

    # ------------------------------------------------------------ positions
    def cell_error(self, index: int, target: str | None, message: str) -> Located:
        name = (
            (self.config.id_name or "")
            if target is None
            else next(c.name for c in self.config.columns if c.target == target)
        )
        return self._cell_located(self.lines[index], self.header.index(name), message, name)

    def _cell_located(self, line: int, field: int, message: str, name: str | None = None) -> Located:
        """`message` about a cell, naming its column."""
        name = self.header[field] if name is None else name
        return self._at_cell(line, field, f"column {name!r}: {message}" if message else "")

    def _at_cell(self, line: int, field: int, message: str) -> Located:
        line, column = self._cell_position(line, field)
        return Located(self.display, line, column, message)

    def _cell_position(self, line: int, field: int) -> tuple[int, int]:
        """Line and column (1-based, in characters) where cell `field` of the record
        starting on `line` begins: found again only for errors, by walking the record's
        quotes and delimiters."""
        text = self.text
        pos = self.line_starts()[line - 1]
        for _ in range(field):
            if pos < len(text) and text[pos] == '"':
                pos += 1
                while pos < len(text):
                    if text[pos] == '"':
                        if text[pos + 1 : pos + 2] == '"':
                            pos += 2
                            continue
                        pos += 1
                        break
                    pos += 1
            stop = text.find(self.delimiter, pos)
            pos = len(text) if stop < 0 else stop + 1
        return self.line_column(pos)


# -------------------------------------------------------------------------- JSON
class _JsonReader(_Reader):
    """One object a file (its id from the path or a key), a list of objects, or an
    object of id → object."""

    def __init__(self, display: str, text: str, relative: str, config: SourceConfig) -> None:
        self.display, self.text, self.relative, self.config = display, text, relative, config
        self.errors: list[Located] = []
        self.hidden = 0
        self.rows: list[tuple[tuple, tuple]] = []  # each entry's path and its id's path
        self._offsets: dict[tuple, dict[Any, int]] = {}

    def read(self) -> list[tuple[str, Assignment, RowOrigin]]:
        data, _ = parse_json(self.text, self.display)
        with collector_paused():  # as for tables: many small objects, none in a cycle
            entries = self._entries(data)
            settle()
            return entries

    def _entries(self, data: Any) -> list[tuple[str, Assignment, RowOrigin]]:
        entries = []
        for item_id, path, id_path, obj in self._objects(data):
            values = []
            bad = False
            for column in self.config.columns:
                value = obj.get(column.name)
                if value is None:
                    if self.config.delete_empty and column.target[0] == "t":
                        line = self._position(path + (column.name,))[0]
                        values.append((column.target, None, column.name, line))
                    continue
                try:
                    line = self._position(path + (column.name,))[0]
                    values.append((column.target, _json_value(value, column.type), column.name, line))
                except _BadCell as exc:
                    self.add(lambda p=path + (column.name,), m=str(exc), n=column.name: self._at(p, f"key {n!r}: {m}"))
                    bad = True
            if bad:
                continue
            entries.append((item_id, _assignment(self.display, values), RowOrigin(self, len(self.rows))))
            self.rows.append((path, id_path))
        return entries

    def _objects(self, data: Any) -> list[tuple[str, tuple, tuple, dict]]:
        """(id, path, path of the id, object) of each entry in the document."""
        if self.config.id_path is not None:
            match = re.fullmatch(re.escape(self.config.id_path).replace(r"\{id\}", "([^/]+)"), self.relative)
            if match is None:
                self.add(
                    lambda: Located(
                        self.display,
                        None,
                        None,
                        f"its path does not fit the id path {self.config.id_path!r}, so it names no id",
                    )
                )
                return []
            if not isinstance(data, dict):
                self.add(
                    lambda: self._at((), f"expected one object (its id is in the file's path), got {_json_kind(data)}")
                )
                return []
            return [(match.group(1), (), (), data)]
        key = self.config.id_name or ""
        candidates: list[tuple[tuple[Any, ...], Any]]
        if isinstance(data, dict) and key in data:
            candidates = [((), data)]
        elif isinstance(data, list):
            candidates = list(((i,), v) for i, v in enumerate(data))
        elif isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
            return [(k, (k,), (k,), v) for k, v in data.items()]
        else:
            self.add(
                lambda: self._at(
                    (),
                    f"expected an object with key {key!r}, a list of such objects, "
                    f"or an object of id → object, got {_json_kind(data)}",
                )
            )
            return []
        out = []
        for path, obj in candidates:
            if not isinstance(obj, dict):
                self.add(lambda p=path, o=obj: self._at(p, f"expected an object, got {_json_kind(o)}"))
                continue
            ident = obj.get(key)
            if isinstance(ident, int) and not isinstance(ident, bool):
                ident = str(ident)
            if not isinstance(ident, str) or not ident:
                self.add(
                    lambda p=path, i=ident, has=key in obj: self._at(
                        p + ((key,) if has else ()),
                        f"key {key!r}: expected a non-empty id (text or integer), got {_json_kind(i)}"
                        if has
                        else f"the object has no id key {key!r}",
                    )
                )
                continue
            out.append((ident, path, path + (key,), obj))
        return out

    # ------------------------------------------------------------ positions
    def cell_error(self, index: int, target: str | None, message: str) -> Located:
        path, id_path = self.rows[index]
        if target is None:
            return self._at(id_path, message)
        name = next(c.name for c in self.config.columns if c.target == target)
        return self._at(path + (name,), f"key {name!r}: {message}")

    def _at(self, path: tuple, message: str) -> Located:
        line, column = self._position(path)
        return Located(self.display, line, column, message)

    def _position(self, path: tuple) -> tuple[int, int]:
        return self.line_column(self._offset(path))

    def _offset(self, path: tuple) -> int:
        """Offset of the value at `path`: each container's members are located in one
        pass and kept, so placing every value of a list of n objects costs O(n)."""
        offset = _skip(self.text, 0)
        for depth in range(len(path)):
            members = self._offsets.get(path[:depth])
            if members is None:
                members = self._offsets[path[:depth]] = _members(self.text, offset)
            if path[depth] not in members:
                return offset
            offset = members[path[depth]]
        return offset


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]  # matches empty too


def _members(text: str, pos: int) -> dict[Any, int]:
    """Key (object) or index (list) → offset of its value, for the container at `pos`
    of a document that parsed."""
    out: dict[Any, int] = {}
    if text[pos] not in "[{":
        return out
    is_list = text[pos] == "["
    pos = _skip(text, pos + 1)
    index = 0
    while text[pos] not in "]}":
        if is_list:
            key: Any = index
            index += 1
        else:
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, _skip(text, pos) + 1)  # past the colon
        out[key] = pos
        pos = _skip(text, _DECODER.raw_decode(text, pos)[1])
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    return out
