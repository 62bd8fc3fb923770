"""The compiled schema check (fastschema.py) on small schemas; tests/test_spec_schema.py
and tests/test_planfile_schema.py hold it against jsonschema on the real schemas."""

from __future__ import annotations

import pytest

from reconciler.fastschema import compile_predicate, inline_refs

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "version": {"const": 1},
        "entry": {
            "type": "object",
            "properties": {"v": {"$ref": "#/$defs/version"}},
            "additionalProperties": False,
            "default": {},
        },
    },
    "type": "object",
    "properties": {
        "entries": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
        "when": {"type": "string", "format": "date-time"},
    },
    "dependentSchemas": {"when": {"required": ["entries"]}},
}


def test_references_are_replaced_by_their_definitions():
    inlined = inline_refs(SCHEMA)
    assert "$defs" not in inlined
    assert inlined["properties"]["entries"]["items"]["properties"]["v"] == {"const": 1}


def test_a_recursive_reference_is_refused():
    tree = {"$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}
    with pytest.raises(ValueError, match="recursive"):
        inline_refs(tree)


@pytest.mark.parametrize(
    "document, valid",
    [
        ({"entries": [{"v": 1}, {}]}, True),
        ({"entries": [{"v": 2}]}, False),  # const, which fastjsonschema's terse mode cannot compile
        ({"entries": [{"v": 1, "x": 0}]}, False),
        ({"entries": "no"}, False),
        ({"when": "2024-01-01T00:00:00Z"}, False),  # dependentSchemas, as draft-07 dependencies
        ({"when": "2024-01-01T00:00:00Z", "entries": []}, True),
        ([], False),
    ],
)
def test_the_verdict(document, valid):
    assert compile_predicate(SCHEMA)(document) is valid


def test_the_check_never_fills_in_defaults():
    document = {"entries": [{"v": 1}]}
    assert compile_predicate(
        {
            **SCHEMA,
            "properties": {
                "entries": {"type": "array", "items": {"type": "object", "properties": {"w": {"default": 5}}}}
            },
        }
    )(document)
    assert document == {"entries": [{"v": 1}]}


def test_the_shipped_checks_are_generated_from_todays_schemas():
    """compiled_schemas.py is generated (`python -m reconciler.fastschema`): a schema
    changed without regenerating it fails here (and the stale check is not used)."""
    import fastjsonschema

    from reconciler import compiled_schemas
    from reconciler.fastschema import SHIPPED, digest, shipped_module, shipped_schemas

    schemas = shipped_schemas()
    assert {name: digest(schema) for name, schema in schemas.items()} == compiled_schemas.DIGESTS
    if f"fastjsonschema {fastjsonschema.VERSION}" == compiled_schemas.GENERATOR:
        assert SHIPPED.read_text(encoding="utf-8") == shipped_module(schemas)


def test_a_shipped_check_is_used_only_for_the_schema_it_was_generated_from():
    from reconciler import compiled_schemas, spec

    schema = spec.definition_schema("include_file")
    shipped = compile_predicate(schema, shipped="include_file")
    entry = {"submissions": {"9700001": {"status": "SCORED"}}}
    assert shipped(entry) and not shipped({"submissions": {"9700001": {"status": ""}}})
    assert compiled_schemas.CHECKS["include_file"](entry) == entry  # the generated function returns what it checked
    changed = {**schema, "$ref": "#/$defs/entry"}  # another schema under the same name
    assert not compile_predicate(changed, shipped="include_file")(entry)
    assert compile_predicate(changed, shipped="include_file")({"status": "SCORED"})


def test_the_shipped_patterns_are_compiled_when_first_used():
    from reconciler import compiled_schemas

    patterns = compiled_schemas.REGEX_PATTERNS
    pattern = patterns["^https?://"]
    assert pattern.match("https://x") and patterns["^https?://"] is pattern
