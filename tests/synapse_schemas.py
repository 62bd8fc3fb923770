"""Synapse's official JSON schemas, translated for a standard JSON Schema validator.

The files in tests/contract/synapse-schemas (vendored from Synapse's repository) use the
schema-to-pojo dialect Synapse generates its Java classes from. Translation:

* `"$ref": "org.x.Y"` → the file org/x/Y.json, inlined (translated the same way);
* `"type": "map"` → an object whose `additionalProperties` is the map's `value` schema;
* `"type": "interface"` → object; `"implements"` → the interfaces' properties merged in;
* enum entries `{"name", "description"}` → the list of names;
* `"required": true` on a property → the parent's `required` list;
* `transient`, `name`, `key` and `id` keywords are dropped (metadata only).

With `closed=True` every object with declared properties refuses undeclared ones: the
generated Java parser ignores unknown keys, so an unknown key in a request is silently
lost and one in a response is a field no Synapse client knows. `format: date-time` is
checked too.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

# Vendored byte-identical copies (Apache-2.0; provenance in SOURCES.md there) so the
# contract tests run on any clone, with nothing from outside the repository.
SCHEMA_DIR = Path(__file__).resolve().parent / "contract" / "synapse-schemas"
PAGINATED = "org.sagebionetworks.reflection.model.PaginatedResults.effective-schema"
_DROPPED = {"transient", "name", "key", "id", "implements", "required", "value"}


@cache
def _raw(name: str) -> dict[str, Any]:
    if name == PAGINATED:
        path = SCHEMA_DIR / "org/sagebionetworks/reflection/model/PaginatedResults.effective-schema.json"
    else:
        path = SCHEMA_DIR.joinpath(*name.split(".")).with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8"))


def schema(name: str, *, closed: bool = True) -> dict[str, Any]:
    """The standard-JSON-Schema form of the dotted class `name`."""
    return _translate(_raw(name), closed, (name,))


def paginated(item_name: str, *, closed: bool = True) -> dict[str, Any]:
    """PaginatedResults<T> as it goes over the wire (the effective schema with T)."""
    out = _translate(_raw(PAGINATED), closed, (PAGINATED,))
    out["properties"]["results"]["items"] = schema(item_name, closed=closed)
    out["required"] = ["totalNumberOfResults", "results"]  # writeToJSONObject always writes both
    return out


def _translate(node: Any, closed: bool, seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_translate(n, closed, seen) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise ValueError(f"recursive schema: {' -> '.join(seen + (ref,))}")
        out = _translate(_raw(ref), closed, seen + (ref,))
        if "description" in node:
            out["description"] = node["description"]
        return out
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {p: _translate(s, closed, seen) for p, s in value.items()}
        elif key == "enum":
            out[key] = [e["name"] if isinstance(e, dict) else e for e in value]
        else:
            out[key] = _translate(value, closed, seen)
    properties = out.get("properties", {})
    for interface in node.get("implements", ()):
        inherited = _translate(interface, closed, seen).get("properties", {})
        properties = out["properties"] = {**inherited, **properties}
    required = [p for p, s in node.get("properties", {}).items() if s.get("required") is True]
    if required:
        out["required"] = required
    if node.get("type") == "map":
        out["type"] = "object"
        out["additionalProperties"] = _translate(node["value"], closed, seen)
    elif node.get("type") == "interface" or (properties and "type" not in node):
        out["type"] = "object"
    if closed and properties and out.get("type") == "object":
        out["additionalProperties"] = False
    return out


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value and parsed.tzinfo is not None


def errors(instance: Any, schema_: dict[str, Any]) -> list[str]:
    """Every violation as `path: message`; empty when the instance is valid."""
    validator = Draft202012Validator(schema_, format_checker=_FORMATS)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    ]
