"""Safe YAML reading with positions, for specs and seed files (docs/spec.md, "YAML").

PyYAML only parses and composes here; turning nodes into data is done by `_Builder`,
so no YAML 1.1 surprise (`NO` → False, `0755` → octal, `<<` merges) and no constructor
that could run code ever sees the input. While building, every value and mapping key
remembers its line and column, so later checks (schema, includes, provider rules) can
point at the exact place in the file.

Three ways in, one result (tests/test_yamlload.py holds them to it): a plain JSON file
is read by the json module; otherwise libyaml's events are built into data directly
when PyYAML has libyaml; anything unusual (an alias, an error, a construct the parsers
treat differently) is composed into nodes, by libyaml or by PyYAML's pure-Python parser.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast
from collections.abc import Callable, Iterator, Mapping

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from .errors import Located
from .gcpause import collector_paused
from .jsonload import BadToken, JsonPath, all_positions, no_duplicate_keys, reject_constant, value_lines

MAX_BYTES = 8 * 1024 * 1024
MAX_EXPANDED_NODES = 100_000  # nodes that aliases may add on top of the file's own
MAX_DEPTH = 100


_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, TIMESTAMP = (_TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp"))
SEQ, MAP = _TAG + "seq", _TAG + "map"

# YAML 1.2 core schema, plus timestamps (YAML 1.1 form) so dates can be tag values.
# Keyed by first character, as only these can start a non-string plain scalar.
_NULL = (NULL, re.compile(r"~|null|Null|NULL|"))
_BOOL = (BOOL, re.compile(r"true|True|TRUE|false|False|FALSE"))
_INT = (INT, re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"))
_FLOAT = (FLOAT, re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"))
_SPECIAL_FLOAT = (FLOAT, re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"))
_DATE = (TIMESTAMP, re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"))
_DATETIME = (
    TIMESTAMP,
    re.compile(
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
        r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?"
    ),
)
_IMPLICIT = {
    "": [_NULL],
    "~": [_NULL],
    "n": [_NULL],
    "N": [_NULL],
    "t": [_BOOL],
    "T": [_BOOL],
    "f": [_BOOL],
    "F": [_BOOL],
    "+": [_INT, _FLOAT, _SPECIAL_FLOAT],
    "-": [_INT, _FLOAT, _SPECIAL_FLOAT],
    ".": [_FLOAT, _SPECIAL_FLOAT],
    **{digit: [_INT, _FLOAT, _DATE, _DATETIME] for digit in "0123456789"},
}
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]*))?"
    r"(?:[ \t]*(?P<tz>Z|(?P<sign>[-+])(?P<tz_hour>[0-9]{1,2})(?::?(?P<tz_minute>[0-9]{2}))?))?)?"
)


@dataclass(frozen=True)
class Document:
    """One YAML file as plain data, plus where each part of it was written."""

    file: str  # the path as shown to the user
    data: Any
    raw: bytes = field(repr=False)
    _values: Mapping[JsonPath, tuple[int, int]] = field(repr=False)
    _keys: Mapping[JsonPath, tuple[int, int]] = field(repr=False)
    _int_texts: Mapping[tuple[JsonPath, bool], str] = field(repr=False)
    # Every key name of a file the json module read, all text (None: not known, a YAML
    # file): what spares a spec's load its walk over the data's keys (spec._read).
    key_names: frozenset[str] | None = field(default=None, repr=False)

    def position(self, path: JsonPath) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its nearest known ancestor."""
        path = tuple(path)
        while path not in self._values:
            path = path[:-1]
        return self._values[path]

    @property
    def positions_deferred(self) -> bool:
        """Whether positions are found only when first asked (a JSON file's)."""
        return isinstance(self._values, _LazyMap)

    def recorded_position(self, path: tuple) -> tuple[int, int] | None:
        """The position of the value at exactly `path` if one was recorded (no ancestor)."""
        return self._values.get(path)

    def __post_init__(self) -> None:
        if type(self._values) is _LazyMap:  # a JSON file's: line_first is its positions' (a call less)
            object.__setattr__(self, "line_first", self._values.line_first)

    def line_first(self, path: JsonPath) -> tuple[int, Callable[[JsonPath], tuple[int, int]]] | None:
        """The line of the value at `path` (or of its nearest ancestor, as `position`)
        and where to ask for the column later, when a JSON file finds lines without
        its positions pass (jsonload.value_lines); None otherwise: ask `position`."""
        return None

    def key_position(self, path: JsonPath) -> tuple[int, int]:
        """Where the mapping key ending `path` is written (its value's place otherwise)."""
        path = tuple(path)
        return self._keys.get(path) or self.position(path)

    def int_text(self, path: JsonPath, *, key: bool = False) -> str | None:
        """The source text of an integer written other than in plain decimal (`007`,
        `0x1F`, `+5`), so callers turning numbers into ids can refuse the surprise."""
        return self._int_texts.get((tuple(path), key))

    def error(self, path: JsonPath, message: str, *, key: bool = False) -> Located:
        line, column = self.key_position(path) if key else self.position(path)
        return Located(self.file, line, column, message)


