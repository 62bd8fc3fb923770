"""The plan file's two schema checkers agree where it matters.

`apply` validates a plan with a compiled check first (fastschema.py) and asks jsonschema only when that
fails (planfile._check_schema). That is only sound if fastjsonschema never accepts a
document jsonschema refuses, so documents near a valid plan file (one value, key or
element changed) are generated and both checkers asked.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from near_valid import json_values, near
from plan_samples import META, normal_plan
from reconciler import planfile

VALID = json.loads(planfile.dump_plan(normal_plan(), **META))
VALUES = json_values(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, -1.0, 2.5])
    | st.sampled_from(
        [
            "",
            "x",
            "status",
            "tags.a",
            "lock",
            "nan",
            "2024-01-01T00:00:00Z",
            "sha256:" + "0" * 64,
            "sha256:" + "0" * 63 + "\n",
        ]
    ),
    ["timestamp", "float", "x", "id", "status", "tags"],
)


def fast_accepts(doc: Any) -> bool:
    return planfile._fast_accepts()(doc)


def jsonschema_accepts(doc: Any) -> bool:
    return next(iter(planfile._validator().iter_errors(doc)), None) is None


def test_both_accept_a_valid_plan_file():
    assert fast_accepts(VALID) and jsonschema_accepts(VALID)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near(VALID, VALUES, ["extra", "id", "tags", "locked", "float"]))
def test_fastjsonschema_never_accepts_what_jsonschema_refuses(doc):
    if fast_accepts(doc):
        assert jsonschema_accepts(doc), json.dumps(doc)[:2000]


@pytest.mark.parametrize("value", [True, 1.5, -1, "1"])
def test_a_wrong_count_is_refused_by_both(value):
    doc = copy.deepcopy(VALID)
    doc["queues"][0]["items_seen"] = value
    assert not fast_accepts(doc) and not jsonschema_accepts(doc)
