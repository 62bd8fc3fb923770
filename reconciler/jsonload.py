"""Strict JSON reading with positions, for plan files (the twin of yamlload.py).

A plan file is untrusted input, so this reader refuses what Python's json module lets
through (duplicate keys, NaN and Infinity, numbers too long to convert) and locates
every error, its own and later ones (schema, model), at the line and column of the
offending value, naming its path too: line and column alone are little help in a
minified file.
"""

from __future__ import annotations

import json
import json.decoder
import math
import re
from typing import Any
from collections.abc import Callable

from .errors import Located

# json's own string-literal scanner (C-accelerated): (text, index after the opening quote)
# -> (the string, index after the closing quote). A module attribute of json.decoder
# since Python 2.6 but undocumented, so typeshed does not declare it.
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

MAX_DIGITS = 4000  # under Python's own limit for int(str), which fails with a bare ValueError

JsonPath = tuple  # mapping keys and list indexes from the root


def parse(data: str | bytes, display: str) -> tuple[Any, str]:
    """The document and its text (decoded, without a byte-order mark); `display` names
    the file in errors. Raises Located."""
    text = _decode_utf8(data, display) if isinstance(data, bytes) else data
    text = text.removeprefix("\ufeff")
    return _parse_json(text, display), text


def _decode_utf8(data: bytes, display: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise Located(
            display, line, column, f"plan file is not UTF-8 text (invalid byte 0x{data[exc.start]:02x})"
        ) from None


class BadToken(Exception):
    """Valid to Python's json module but not to a plan file; located by `_find_bad_token`."""


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would let a file show reviewers one value while apply uses another.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise BadToken()
    return obj


def reject_constant(token: str) -> Any:
    raise BadToken()


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise BadToken()
    return value


def _short_int(token: str) -> int:
    if len(token) > MAX_DIGITS:
        raise BadToken()
    return int(token)


def _number_problem(token: str) -> str | None:
    if token in ("NaN", "Infinity", "-Infinity"):
        return f'{token} is not valid JSON (a plan file writes it as {{"float": "nan"}} etc.)'
    if re.fullmatch(r"-?\d+", token):
        return "number has too many digits" if len(token) > MAX_DIGITS else None
    return None if math.isfinite(float(token)) else f"number {token[:40]} is out of range"


def _parse_json(text: str, display: str) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=no_duplicate_keys,
            parse_constant=reject_constant,
            parse_float=_finite_float,
            parse_int=_short_int,
        )
    except json.JSONDecodeError as exc:
        # "Unterminated string starting at": the position follows, as line and column
        message = exc.msg.removesuffix(" starting at")
        raise Located(display, exc.lineno, exc.colno, f"not valid JSON: {message}") from None
    except BadToken:
        found = _find_bad_token(text)
        if found is None:  # pragma: no cover - the scanner sees what the hooks saw
            raise Located(display, None, None, "not valid JSON") from None
        pos, message = found
        line, column = _line_col(text, pos)
        raise Located(display, line, column, message) from None


_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|NaN|-?Infinity|true|false|null")


def _find_bad_token(text: str) -> tuple[int, str] | None:
    """Where the first duplicate key or unacceptable number is (a slow pass, run only
    after the fast parser refused the file, to say where)."""
    keys: list[set[str] | None] = []  # per open container: keys seen (None: an array)
    expect_key = False
    pos, end = 0, len(text)
    while pos < end:
        ch = text[pos]
        if ch in " \t\r\n:":
            pos += 1
        elif ch in "{[":
            keys.append(set() if ch == "{" else None)
            expect_key = ch == "{"
            pos += 1
        elif ch in "}]":
            keys.pop()
            expect_key = False
            pos += 1
        elif ch == ",":
            expect_key = keys[-1] is not None
            pos += 1
        elif ch == '"':
            value, after = scanstring(text, pos + 1)
            seen = keys[-1] if expect_key and keys else None
            if seen is not None:
                if value in seen:
                    return pos, f"duplicate key {json.dumps(value)}"
                seen.add(value)
                expect_key = False
            pos = after
        else:
            match = _SCALAR.match(text, pos)
            if match is None:
                return None
            token = match.group()
            if token not in ("true", "false", "null") and (problem := _number_problem(token)):
                return pos, problem
            pos = match.end()
    return None


# ---------------------------------------------------------------------- positions
_WS = re.compile(r"[ \t\n\r]*")
_PLAIN_DECODER = json.JSONDecoder()


