"""jsonschema's errors → short located messages, for every file checked by a JSON Schema.

jsonschema words an error for the schema's author ("Additional properties are not
allowed ('wehre' was unexpected)", "'yes' is not one of ['lock', 'unlock', None]").
A user needs one line per mistake, in the words of the format: `unknown field 'wehre':
did you mean 'where'?`, `expected 'lock', 'unlock' or null, got 'yes'`. That wording
does not depend on which file it is about, so it lives here, apart from spec.py's
loader and planfile.py's reader, and both describe their problems in the same words.

A caller passes its validator, its data and how to place a message (a YAML document
knows positions, a JSON plan file finds them in its text); `located_errors` is the
whole public surface besides the few word helpers spec.py's own messages share.
jsonschema is imported only when a file fails its fast check (fastschema.py).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol
from collections.abc import Callable, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

from .errors import Located, suggest
from .model import scalar_kind


class Locate(Protocol):
    """Places a message at the value `path` leads to (at its key with `key`)."""

    def __call__(self, path: tuple, message: str, *, key: bool = False) -> Located: ...


def located_errors(
    validator: Any,
    data: Any,
    locate: Locate,
    *,
    errors: Sequence[ValidationError] | None = None,
    hidden: Callable[[tuple], bool] | None = None,
    yaml: bool = False,
) -> list[Located]:
    """One located message per mistake in `data` (jsonschema `validator`'s errors, or
    the given `errors` of it, e.g. the first few of a large file). Nothing is said at
    or under a path `hidden` names (a spec's secret-named key is reported, never read).
    With `yaml`, a single value where a list belongs is shown as the YAML list to write."""
    found = list(validator.iter_errors(data)) if errors is None else list(errors)
    wording = _Wording(validator, data, locate, hidden or _nothing_hidden, yaml)
    typos = _typo_fixes(found, wording.root)
    return [located for error in found for located in wording.explain(error, typos)]


def _nothing_hidden(path: tuple) -> bool:
    return False


# ------------------------------------------------------------------- validators
def _type_allowing_timestamps(validator: Any, types: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """YAML timestamps are valid exactly where the schema says `format: date-time`."""
    import jsonschema

    if isinstance(instance, datetime):
        listed = [types] if isinstance(types, str) else types
        if "string" not in listed or schema.get("format") != "date-time":
            yield jsonschema.ValidationError(f"timestamp is not of type {types!r}")
        return
    yield from jsonschema.Draft202012Validator.VALIDATORS["type"](validator, types, instance, schema)


@cache
def yaml_validator_class() -> Any:
    """Draft 2020-12 for data read from YAML: a timestamp is a `date-time` string and
    5.0 is a number, not an integer (ids and counts must be written as integers).
    jsonschema is imported only here, when a file fails the fast check: its import is
    a large share of a command's start-up (BENCHMARKS.md), paid by every plan otherwise."""
    import jsonschema

    return jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        validators={"type": _type_allowing_timestamps},
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
        ),
    )


# ---------------------------------------------------------------------- errors
def _parts(error: ValidationError) -> tuple[Any, Any, Any, Any]:
    """An error's keyword, the keyword's value, the instance and the schema. jsonschema
    sets all four on every error a validation yields; its stubs also allow `Unset`,
    which only an error built by hand has."""
    return error.validator, error.validator_value, error.instance, error.schema


def _typo_fixes(errors: list[ValidationError], root: dict) -> dict[tuple, set[str]]:
    """Per mapping, the allowed fields its unknown keys look like misspellings of: the
    "missing required field 'where'" that `wehre:` also causes is the same mistake and
    is left out, so one typo is one error."""
    fixes: dict[tuple, set[str]] = {}
    for error in errors:
        for path, names in _typo_fixes(list(error.context or ()), root).items():
            fixes.setdefault(path, set()).update(names)  # the branches of an anyOf
        if error.validator != "additionalProperties" or _custom_message(error, root):
            continue
        _, _, instance, schema = _parts(error)
        allowed = schema.get("properties", {})
        for key in instance:
            fix = suggest(str(key), allowed) if key not in allowed else None
            if fix is not None:
                fixes.setdefault(tuple(error.absolute_path), set()).add(fix)
    return fixes


