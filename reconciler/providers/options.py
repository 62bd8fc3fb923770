"""A provider's options checked against its declaration wherever they come from.

A spec's `provider:` block is checked by the spec schema, which is assembled from each
provider's `options_schema` (schema_assembly.py). Options also arrive without a spec:
recorded in a plan file (untrusted: it may have been edited or come from elsewhere) or
in a ProviderConfig a Python caller builds. They are checked here against the same
declaration, in the spec's words (`unknown field 'tag_key': did you mean 'tags_key'?`,
`expected an integer, got string`), so no provider checks its options by hand. What a
schema cannot state (the endpoint policy, a rule across two options) stays in the
provider's code (`Provider.option_problems`, and the provider's own checks of values it
finds in the environment).
"""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, cast

from ..errors import UserError
from ..secret_keys import is_secret_key

if TYPE_CHECKING:
    from .base import Provider


class Locate(Protocol):
    """Places a message at the value `path` (inside the options) leads to, at its key
    with `key` (an unknown or secret-named option): a Located where the options have a
    place in a file, else a UserError naming them."""

    def __call__(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> UserError: ...


def option_errors(cls: type[Provider], options: Mapping[str, Any], locate: Locate) -> list[UserError]:
    """Every problem of `options` under `cls.options_schema`, each placed by `locate`;
    none for options the declaration accepts. A secret-named option (`token:`) is refused
    as the spec refuses one, its value never looked at: credentials come from the
    environment, never from a spec or a plan file."""
    errors = [_secret(key, locate) for key in options if is_secret_key(key)]
    data = {k: v for k, v in options.items() if not is_secret_key(k)}
    # a float goes to jsonschema, which alone refuses 4.0 as an integer (spec.py's rule)
    if not any(isinstance(v, float) for v in data.values()) and _accepts(cls)(data):
        return errors
    return errors + _worded(_validator(cls), data, locate)


def _secret(key: str, locate: Locate) -> UserError:
    from ..spec import _quoted

    return locate((key,), f"secrets do not belong in provider options: remove {_quoted(key)} "
                          "(credentials come from the environment)", key=True)


@cache
def _schema(cls: type[Provider]) -> dict[str, Any]:
    from ..schema_assembly import options_definition

    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **options_definition(cls)}


@cache
def _accepts(cls: type[Provider]) -> Callable[[Any], bool]:
    """The compiled check first, as for specs and plan files (fastschema.py): jsonschema
    is imported only for options it refuses."""
    from ..fastschema import compile_predicate

    return compile_predicate(_schema(cls))


@cache
def _validator(cls: type[Provider]) -> Any:
    from ..spec import _validator_class

    return _validator_class()(_schema(cls))


def _worded(validator: Any, data: Any, locate: Locate) -> list[UserError]:
    """jsonschema's errors in the spec's words: spec.py's explanation, given `locate`
    where it expects a YAML file (it reads only `.data` and `.error`). When the wording
    moves to a module of its own (issue 28), this is that module's entry point."""
    from ..spec import _explain, _typo_fixes

    errors = list(validator.iter_errors(data))
    typos = _typo_fixes(errors, validator.schema)
    placed = cast(Any, _Placed(data, locate))  # duck-types spec._File (its .data and .error)
    return [e for error in errors for e in _explain(error, placed, validator.schema, typos)]


class _Placed:
    def __init__(self, data: Any, locate: Locate) -> None:
        self.data, self._locate = data, locate

    def error(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> UserError:
        return self._locate(tuple(path), message, key=key)