def located(display: str, text: str, path: JsonPath, message: str, *, name_path: bool = True) -> Located:
    """An error at the value `path` leads to, naming that path in the message too
    (line and column alone are little help in a minified file)."""
    where = path_text(path) if name_path else ""
    pos = _offset_of(text, path)
    line, column = _line_col(text, pos) if pos is not None else (None, None)
    return Located(display, line, column, f"{where}: {message}" if where else message)


def path_text(path: JsonPath) -> str:
    """`queues[0].changes[3].etag`, with odd keys quoted: `tags["a.b"]`."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step, ensure_ascii=False)}]"
    return out


def _offset_of(text: str, path: JsonPath) -> int | None:
    """Offset of the value at `path` in a document that parsed; None if not found."""

    def skip(p: int) -> int:
        return _WS.match(text, p).end()  # type: ignore[union-attr]  # matches empty too

    try:
        pos = skip(0)
        for step in path:
            if isinstance(step, int):
                if text[pos] != "[":
                    return None
                pos = skip(pos + 1)
                for _ in range(step):
                    pos = skip(_PLAIN_DECODER.raw_decode(text, pos)[1])
                    if text[pos] != ",":
                        return None
                    pos = skip(pos + 1)
                continue
            if text[pos] != "{":
                return None
            pos = skip(pos + 1)
            while True:
                if text[pos] != '"':
                    return None
                key, pos = scanstring(text, pos + 1)
                pos = skip(skip(pos) + 1)  # past the colon
                if key == step:
                    break
                pos = skip(_PLAIN_DECODER.raw_decode(text, pos)[1])
                if text[pos] != ",":
                    return None
                pos = skip(pos + 1)
        return pos
    except (IndexError, ValueError):
        return None


def _line_col(text: str, pos: int) -> tuple[int, int]:
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


# ------------------------------------------------------- every position at once
_STR = r'[^"\\]*(?:\\.[^"\\]*)*'  # a string's inside, unrolled
_SCALAR_TOKEN = r'[^ \t\n\r{}\[\],:"]+'
_TOKEN = re.compile(
    # commas and colons are skipped as space: a key is known by the colon after it (in
    # a document that parsed, only a key is followed by one) and an array item by the
    # array it is in, so each mapping entry is one token with its value's first part
    r"[ \t\n\r:,]*(?:"
    rf'"(?P<key>{_STR})"[ \t\n\r]*:[ \t\n\r]*(?:(?P<kopen>[{{\[])|(?P<kstring>"{_STR}")|(?P<kscalar>{_SCALAR_TOKEN}))'
    rf'|(?P<close>[}}\]])|(?P<open>[{{\[])|(?P<string>"{_STR}")|(?P<scalar>{_SCALAR_TOKEN}))',
    re.DOTALL,
)
_KEYED = frozenset(("kopen", "kstring", "kscalar"))  # a mapping entry's token, by its value's kind


def all_positions(
    text: str, *, with_keys: bool = True
) -> tuple[dict[JsonPath, tuple[int, int]], dict[JsonPath, tuple[int, int]]]:
    """Line and column (1-based, in characters) of every value and of every mapping key
    of a JSON document that parsed, by path, in one pass over its tokens: what a YAML
    reader records while building, for the JSON files it reads with the json module.
    (A plan of a 100,000-entry include pays it: a mapping entry is one token, key and
    value's start together, and commas are skipped as space, which halved the
    iterations; BENCHMARKS.md "Third round".) Without `with_keys` the keys' map stays
    empty: a plan's sources name values only, and skipping the keys is a sixth of the pass."""
    values: dict[JsonPath, tuple[int, int]] = {}
    keys: dict[JsonPath, tuple[int, int]] = {}
    newlines = [m.start() for m in re.finditer("\n", text)]
    newlines.append(len(text) + 1)  # past any token
    next_index, next_nl, line, line_start = 0, newlines[0], 1, 0
    names: dict[str, str] = {}
    stack: list[list] = []  # per open container: [its path, its last item's index]
    top: list = []  # stack[-1]
    for match in _TOKEN.finditer(text):
        # every alternative of _TOKEN ends in a named group (no cast(): a call per token)
        kind: str = match.lastgroup  # type: ignore[assignment]
        if kind == "close":
            stack.pop()
            if stack:
                top = stack[-1]
            continue
        if kind in _KEYED:
            raw = match.group("key")
            key = raw if "\\" not in raw else json.loads(f'"{raw}"')
            key = names.setdefault(key, key)  # one object per name: less memory, hashed once
            here = top[0] + (key,)
            if with_keys:
                pos = match.start("key") - 1
                while next_nl < pos:
                    next_index += 1
                    line, line_start = line + 1, next_nl + 1
                    next_nl = newlines[next_index]
                keys[here] = (line, pos - line_start + 1)
        else:  # an array's item, or the document
            if stack:
                top[1] += 1
                here = top[0] + (top[1],)
            else:
                here = ()
        pos = match.start(kind)  # a string's group holds its quotes: it starts at the first
        while next_nl < pos:
            next_index += 1
            line, line_start = line + 1, next_nl + 1
            next_nl = newlines[next_index]
        values[here] = (line, pos - line_start + 1)
        if kind == "kopen" or kind == "open":
            top = [here, -1]
            stack.append(top)
    return values, keys


