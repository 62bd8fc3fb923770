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

import hashlib
import json
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
SHIPPED = Path(__file__).with_name("compiled_schemas.py")


def compile_predicate(schema: dict[str, Any], shipped: str | None = None) -> Callable[[Any], bool]:
    """Whether a document is valid against `schema` (2020-12), as a compiled check.

    `shipped`: the name of this schema's check in compiled_schemas.py, generated ahead
    (`python -m reconciler.fastschema`) and used while it was generated from this very
    schema (the digest it records). Generating and compiling the spec schema's code was
    a fifth of `validate`'s time on a small spec (BENCHMARKS.md, "Loading big specs").

    fastjsonschema knows draft-07 at most. Our schemas use one 2020-12 keyword,
    `dependentSchemas`, which is draft-07's `dependencies` with a schema value, and none
    whose meaning differs between the two (no `$ref` with siblings, no `prefixItems`).
    """
    if shipped is not None:
        from . import compiled_schemas

        if compiled_schemas.DIGESTS.get(shipped) == digest(schema):
            return _verdict(compiled_schemas.CHECKS[shipped], compiled_schemas.JsonSchemaValueException)
    from fastjsonschema import JsonSchemaException

    validate, _ = _generated(schema)
    return _verdict(validate, JsonSchemaException)


def digest(schema: dict[str, Any]) -> str:
    """What a shipped check was generated from, as compiled_schemas.py records it."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _verdict(validate: Callable[[Any], Any], refused: type[Exception]) -> Callable[[Any], bool]:
    def accepts(document: Any) -> bool:
        try:
            validate(document)
        except refused:
            return False
        return True

    return accepts


def _generated(schema: dict[str, Any]) -> tuple[Callable[[Any], Any], Any]:
    """The check's function, and the generator that wrote it (its code and globals)."""
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
    return scope[resolver.get_scope_name()], generator


def shipped_schemas() -> dict[str, dict[str, Any]]:
    """The schemas whose checks are shipped compiled, by the name their callers ask for."""
    from . import planfile, spec

    names = ("spec", "include_file", "json_source")
    return {**{name: spec.definition_schema(name) for name in names}, "plan": planfile.plan_schema()}


def shipped_module(schemas: dict[str, dict[str, Any]]) -> str:
    """compiled_schemas.py: each schema's check as generated, named `validate_<name>`,
    its regular expressions compiled when first used (most runs use none)."""
    functions, patterns, digests = [], {}, {}
    for name, schema in schemas.items():
        validate, generator = _generated(schema)
        code, function = generator.func_code, validate.__name__
        if code.count(f"{function}(") != 1 or code.count("\ndef ") != 1:  # refs inlined: one function
            raise ValueError(f"{name}: expected one generated function")
        functions.append(code.replace(f"def {function}(", f"def validate_{name}(", 1).strip() + "\n")
        scope = generator.global_state
        given = {"REGEX_PATTERNS", "re", "Decimal", "JsonSchemaValueException", "JsonSchemaValuesException"}
        if set(scope) - given - {"custom_formats"} or scope.get("custom_formats"):
            raise ValueError(f"{name}: the generated code needs more than compiled_schemas.py gives it")
        patterns.update({k: (v.pattern, v.flags) for k, v in scope["REGEX_PATTERNS"].items()})
        digests[name] = digest(schema)
    from fastjsonschema import VERSION

    return (
        _SHIPPED_HEAD.format(patterns=_pyrepr(patterns), digests=_pyrepr(digests), version=VERSION)
        + "\n\n".join(functions)
        + "\n\nCHECKS = {\n"
        + "".join(f"    {name!r}: validate_{name},\n" for name in schemas)
        + "}\n"
    )


def _pyrepr(value: dict[str, Any]) -> str:
    return "{\n" + "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(value.items())) + "}"


_SHIPPED_HEAD = '''"""Generated by `python -m reconciler.fastschema` from the packaged schemas: do not edit.

fastschema.compile_predicate uses a check here only while the schema it was generated
from is unchanged (DIGESTS); tests/test_fastschema.py fails when this file is stale.
"""
# fmt: off
# mypy: ignore-errors
import re
from decimal import Decimal


class JsonSchemaValueException(ValueError):
    """A refusal: a predicate needs the verdict only (jsonschema explains)."""


JsonSchemaValuesException = JsonSchemaValueException


class _Patterns(dict):
    def __missing__(self, key):
        pattern, flags = _PATTERN_TEXTS[key]
        compiled = self[key] = re.compile(pattern, flags)
        return compiled


_PATTERN_TEXTS = {patterns}
REGEX_PATTERNS = _Patterns()

DIGESTS = {digests}
GENERATOR = "fastjsonschema {version}"


'''


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


if __name__ == "__main__":  # python -m reconciler.fastschema: write compiled_schemas.py
    SHIPPED.write_text(shipped_module(shipped_schemas()), encoding="utf-8")
    sys.stdout.write(f"wrote {SHIPPED}\n")
