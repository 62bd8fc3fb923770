"""The plan file's two schema checkers agree where it matters.

`apply` validates a plan with fastjsonschema first and asks jsonschema only when that
fails (planfile._check_schema). That is only sound if fastjsonschema never accepts a
document jsonschema refuses, so documents near a valid plan file (one value, key or
element changed) are generated and both checkers asked.
"""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastjsonschema import JsonSchemaException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plan_samples import META, normal_plan
from reconciler import planfile

VALID = json.loads(planfile.dump_plan(normal_plan(), **META))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, -1.0, 2.5])
    | st.sampled_from(["", "x", "status", "tags.a", "lock", "nan", "2024-01-01T00:00:00Z",
                       "sha256:" + "0" * 64, "sha256:" + "0" * 63 + "\n"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["timestamp", "float", "x", "id", "status", "tags"]), inner, max_size=2),
    max_leaves=6,
)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in the document a value sits, the root excluded."""
    found = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.append(path + (key,))
        found.extend(_paths(child, path + (key,)))
    return found


PATHS = _paths(VALID)


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _parent(doc, path)
            parent[path[-1]]  # the earlier edit may have removed it
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "id", "tags", "locked", "float"]))] = draw(JSON_VALUES)
        else:
            parent.append(draw(JSON_VALUES))
    return doc


def fast_accepts(doc: Any) -> bool:
    try:
        planfile._fast_validator()(doc)
    except JsonSchemaException:
        return False
    return True


def jsonschema_accepts(doc: Any) -> bool:
    return next(iter(planfile._validator().iter_errors(doc)), None) is None


def test_both_accept_a_valid_plan_file():
    assert fast_accepts(VALID) and jsonschema_accepts(VALID)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid())
def test_fastjsonschema_never_accepts_what_jsonschema_refuses(doc):
    if fast_accepts(doc):
        assert jsonschema_accepts(doc), json.dumps(doc)[:2000]


@pytest.mark.parametrize("value", [True, 1.5, -1, "1"])
def test_a_wrong_count_is_refused_by_both(value):
    doc = copy.deepcopy(VALID)
    doc["queues"][0]["items_seen"] = value
    assert not fast_accepts(doc) and not jsonschema_accepts(doc)
