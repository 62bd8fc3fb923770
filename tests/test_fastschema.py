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