def read_yaml(path: Path | None, display: str, raw: bytes | None = None) -> Document:
    """Read one YAML document (from `raw` when given: Spec.from_dict reads no file);
    raises Located for anything wrong with the file."""
    if raw is None:
        try:
            with open(path, "rb") as handle:  # type: ignore[arg-type]
                raw = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise Located(display, None, None, f"cannot read file: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise Located(display, None, None, f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    text = _decode(raw, display)
    as_json = _read_as_json(text, display, raw)
    if as_json is not None:
        return as_json
    streamed = _build_streaming(text, display) if _libyaml_fits(text) else None
    if streamed is not None:
        data, built = streamed
        return Document(display, data, raw, built.values, built.keys, built.int_texts)
    try:
        root, aliased = _compose(text)
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        raise Located(display, line, column, f"character U+{exc.character:04X} is not allowed in YAML") from None
    except yaml.MarkedYAMLError as exc:
        raise _located(display, exc) from None
    if root is None:
        raise Located(display, None, None, "file is empty (no YAML document)")
    builder = _Builder(display, consume=not aliased)
    if aliased:  # otherwise the file's own size and nesting, both checked, are all
        builder.check_size(root)
    data = builder.build(root, ())
    return Document(display, data, raw, builder.values, builder.keys, builder.int_texts)


# ------------------------------------------------------------------- JSON files
# JSON is YAML, but a big JSON include composed as YAML costs a hundred times what the
# json module takes (BENCHMARKS.md, "Loading big specs"). A file that is plain JSON the
# YAML path would read to the very same data is read with the json module, positions
# found in one pass over its tokens; anything else (a duplicate key, NaN, a character
# or escape YAML treats otherwise, too deep, not JSON at all) takes the YAML path,
# which gives the data or the located error it always gave.
_JSON_START = re.compile(r"[ \n\r]*[{\[]")
# Searched one by one: as one alternation the four took 46 ms over a 1.5 MB file, apart
# about 8 (the long-key pattern only where a cheap search says a long string may exist).
_NOT_AS_IN_YAML = (
    re.compile("\\\\u[dD][89a-fA-F]"),  # a surrogate escape: one character in JSON, two in PyYAML
    re.compile('"[ \\r\\n]*\\n[ \\r\\n]*:'),  # a key on another line than its ':', as YAML refuses
)
# What YAML refuses, what it reads as a line break inside a string (NEL, LS, PS), and an
# inner byte-order mark (not counted as a column); of ASCII text, the control characters
_ASCII_NOT_AS_IN_YAML = re.compile("[^\n\r\x20-\x7e]")


@cache
def _not_as_in_yaml() -> re.Pattern[str]:
    """The same for any text, compiled when first needed (3 ms: most files are ASCII)."""
    return re.compile("[^\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


# a key near YAML's limit of 1,024 characters for a simple key (counted in characters
# as written: an escape such as \\" is two, so 500 escapes or more may be over it)...
_LONG_KEY = re.compile('"(?:[^"\\\\]|\\\\.){500,}"[ \\r\\n]*:')
# ...needs 500 characters after a quote before the next one, unless a quote is escaped
_LONG_RUN = re.compile('"[^"]{500}')
READ_JSON = True  # tests turn it off to compare with the YAML path


def _read_as_json(text: str, display: str, raw: bytes) -> Document | None:
    if not READ_JSON or not _JSON_START.match(text) or any(p.search(text) for p in _NOT_AS_IN_YAML):
        return None
    if (_ASCII_NOT_AS_IN_YAML if text.isascii() else _not_as_in_yaml()).search(text):
        return None
    if ('\\"' in text or _LONG_RUN.search(text)) and _LONG_KEY.search(text):
        return None
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # a lone CR ends a line in YAML
    facts = _JsonFacts()
    try:
        data = json.loads(
            text,
            object_pairs_hook=facts.mapping,
            parse_constant=reject_constant,
            # -0 is refused (YAML keeps its text): only a file holding "-0" can have it
            parse_int=_plain_int if "-0" in text else None,
        )
    except (ValueError, RecursionError, BadToken):
        return None
    if _nested_deeper_than(data, MAX_DEPTH - 1):
        return None  # the YAML path refuses it, at the place
    positions = _JsonPositions(text)
    return Document(
        display,
        data,
        raw,
        _LazyMap(positions, 0),
        _LazyMap(positions, 1),
        {},
        frozenset(facts.keys),
    )


class _JsonFacts:
    """What the json module's hook sees while reading, noted on the way: each key name.
    Walking 20,000 entries again for it cost more than reading them (BENCHMARKS.md,
    "Loading big specs")."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def mapping(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = no_duplicate_keys(pairs)  # a duplicate: the YAML path refuses it, at its place
        self.keys.update(obj)
        return obj


def _nested_deeper_than(data: Any, levels: int) -> bool:
    """Whether some container of json-loaded `data` lies `levels` containers deep (a
    value there would be MAX_DEPTH deep: conservatively, the YAML path decides), one
    level at a time without positions."""
    level = [data]
    for _ in range(levels):
        level = [v for c in level for v in (c.values() if type(c) is dict else c) if type(v) is dict or type(v) is list]
        if not level:
            return False
    return True


class _PositionsPass:
    """Every position of a JSON file (jsonload.all_positions), found on first use: a
    valid spec's `validate` asks for none, a plan for those its changes name, and the
    one regex pass was a third of a large JSON include's load (BENCHMARKS.md). Shared by
    the file's position maps and the sources that found their lines without it (one
    pass, whoever asks first); it keeps the file's text alone, not the file."""

    def __init__(self, text: str) -> None:
        self._text = text
        # no reference back to the maps: a cycle would keep every position alive until a
        # full collection
        self._found: tuple[Mapping[JsonPath, tuple[int, int]], Mapping[JsonPath, tuple[int, int]]] = ({}, {})
        self.searched = (False, False)  # values, keys

    def found(self, which: int) -> Mapping[JsonPath, tuple[int, int]]:
        """`which` 0: the values' positions (all a plan's sources name: the pass skips
        the keys), 1: the keys' (a message about a key; the values' too, if not yet)."""
        if not self.searched[which]:
            with collector_paused():  # as while loading: many small objects, no cycle
                values, keys = all_positions(self._text, with_keys=which == 1)
            self._found = (self._found[0] if self.searched[0] else values, keys)
            self.searched = (True, which == 1)
            if which == 1:
                self._text = ""  # nothing left to search for
        return self._found[which]

    def value_position(self, path: JsonPath) -> tuple[int, int]:
        """As Document.position: of the value at `path`, or of its nearest ancestor (a
        source's column, asked after its line was found without this pass)."""
        values = self.found(0)
        while path not in values:
            path = path[:-1]
        return values[path]


class _JsonPositions:
    """A JSON file's positions (_PositionsPass), and the lines of its one-line values
    found without that pass (jsonload.value_lines) for the sources a plan names."""

    def __init__(self, text: str) -> None:
        self.passes = _PositionsPass(text)
        self._text = text  # for value_lines, once
        self._lines: dict[JsonPath, int] | None = None  # value_lines, when first asked
        self._depths: list[int] = []  # the lengths of its paths

    def line_first(self, path: JsonPath) -> tuple[int, Callable[[JsonPath], tuple[int, int]]] | None:
        """Document.line_first: a plan names 300,000 sources of a 100,000-entry include
        by their lines, found by one walk with json's C scanner (0.18 s) instead of the
        positions pass (0.46 s) and its 300,000 paths (BENCHMARKS.md "Fourth round").
        The column, which only messages need, comes from that pass when asked."""
        lines = self._lines
        if lines is None:
            if self.passes.searched[0]:
                return None  # the positions are there: `position` answers exactly
            with collector_paused():
                lines = self._lines = value_lines(self._text) or {}
            self._text = ""
            self._depths = sorted({len(p) for p in lines})
        # one-line values do not nest, so at most one depth holds a prefix of `path`;
        # an include's entries are all at one depth: one lookup
        for depth in self._depths:
            if depth > len(path):
                break
            line = lines.get(path[:depth])
            if line is not None:
                return line, self.passes.value_position
        return None  # not inside a value on one line: all_positions decides


class _LazyMap(Mapping[JsonPath, tuple[int, int]]):
    def __init__(self, positions: _JsonPositions, which: int) -> None:
        self._positions, self._which = positions, which
        self.line_first = positions.line_first

    def __getitem__(self, path: JsonPath) -> tuple[int, int]:
        return self._positions.passes.found(self._which)[path]

    def get(self, path: JsonPath, default: Any = None) -> Any:
        found = self._positions.passes.found(self._which)
        # the found map's own get from now on (an instance attribute hides this method):
        # a plan asks once for each of a big include's 300,000 sources
        self.get = found.get  # type: ignore[method-assign,assignment]
        return found.get(path, default)

    def __contains__(self, path: object) -> bool:
        return path in self._positions.passes.found(self._which)

    def __iter__(self) -> Iterator[JsonPath]:
        return iter(self._positions.passes.found(self._which))

    def __len__(self) -> int:
        return len(self._positions.passes.found(self._which))


def _plain_int(token: str) -> int:
    value = int(token)
    if token != str(value):  # -0: YAML keeps the text (Document.int_text)
        raise BadToken()
    return value


# ------------------------------------------------------------------ decoding, errors
def _decode(raw: bytes, display: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[start : exc.start].decode("utf-8")) + 1
        raise Located(display, line, column, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _located(display: str, exc: yaml.MarkedYAMLError) -> Located:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    problem = exc.problem or exc.context or "invalid YAML"
    if "'\\t'" in problem:
        message = "tab character where YAML expects spaces (indent with spaces only)"
    elif exc.context == "expected a single document in the stream":
        message = "a second YAML document ('---') in the file; only one is allowed"
    elif problem.startswith("expected <block end>") and exc.context_mark is not None:
        message = _bad_indentation(exc.context or "", exc.context_mark)
    elif problem == "mapping values are not allowed here":
        message = (
            "unexpected ':' (a value holding ': ' must be quoted, and a key must not be "
            "indented deeper than the keys beside it)"
        )
    else:
        message = problem
        if exc.context and exc.problem:
            where = exc.context_mark
            message += f" ({exc.context}"
            if where and where is not mark:
                message += f" at line {where.line + 1}, column {where.column + 1}"
            message += ")"
    return Located(display, line, column, message)


def _bad_indentation(context: str, start: yaml.Mark) -> str:
    """PyYAML's "expected <block end>, but found '<block mapping start>'" in plain words:
    a line that does not line up with the block around it."""
    block = "list" if "collection" in context or "sequence" in context else "mapping"
    return (
        f"bad indentation: this line does not line up with the {block} that starts at "
        f"line {start.line + 1}, column {start.column + 1} (the keys of one mapping, and "
        "the items of one list, start in the same column)"
    )


def _describe_key(key: Any) -> str:
    text = str(key)
    return repr(text if len(text) <= 60 else text[:57] + "...")


# ----------------------------------------------------------------- composing
class _Resolver(BaseResolver):
    """Plain scalars by the YAML 1.2 core schema (+ timestamps); nothing else implicit."""

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        # BaseResolver.resolve without its (empty) tables: called once per node.
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in _IMPLICIT.get(value[:1], ()):
                    if pattern.fullmatch(value):
                        return tag
            return STR
        return SEQ if kind is SequenceNode else MAP


# libyaml's parser and composer (C) where PyYAML was built with it: the pure-Python
# scanner was most of a big spec's load time (BENCHMARKS.md, "Loading big specs"). Both
# compose the same nodes with the same marks; tests run the loader's tests on both paths.
USE_LIBYAML = bool(getattr(yaml, "__with_libyaml__", False))
_PURE_PYTHON_ONLY = re.compile("[\t?|>\ufeff]")


def _libyaml_fits(text: str) -> bool:
    return USE_LIBYAML and not _PURE_PYTHON_ONLY.search(text, 1 if text.startswith("\ufeff") else 0)


class _NotStreamable(Exception):
    """Something only the node graph handles as it always did: an alias, an error."""


def _build_streaming(text: str, display: str) -> tuple[Any, _Builder] | None:
    """The data and positions built straight from libyaml's events, never holding the
    node graph (two Marks per node: most of a big file's peak memory). Only the common
    case: any anchor or alias, error, nesting over MAX_DEPTH or placement the parsers disagree on
    (see `_same_as_pure_python`) returns None, and the graph path then gives what it
    always gave, its error in its order included."""
    parser = _CLoader(text)
    builder = _Builder(display)
    lines: list[str] = []

    def resolved(event: Any, kind: type) -> str:
        tag = event.tag
        if tag is None or tag == "!":
            tag = parser.resolve(kind, getattr(event, "value", None), event.implicit)
        return tag

    def scalar(event: Any) -> Any:
        mark = event.start_mark
        if not event.value and not event.style:  # placed differently by the two parsers?
            if not lines:
                lines.extend(text.splitlines() or [""])
            line = lines[mark.line] if mark.line < len(lines) else ""
            if not 0 < mark.column <= len(line) or line[mark.column - 1] not in ":-":
                raise _NotStreamable()
        return builder.scalar(ScalarNode(resolved(event, ScalarNode), event.value, mark))

    def keep_int_text(event: Any, value: Any, path: JsonPath, key: bool) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and event.value != str(value):
            builder.int_texts[(path, key)] = event.value

    def node(event: Any, path: JsonPath, depth: int) -> Any:
        if depth > MAX_DEPTH or getattr(event, "anchor", None) is not None:
            raise _NotStreamable()  # an anchor: the graph path checks it as PyYAML does
        mark = event.start_mark
        builder.values[path] = (mark.line + 1, mark.column + 1)
        kind = type(event)
        if kind is yaml.ScalarEvent:
            value = scalar(event)
            keep_int_text(event, value, path, False)
            return value
        if kind is yaml.SequenceStartEvent:
            if resolved(event, SequenceNode) != SEQ:
                raise _NotStreamable()
            items: list = []
            while type(child := parser.get_event()) is not yaml.SequenceEndEvent:
                items.append(node(child, path + (len(items),), depth + 1))  # noqa: F821 (deleted in `finally`, after the last call)
            return items
        if kind is not yaml.MappingStartEvent or resolved(event, MappingNode) != MAP:
            raise _NotStreamable()  # an alias
        out: dict = {}
        while type(key_event := parser.get_event()) is not yaml.MappingEndEvent:
            if type(key_event) is not yaml.ScalarEvent or depth >= MAX_DEPTH or key_event.anchor is not None:
                raise _NotStreamable()
            key = scalar(key_event)
            if key in out or (key == "<<" and not key_event.style):
                raise _NotStreamable()
            here = path + (key,)
            keep_int_text(key_event, key, here, True)
            key_mark: Any = key_event.start_mark  # a parser's events always carry their marks
            builder.keys[here] = (key_mark.line + 1, key_mark.column + 1)
            out[key] = node(parser.get_event(), here, depth + 1)  # noqa: F821 (deleted in `finally`, after the last call)
        return out

    try:
        parser.get_event()  # stream start
        if type(parser.get_event()) is not yaml.DocumentStartEvent:
            return None  # empty: the graph path says so
        data = node(parser.get_event(), (), 1)
        if type(parser.get_event()) is not yaml.DocumentEndEvent:
            return None
        if type(parser.get_event()) is not yaml.StreamEndEvent:
            return None  # a second document
    except (yaml.YAMLError, Located, _NotStreamable):
        return None
    finally:
        parser.dispose()
        # `node` calls itself through its closure: a cycle that kept the builder, and
        # every position it holds, alive until a full collection (the CLI pauses the
        # collector and skips that collection: gcpause.py)
        del node
    return data, builder


def _compose(text: str) -> tuple[Node | None, bool]:
    """The document's root node, and whether it may hold aliases (known on libyaml's
    path: an alias is a shared node there)."""
    if not _libyaml_fits(text):
        # Where the two parsers were seen to differ (tests/test_yamlload.py compares
        # them on mangled documents): PyYAML refuses some tabs and some '?' inside a
        # plain scalar that libyaml accepts, and some block scalar headers (`|#`), and
        # counts a byte-order mark past the start as a column. A file holding any of
        # these characters, rare in a spec, keeps the pure-Python verdict (and speed).
        return _pure_compose(text)
    loader = _CLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError:
        # libyaml words its errors differently: a broken file is read again by the
        # pure-Python parser, so every message is the same on both paths.
        return _pure_compose(text)
    finally:
        loader.dispose()
    if root is None:
        return None, False
    aliased = _same_as_pure_python(root, text)
    return _pure_compose(text) if aliased is None else (root, aliased)


def _pure_compose(text: str) -> tuple[Node | None, bool]:
    return yaml.compose(text, Loader=_Loader), True  # type: ignore[arg-type]


def _same_as_pure_python(root: Node, text: str) -> bool | None:
    """Check a graph libyaml composed for what `_Loader` refuses while composing: a
    node written more than MAX_DEPTH levels deep (libyaml stops at 1,000 itself; an
    alias is a shared node here, and its first visit in document order is where it is
    written). False where the two parsers place a node differently: an empty value
    (`{a: , b}`, a bare `? `) is placed after its ':' by PyYAML but at the next token by
    libyaml; a block `a:` or `- ` with nothing after is placed alike by both. Otherwise,
    whether the graph holds an alias."""
    aliased = False
    seen: set[int] = set()
    empty: list[Node] = []
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", node.start_mark)
        if id(node) in seen:
            aliased = True
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in reversed(node.value))
        elif isinstance(node, MappingNode):
            stack.extend((part, depth + 1) for pair in reversed(node.value) for part in reversed(pair))
        elif isinstance(node, ScalarNode) and not node.value and not node.style:
            empty.append(node)
    if empty:
        lines = text.splitlines()
        for node in empty:
            line, column = node.start_mark.line, node.start_mark.column
            if (
                not (0 < column <= len(lines[line]) if line < len(lines) else False)
                or lines[line][column - 1] not in ":-"
            ):
                return None
    return aliased


if USE_LIBYAML:
    from yaml._yaml import CParser  # libyaml's binding, where yaml.cyaml takes it from

    class _CLoader(CParser, _Resolver):
        """libyaml's parse and compose, with our resolver: no constructor either."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver.__init__(self)


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    """Parse and compose only: no constructor is ever attached."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # The composer recurses per level: refuse deep nesting before Python's stack does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# ------------------------------------------------------------------- building
class _Builder:
    """Nodes → plain data, recording positions; aliases are copied, within bounds."""

    def __init__(self, display: str, *, consume: bool = False) -> None:
        self.display = display
        # Without aliases each node is built once: let go of it once built, so the
        # node graph and the data are not both held whole (half a big file's peak).
        self.consume = consume
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.int_texts: dict[tuple[JsonPath, bool], str] = {}

    def fail(self, node: Node, message: str) -> Located:
        return Located(self.display, node.start_mark.line + 1, node.start_mark.column + 1, message)

    def check_size(self, root: Node) -> None:
        """Refuse alias bombs before expanding anything: sizes are memoised per node,
        so this costs one visit per distinct node however deep the aliases nest."""
        sizes: dict[int, tuple[int, int]] = {}  # id(node) → (expanded size, depth)
        visiting: set[int] = set()

        def measure(node: Node) -> tuple[int, int]:
            if id(node) in sizes:
                return sizes[id(node)]
            if id(node) in visiting:
                raise self.fail(node, "an alias refers to a node that contains it")
            visiting.add(id(node))
            children: list[Node] = []
            if isinstance(node, SequenceNode):
                children = node.value
            elif isinstance(node, MappingNode):
                children = [part for pair in node.value for part in pair]
            measured = [measure(child) for child in children]
            total = 1 + sum(s for s, _ in measured)
            depth = 1 + max((d for _, d in measured), default=0)
            visiting.discard(id(node))
            sizes[id(node)] = (total, depth)
            if total - len(sizes) > MAX_EXPANDED_NODES:
                raise self.fail(node, f"alias expansion exceeds {MAX_EXPANDED_NODES} nodes")
            if depth > MAX_DEPTH:
                raise self.fail(node, f"aliases nest deeper than {MAX_DEPTH} levels")
            return total, depth

        measure(root)

    def build(self, node: Node, path: JsonPath) -> Any:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != SEQ:
                raise self.fail(node, _tag_not_allowed(node.tag))
            return [self.build(child, path + (i,)) for i, child in enumerate(self.children(node))]
        value = self.scalar(cast(ScalarNode, node))  # yaml's third and last kind of node
        if isinstance(value, int) and not isinstance(value, bool) and node.value != str(value):
            self.int_texts[(path, False)] = node.value
        return value

    def build_mapping(self, node: MappingNode, path: JsonPath) -> dict:
        if node.tag != MAP:
            raise self.fail(node, _tag_not_allowed(node.tag))
        out: dict = {}
        for key_node, value_node in self.children(node):
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a scalar, not a list or mapping")
            key = self.scalar(key_node)
            if key == "<<" and not key_node.style:  # plain: None from PyYAML, '' from libyaml
                raise self.fail(
                    key_node, "merge keys ('<<') are not supported (YAML 1.2); alias a whole mapping instead"
                )
            if key in out:
                line, column = self.keys[path + (key,)]
                raise self.fail(
                    key_node,
                    f"duplicate key {_describe_key(key)} (first defined at line {line}, column {column})",
                )
            here = path + (key,)  # one tuple for both maps: a big file has many
            self.keys[here] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if isinstance(key, int) and not isinstance(key, bool) and key_node.value != str(key):
                self.int_texts[(here, True)] = key_node.value
            out[key] = self.build(value_node, here)
        return out

    def children(self, node: Node) -> Iterator[Any]:
        if not self.consume:
            yield from node.value
            return
        parts, node.value = node.value, None
        parts.reverse()
        while parts:
            yield parts.pop()

    def scalar(self, node: ScalarNode) -> Any:
        # Messages never repeat the text: it may be the value of a secret-named key.
        text = node.value
        try:
            if node.tag == STR:
                return text
            if node.tag == NULL and text in ("~", "null", "Null", "NULL", ""):
                return None
            if node.tag == BOOL and text in ("true", "True", "TRUE", "false", "False", "FALSE"):
                return text.lower() == "true"
            if node.tag == INT:
                return _to_int(text)
            if node.tag == FLOAT:
                return _to_float(text)
            if node.tag == TIMESTAMP:
                return _to_datetime(text)
        except ValueError:
            if node.tag == TIMESTAMP:
                raise self.fail(node, "invalid date or time (quote it to keep it as text)") from None
            raise self.fail(node, f"not a valid {_show_tag(node.tag)} value") from None
        if node.tag in (NULL, BOOL):
            raise self.fail(node, f"not a valid {_show_tag(node.tag)} value")
        raise self.fail(node, _tag_not_allowed(node.tag))


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _tag_not_allowed(tag: str) -> str:
    return f"tag {_show_tag(tag)!r} is not allowed (only the standard YAML tags)"


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.lstrip("+-") == ".inf":
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)


def _to_datetime(text: str) -> datetime:
    """A YAML timestamp as an aware datetime; without a zone it is UTC (YAML 1.1)."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        raise ValueError(text)
    part = match.groupdict()
    fraction = (part["fraction"] or "")[:6].ljust(6, "0")
    value = datetime(
        int(part["year"]),
        int(part["month"]),
        int(part["day"]),
        int(part["hour"] or 0),
        int(part["minute"] or 0),
        int(part["second"] or 0),
        int(fraction),
        tzinfo=timezone.utc,
    )
    if part["sign"]:
        offset = timedelta(hours=int(part["tz_hour"]), minutes=int(part["tz_minute"] or 0))
        value -= offset if part["sign"] == "+" else -offset
    return value
