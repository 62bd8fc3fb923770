"""JSON Schemas compiled to Python (fastjsonschema) for the fast path of validation.

jsonschema stays the judge: its errors carry the paths that located messages need, but
it is slow to validate a large plan and slow to import on every start-up (BENCHMARKS.md,
"Plan-file validation" and "Schemas compiled terse"). So spec.py and planfile.py ask a
compiled predicate first and run jsonschema only on a document the predicate refuses.
That is sound only where the predicate is never looser than jsonschema;
tests/test_planfile_schema.py and tests/test_spec_schema.py check it on generated
documents.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


def compile_predicate(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """Whether a document is valid against `schema` (2020-12), as a compiled check.

    fastjsonschema knows draft-07 at most. Our schemas use one 2020-12 keyword,
    `dependentSchemas`, which is draft-07's `dependencies` with a schema value, and none
    whose meaning differs between the two (no `$ref` with siblings, no `prefixItems`).
    """
    from fastjsonschema import JsonSchemaException
    from fastjsonschema.draft07 import CodeGeneratorDraft07
    from fastjsonschema.ref_resolver import RefResolver

    class _VerdictOnly(CodeGeneratorDraft07):
        """Each refusal is a bare raise. Only the verdict is used (jsonschema explains),
        and fastjsonschema's detailed raises embed the schema node they check, which
        makes the compiled code several times larger and slower to build at every
        command's start-up (BENCHMARKS.md). (Its own detailed_exceptions=False cannot
        compile `const`.)"""

        def exc(self, *_args: Any, **_kwargs: Any) -> None:
            self.l('raise JsonSchemaValueException("invalid")')

    definition = {**_draft07(inline_refs(schema)), "$schema": DRAFT_07}
    resolver = RefResolver.from_schema(definition, handlers={}, store={})
    # use_default=False: a predicate must never fill defaults into the document it checks
    generator = _VerdictOnly(definition, resolver=resolver, use_default=False)
    scope = generator.global_state
    exec(generator.func_code, scope)  # code generated from our own packaged schema
    validate = scope[resolver.get_scope_name()]

    def accepts(document: Any) -> bool:
        try:
            validate(document)
        except JsonSchemaException:
            return False
        return True

    return accepts


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each local `$ref` replaced by its definition: the same rules,
    checked faster. jsonschema resolves a reference on every visit; fastjsonschema turns
    each into a call that builds the error path of the value it checks, even when
    nothing is wrong (inlined, a large plan is checked in about half the time and the
    schema compiles in half the time: BENCHMARKS.md). Our schemas hold
    no recursive or sibling-carrying `$ref`; a recursive one is refused."""
    defs = schema.get("$defs", {})

    def inline(node: Any, chain: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in chain:
                    raise ValueError(f"recursive $ref {ref} cannot be inlined")
                return inline(defs[name], (*chain, name))
            return {k: inline(v, chain) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(v, chain) for v in node]
        return node

    return inline(schema, ())


def _draft07(node: Any) -> Any:
    if isinstance(node, dict):
        return {("dependencies" if k == "dependentSchemas" else k): _draft07(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_draft07(v) for v in node]
    return node