class _Wording:
    """What explaining one file's errors needs at every step: the schema (its
    `$defs`, its `errorMessage`s), the data, how to place a message."""

    def __init__(self, validator: Any, data: Any, locate: Locate, hidden: Callable[[tuple], bool], yaml: bool) -> None:
        self.validator, self.root, self.data = validator, validator.schema, data
        self.locate, self.hidden, self.yaml = locate, hidden, yaml

    def explain(self, error: ValidationError, typos: Mapping[tuple, set[str]]) -> list[Located]:
        path = tuple(error.absolute_path)
        if self.hidden(path):
            return []  # reported by the caller already; its value is never looked at
        root, locate = self.root, self.locate
        keyword, value, instance, schema = _parts(error)
        custom = _custom_message(error, root)
        # a oneOf no branch of fits reads as an anyOf (one that fits several has no context)
        if keyword in ("anyOf", "oneOf") and error.context and not custom:
            fitting = [i for i, branch in enumerate(value) if self.admits(branch, instance)]
            if len(fitting) == 1:
                return [
                    located
                    for sub in error.context
                    if sub.relative_schema_path[0] == fitting[0]
                    for located in self.explain(sub, typos)
                ]
            expected = schema.get("title") or _joined_with_or([self.expected_of(b) for b in value])
            return [locate(path, f"expected {expected}, got {type_name(instance)}")]
        if keyword == "additionalProperties" and not custom:
            allowed = sorted(schema.get("properties", {}))
            return [
                locate(
                    path + (key,),
                    f"unknown field {quoted(key)}{_did_you_mean(key, allowed)} (allowed: {', '.join(allowed)})",
                    key=True,
                )
                for key in instance
                if key not in allowed and not self.hidden(path + (key,))
            ]
        if keyword == "required" and not custom:
            return [
                locate(path, f"missing required field {quoted(name)}")
                for name in value
                if name not in instance and name not in typos.get(path, ())
            ]
        message = custom or _keyword_message(keyword, value, instance, schema)
        if keyword == "type" and not custom and self.yaml and path and isinstance(path[-1], str):
            message += _list_fix(path[-1], value, instance)
        if "propertyNames" in error.absolute_schema_path:
            return [locate(path + (instance,), f"key {quoted(instance)}: {message}", key=True)]
        if "dependentSchemas" in error.absolute_schema_path:
            schema_path = list(error.absolute_schema_path)
            name = schema_path[schema_path.index("dependentSchemas") + 1]
            while path and not (isinstance(_value_at(self.data, path), dict) and name in _value_at(self.data, path)):
                path = path[:-1]
            return [locate(path + (name,), message, key=True)]
        return [locate(path, message)]

    def admits(self, schema: dict, instance: Any) -> bool:
        """Does the schema's type (through $ref and anyOf) allow this kind of value?"""
        schema = _follow_ref(schema, self.root)
        if "anyOf" in schema:
            return any(self.admits(branch, instance) for branch in schema["anyOf"])
        types = schema.get("type")
        if types is None:
            return True
        types = [types] if isinstance(types, str) else types
        if isinstance(instance, datetime):
            return "string" in types and schema.get("format") == "date-time"
        return any(self.validator.is_type(instance, t) for t in types)

    def expected_of(self, schema: dict) -> str:
        schema = _follow_ref(schema, self.root)
        if "title" in schema:
            return schema["title"]
        types = schema.get("type", [])
        return _joined_with_or([_TYPE_WORDS[t] for t in ([types] if isinstance(types, str) else types)])


