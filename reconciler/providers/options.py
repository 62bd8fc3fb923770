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
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Mapping

from ..errors import Located
from ..schema_wording import Locate, located_errors, quoted, yaml_validator_class
from ..secret_keys import is_secret_key

if TYPE_CHECKING:
    from .base import Provider


def option_errors(cls: type[Provider], options: Mapping[str, Any], locate: Locate) -> list[Located]:
    """Every problem of `options` under `cls.options_schema`, each placed by `locate`
    (schema_wording's words); none for options the declaration accepts. A secret-named
    option (`token:`) is refused as the spec refuses one, its value never looked at:
    credentials come from the environment, never from a spec or a plan file."""
    errors = [
        locate(
            (key,),
            f"secrets do not belong in provider options: remove {quoted(key)} (credentials come from the environment)",
            key=True,
        )
        for key in options
        if is_secret_key(key)
    ]
    data = {k: v for k, v in options.items() if not is_secret_key(k)}
    # a float goes to jsonschema, which alone refuses 4.0 as an integer (as for specs)
    if not any(isinstance(v, float) for v in data.values()) and _accepts(cls)(data):
        return errors
    return errors + located_errors(_validator(cls), data, locate)


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
    return yaml_validator_class()(_schema(cls))
