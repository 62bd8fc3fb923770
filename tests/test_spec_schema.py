"""The spec's two schema checkers agree where it matters.

Loading a spec validates each file with fastjsonschema first and runs jsonschema (with
the spec's own type rules) only when that fails or cannot be trusted
(spec._fast_accepts). That is only sound if the fast path never accepts what jsonschema
refuses, so documents near valid specs and include files are generated, with YAML's
own types among the values (timestamps, dates, integral floats), and both asked.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from near_valid import json_values, near
from reconciler import spec

ROOT = Path(__file__).parent.parent


def view(path: Path) -> object:
    """The JSON view of one YAML file, as the loader validates it."""
    file, errors = spec._read(path, path.name)
    assert not errors
    return file.data


SPECS = [
    view(ROOT / "examples/challenge/spec.yaml"),
    view(ROOT / "tests/specs/good/synapse.yaml"),
    view(ROOT / "tests/specs/good/minimal.yaml"),
]
INCLUDE = view(ROOT / "examples/challenge/scores/round-2.yaml")
VALUES = json_values(
    st.none()
    | st.booleans()
    | st.integers(-2, 101)
    | st.sampled_from([0.0, 1.0, 5.0, 0.5, -1.5])
    | st.sampled_from(
        [
            "",
            "x",
            "9700001",
            "VALIDATED",
            "local",
            "synapse",
            "merge",
            "exact",
            "http://127.0.0.1:1/repo/v1",
            "pipeline_*",
            "2024-01-01T00:00:00Z",
        ]
    )
    | st.just(datetime(2024, 1, 1, tzinfo=timezone.utc))
    | st.just(date(2024, 1, 1)),
    [
        "policy",
        "ignore",
        "exists",
        "status",
        "tags",
        "type",
        "path",
        "endpoint",
        "annotation",
        "max_changes",
        "min_items",
        "ids",
        "locked",
        "set",
        "where",
        "name",
        "x",
    ],
)
KEYS = ["x", "status", "tags", "locked", "include", "seed", "lock", "safety", "rules", "submissions", "9700009"]


def fast_accepts(definition: str, data: object) -> bool:
    return spec._fast_accepts(definition, data)


def jsonschema_accepts(definition: str, data: object) -> bool:
    return next(iter(spec._validator(definition).iter_errors(data)), None) is None


@pytest.mark.parametrize("data", [SPECS[0], SPECS[2]], ids=["challenge", "minimal"])
def test_specs_without_yaml_timestamps_take_the_fast_path(data):
    assert fast_accepts("spec", data) and jsonschema_accepts("spec", data)


def test_a_spec_with_a_yaml_date_is_left_to_jsonschema():
    assert not fast_accepts("spec", SPECS[1]) and jsonschema_accepts("spec", SPECS[1])


def test_an_integral_float_where_an_integer_belongs_is_refused():
    data = json.loads(json.dumps(SPECS[0]))
    data["queues"][0]["safety"]["max_changes"] = 5.0
    assert not fast_accepts("spec", data) and not jsonschema_accepts("spec", data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SPECS))).flatmap(lambda i: near(SPECS[i], VALUES, KEYS)))
def test_the_fast_check_never_accepts_a_spec_jsonschema_refuses(data):
    if fast_accepts("spec", data):
        assert jsonschema_accepts("spec", data), repr(data)[:2000]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near(INCLUDE, VALUES, KEYS))
def test_the_fast_check_never_accepts_an_include_file_jsonschema_refuses(data):
    if fast_accepts("include_file", data):
        assert jsonschema_accepts("include_file", data), repr(data)[:2000]


def test_the_shipped_schema_is_the_one_assembled_from_the_providers():
    """Providers own their options (Provider.options_schema); the shipped file is
    generated from them. Regenerate with `python -m reconciler.schema_assembly`."""
    from reconciler.schema_assembly import assemble, render, shipped_text

    shipped = shipped_text()
    assert render(assemble(json.loads(shipped))) == shipped
