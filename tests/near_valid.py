"""Documents one or two edits away from a valid one, for checking that two validators
of the same schema agree (tests/test_planfile_schema.py, tests/test_spec_schema.py)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st


def json_values(scalars: st.SearchStrategy, keys: list[str]) -> st.SearchStrategy:
    """Small JSON-like values built from `scalars`, with objects keyed from `keys`."""
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(keys), inner, max_size=2),
        max_leaves=6,
    )


def paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in the document a value sits, the root excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append(path + (key,))
        found.extend(paths(child, path + (key,)))
    return found


@st.composite
def near(draw: st.DrawFn, valid: Any, values: st.SearchStrategy, new_keys: list[str]) -> Any:
    """`valid` with one or two values replaced, deleted or added next to."""
    doc = copy.deepcopy(valid)
    places = paths(valid)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(places))
        try:
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]]  # an earlier edit may have removed it
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, (dict, list)):  # or replaced its container by a string
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(new_keys))] = draw(values)
        else:
            parent.append(draw(values))
    return doc