# ------------------------------------------------------- lines of one-line values
_scan_value: Callable[[str, int], tuple[Any, int]] = _PLAIN_DECODER.scan_once  # type: ignore[attr-defined]
_LINE_CAP = 1024  # a container tried within its first line only when that is shorter


def value_lines(text: str) -> dict[JsonPath, int] | None:
    """The line of every mapping entry whose value lies on one line, by path, for a
    JSON document that parsed: everything inside such a value is on that line too, so
    a plan's `# scores.json:17` needs no token pass (BENCHMARKS.md "Fourth round").

    One walk with json's C scanner: a key by `scanstring`, a value by `scan_once`
    (tried on its first line alone, so a value spread over lines is found so at that
    line's cost), lines counted incrementally between values. A mapping spread over
    lines is walked into; an array spread over lines is skipped (nothing under it is
    recorded: its paths are located by all_positions). None where a quick walk does
    not fit (a container on a line over _LINE_CAP that turns out to span lines, or a
    root that is no mapping): every path then goes to all_positions."""
    lines: dict[JsonPath, int] = {}
    start = _WS.match(text).end()  # type: ignore[union-attr]  # matches empty too
    if not text.startswith("{", start):
        return None
    counted = [0, 1]  # [offset, line there]
    try:
        if _walk(text, start, (), lines, counted) is None:
            return None
    except (ValueError, StopIteration, IndexError, RecursionError):  # pragma: no cover - it parsed
        return None
    return lines


def _walk(text: str, pos: int, path: JsonPath, lines: dict[JsonPath, int], counted: list[int]) -> int | None:
    """Record the one-line entries of the mapping opening at `pos`; the offset after
    it, or None if the walk gives up (value_lines). Space is skipped by a regex only
    where there is some (a call per entry less in the usual `"key": value`)."""
    ws, scan, count, find = _WS.match, _scan_value, text.count, text.find
    pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
    if text[pos] == "}":
        return pos + 1
    offset, line = counted
    while True:
        key, pos = scanstring(text, pos + 1)  # pos: at the key's opening quote
        if text[pos] != ":":
            pos = ws(text, pos).end()  # type: ignore[union-attr]
        pos += 1
        if text[pos] in _SPACE:
            pos = ws(text, pos).end()  # type: ignore[union-attr]
        line += count("\n", offset, pos)
        offset = pos
        first = text[pos]
        if first == "{" or first == "[":
            eol = find("\n", pos)
            if eol < 0:
                eol = len(text)
            if eol - pos <= _LINE_CAP:
                try:
                    end = pos + scan(text[pos:eol], 0)[1]
                    lines[path + (key,)] = line
                except (StopIteration, ValueError):  # it goes on past this line
                    if first == "[":
                        end = scan(text, pos)[1]
                    else:
                        counted[0], counted[1] = offset, line
                        found = _walk(text, pos, path + (key,), lines, counted)
                        if found is None:
                            return None
                        end = found
                        offset, line = counted
            else:
                end = scan(text, pos)[1]
                if find("\n", pos, end) >= 0:
                    return None
                lines[path + (key,)] = line
        else:  # a string or scalar: never over a line break
            end = scan(text, pos)[1]
            lines[path + (key,)] = line
        if text[end] in _SPACE:
            end = ws(text, end).end()  # type: ignore[union-attr]
        if text[end] == "}":
            counted[0], counted[1] = offset, line
            return end + 1
        pos = end + 1  # past the comma
        if text[pos] in _SPACE:
            pos = ws(text, pos).end()  # type: ignore[union-attr]


_SPACE = frozenset(" \t\n\r")
