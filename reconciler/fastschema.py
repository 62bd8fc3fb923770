"""JSON Schemas compiled to Python (fastjsonschema) for the fast path of validation.

jsonschema stays the judge: its errors carry the paths that located messages need, but
validating a 10,000-change plan took it ~1.3 s and importing it ~0.1 s of every start-up.
So spec.py and planfile.py ask a compiled predicate first and run jsonschema only on a
document the predicate refuses. That is sound only where the predicate is never looser
than jsonschema; tests/test_planfile_schema.py and tests/test_spec_schema.py check it
on generated documents.
"""
from __future__ import annotations

from typing import Any, Callable

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def compile_predicate(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """Whether a document is valid against `schema` (2020-12), as a compiled check.

    fastjsonschema knows draft-07 at most. Our schemas use one 2020-12 keyword,
    `dependentSchemas`, which is draft-07's `dependencies` with a schema value, and none
    whose meaning differs between the two (no `$ref` with siblings, no `prefixItems`).
    """
    import fastjsonschema

    validate = fastjsonschema.compile({**_draft07(schema), "$schema": DRAFT_07})

    def accepts(document: Any) -> bool:
        try:
            validate(document)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


def _draft07(node: Any) -> Any:
    if isinstance(node, dict):
        return {("dependencies" if k == "dependentSchemas" else k): _draft07(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_draft07(v) for v in node]
    return node
