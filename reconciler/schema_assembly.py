"""The `provider:` part of spec.schema.json, assembled from the providers themselves.

Each provider owns its options (`Provider.options_schema`), so the shipped schema's
provider definitions are generated from the registry rather than written by hand: a new
service appears in editors' completion by its registry line alone. The schema file stays
a static file (read at start-up without importing any provider, and referenced by specs'
`$schema` comments); tests/test_spec_schema.py fails when it is out of step, and
`python -m reconciler.schema_assembly` rewrites it.
"""

from __future__ import annotations

import json
import sys
from importlib.resources import files
from typing import Any

from .providers import Provider, provider_class, provider_types


def assemble(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `$defs.provider` and one `$defs.<type>_provider` per registered
    provider, in registry order; everything else is kept as it is."""
    defs = {k: v for k, v in schema["$defs"].items() if not k.endswith("_provider")}
    types = provider_types()
    provider_defs: dict[str, Any] = {}
    for name in types:
        cls = provider_class(name)
        block = options_definition(cls)
        provider_defs[f"{_ident(name)}_provider"] = {
            **block,
            "properties": {
                "type": {"description": cls.options_schema.get("description", name), "const": name},
                **block["properties"],
            },
        }
    defs["provider"] = {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {
                "description": "Which service holds the queues: "
                + ", ".join(types)
                + " (each described in docs/<type>.md; local is the embedded store).",
                "enum": types,
            },
        },
        "allOf": [
            {
                "if": {"required": ["type"], "properties": {"type": {"const": name}}},
                "then": {"$ref": f"#/$defs/{_ident(name)}_provider"},
            }
            for name in types
        ],
    }
    ordered: dict[str, Any] = {}
    for key, value in defs.items():  # provider definitions right after `provider`
        ordered[key] = value
        if key == "provider":
            ordered.update(provider_defs)
    return {**schema, "$defs": ordered}


def options_definition(cls: type[Provider]) -> dict[str, Any]:
    """A provider's options (its `options_schema`) as one object schema: what its
    `provider:` block may hold besides `type`. The spec schema's definition of the block
    is this plus `type`; a plan file's or a Python caller's options are checked against
    this alone (providers/options.py), so every path has the one declaration."""
    options = cls.options_schema
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": dict(options.get("properties", {})),
        **({"required": list(options["required"])} if options.get("required") else {}),
    }


def _ident(name: str) -> str:
    return name.replace("-", "_")


def shipped_text() -> str:
    return (files("reconciler") / "schemas" / "spec.schema.json").read_text("utf-8")


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m reconciler.schema_assembly: rewrite the shipped file
    path = files("reconciler") / "schemas" / "spec.schema.json"
    text = render(assemble(json.loads(shipped_text())))
    with open(str(path), "w", encoding="utf-8") as fh:
        fh.write(text)
    sys.stderr.write(f"wrote {path}\n")