def _keyword_message(keyword: str, expected: Any, instance: Any, schema: dict) -> str:
    if keyword == "type":
        types = [expected] if isinstance(expected, str) else expected
        message = f"expected {_joined_with_or([_TYPE_WORDS[t] for t in types])}, got {type_name(instance)}"
        if "string" in types and isinstance(instance, datetime):
            message += " (quote it to keep it as text)"
        if "boolean" in types and isinstance(instance, str) and instance.lower() in _YAML11_BOOLEANS:
            message += f" {quoted(instance)} (only true and false are booleans)"
        return message
    if keyword == "enum":
        words = [v for v in expected if isinstance(v, str)]
        hint = _did_you_mean(instance, words) if isinstance(instance, str) else ""
        return f"expected {_joined_with_or([_shown_value(v) for v in expected])}, got {_shown_value(instance)}{hint}"
    if keyword == "const":
        return f"expected {_shown_value(expected)}, got {_shown_value(instance)}"
    if keyword == "minimum":
        return f"must be at least {_shown_value(expected)}, got {_shown_value(instance)}"
    if keyword == "maximum":
        return f"must be at most {_shown_value(expected)}, got {_shown_value(instance)}"
    if keyword == "minProperties" and schema.get("properties"):
        return f"must not be empty (give at least one of: {', '.join(schema['properties'])})"
    if keyword in ("minItems", "minLength", "minProperties"):
        return "must not be empty"
    if keyword == "uniqueItems":
        return "must not name an item twice"
    return f"does not satisfy {keyword}: {json.dumps(expected)}"


def _custom_message(error: ValidationError, root: dict) -> str | None:
    """The deepest `errorMessage` on the schema path (the convention of ajv-errors and
    yaml-language-server, so editors show the same words)."""
    node: Any = root
    found: Any = None
    for elem in error.absolute_schema_path:
        while isinstance(node, dict) and elem not in node and "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
            found = node.get("errorMessage", found)
        node = node[elem]
        if isinstance(node, dict) and "errorMessage" in node:
            found = node["errorMessage"]
    return found


def _follow_ref(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value_at(data: Any, path: tuple) -> Any:
    for elem in path:
        data = data[elem]
    return data


# ---------------------------------------------------------------------- wording
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
# model.scalar_kind → how a value's type is named in messages.
_SCALAR_KIND_NAMES = {"bool": "boolean", "int": "integer", "float": "number", "timestamp": "timestamp", "str": "string"}
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def type_name(value: Any) -> str:
    """A value's type as messages name it: "mapping", "list", "string", "timestamp"…"""
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return _SCALAR_KIND_NAMES[scalar_kind(value)]


def _shown_value(value: Any) -> str:
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) and value.is_integer() else repr(value)
    return f"a {type_name(value)}"


def _did_you_mean(word: Any, choices: Sequence[str]) -> str:
    """ ": did you mean 'where'?" when `word` looks like a misspelling of a choice."""
    fix = suggest(str(word), choices)
    return f": did you mean {quoted(fix)}?" if fix is not None else ""


_PLAIN_ITEM = re.compile(r"[\w./*?@+-]+")


def _list_fix(key: str, types: Any, instance: Any) -> str:
    """A single value where a list belongs: show the list to write (`include: a.yaml`
    means `include: [a.yaml]`)."""
    types = [types] if isinstance(types, str) else types
    if "array" not in types or not isinstance(instance, (str, int, float)) or isinstance(instance, bool):
        return ""
    text = str(instance)
    plain = isinstance(instance, str) and _PLAIN_ITEM.fullmatch(text) and re.search(r"[A-Za-z_/*]", text)
    item = text if plain else json.dumps(instance)
    return f" (write `{key}: [{item}]`)"


def quoted(text: Any) -> str:
    """A name or value in a message: single-quoted, escaped, cut at 60 characters."""
    text = str(text)
    if len(text) > 60:
        text = text[:57] + "..."
    return "'" + json.dumps(text, ensure_ascii=False)[1:-1] + "'"


def _joined_with_or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
