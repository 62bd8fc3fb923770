"""Safe YAML reading with positions, for specs and seed files (docs/spec.md, "YAML").

PyYAML only parses and composes here; turning nodes into data is done by `_Builder`,
so no YAML 1.1 surprise (`NO` → False, `0755` → octal, `<<` merges) and no constructor
that could run code ever sees the input. While building, every value and mapping key
remembers its line and column, so later checks (schema, includes, provider rules) can
point at the exact place in the file.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from .errors import Located
from .jsonload import JsonPath

MAX_BYTES = 5 * 1024 * 1024
MAX_EXPANDED_NODES = 100_000  # nodes that aliases may add on top of the file's own
MAX_DEPTH = 100


_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, TIMESTAMP = (
    _TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
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
    "": [_NULL], "~": [_NULL], "n": [_NULL], "N": [_NULL],
    "t": [_BOOL], "T": [_BOOL], "f": [_BOOL], "F": [_BOOL],
    "+": [_INT, _FLOAT, _SPECIAL_FLOAT], "-": [_INT, _FLOAT, _SPECIAL_FLOAT],
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

    def position(self, path: JsonPath) -> tuple[int, int]:
        """Line and column of the value at `path`, or of its nearest known ancestor."""
        path = tuple(path)
        while path not in self._values:
            path = path[:-1]
        return self._values[path]

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
    try:
        root = yaml.compose(text, Loader=_Loader)  # type: ignore[arg-type]
    except yaml.reader.ReaderError as exc:
        line, column = _line_col(text, exc.position)
        raise Located(
            display, line, column, f"character U+{exc.character:04X} is not allowed in YAML"
        ) from None
    except yaml.MarkedYAMLError as exc:
        raise _located(display, exc) from None
    if root is None:
        raise Located(display, None, None, "file is empty (no YAML document)")
    builder = _Builder(display)
    builder.check_size(root)
    data = builder.build(root, ())
    return Document(display, data, raw, builder.values, builder.keys, builder.int_texts)


# ------------------------------------------------------------------ decoding, errors
def _decode(raw: bytes, display: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[start : exc.start].decode("utf-8")) + 1
        raise Located(
            display, line, column, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})"
        ) from None


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
        if kind is ScalarNode and implicit[0]:
            for tag, pattern in _IMPLICIT.get(value[:1], ()):
                if pattern.fullmatch(value):
                    return tag
        return super().resolve(kind, value, implicit)


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    """Parse and compose only: no constructor is ever attached."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        # The composer recurses per level: refuse deep nesting before Python's stack does.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# ------------------------------------------------------------------- building
class _Builder:
    """Nodes → plain data, recording positions; aliases are copied, within bounds."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.values: dict[JsonPath, tuple[int, int]] = {}
        self.keys: dict[JsonPath, tuple[int, int]] = {}
        self.int_texts: dict[tuple[JsonPath, bool], str] = {}

    def fail(self, node: Node, message: str) -> Located:
        return Located(
            self.display, node.start_mark.line + 1, node.start_mark.column + 1, message
        )

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
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        value = self.scalar(node)
        if isinstance(value, int) and not isinstance(value, bool) and node.value != str(value):
            self.int_texts[(path, False)] = node.value
        return value

    def build_mapping(self, node: MappingNode, path: JsonPath) -> dict:
        if node.tag != MAP:
            raise self.fail(node, _tag_not_allowed(node.tag))
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "a mapping key must be a scalar, not a list or mapping")
            key = self.scalar(key_node)
            if key == "<<" and key_node.style is None:
                raise self.fail(
                    key_node, "merge keys ('<<') are not supported (YAML 1.2); alias a whole mapping instead"
                )
            if key in out:
                line, column = self.keys[path + (key,)]
                raise self.fail(
                    key_node,
                    f"duplicate key {_describe_key(key)} (first defined at line {line}, column {column})",
                )
            self.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if isinstance(key, int) and not isinstance(key, bool) and key_node.value != str(key):
                self.int_texts[(path + (key,), True)] = key_node.value
            out[key] = self.build(value_node, path + (key,))
        return out

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
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


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
