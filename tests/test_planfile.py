"""The plan file: round trip, canonical form, and every way an untrusted file is refused."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plan_samples import META, big_plan, empty_plan, normal_plan
from reconciler import planfile
from reconciler.errors import Located, UserErrors
from reconciler.model import (
    Change,
    FieldChange,
    ManagedTags,
    Plan,
    QueuePlan,
    Safety,
    Source,
    tag_key_of,
    tag_value_key,
)
from reconciler.planfile import MAX_PLAN_BYTES, dump_plan, load_plan, plan_to_dict


def comparable(plan: Plan) -> Any:
    """Plan equality that also compares `base` and treats NaN as equal to NaN."""

    def value(field: str, v: Any) -> Any:
        return tag_value_key(v) if tag_key_of(field) is not None else v

    return (
        plan.provider_type,
        plan.endpoint,
        plan.spec_digest,
        tuple(
            (
                q.queue_id,
                q.items_seen,
                q.safety,
                tuple(
                    (
                        c.item_id,
                        c.etag,
                        c.lock,
                        c.blocked,
                        json.dumps(c.base, sort_keys=True),
                        tuple((f.field, value(f.field, f.before), value(f.field, f.after), f.source) for f in c.fields),
                    )
                    for c in q.changes
                ),
            )
            for q in plan.queues
        ),
    )


def document(plan: Plan | None = None) -> dict[str, Any]:
    return json.loads(dump_plan(plan or normal_plan(), **META))


def text_of(doc: dict[str, Any], *, sign: bool = False) -> str:
    if sign:
        body = {k: v for k, v in doc.items() if k != "checksum"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        doc["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return json.dumps(doc, indent=2, sort_keys=True)


def load_error(text: str | bytes) -> str:
    with pytest.raises(Located) as info:
        load_plan(text, "plan.json")
    return str(info.value)


def position_of(text: str, needle: str) -> tuple[int, int]:
    pos = text.index(needle)
    return text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)


# ------------------------------------------------------------------------ round trip
@pytest.mark.parametrize("make", [empty_plan, normal_plan, lambda: big_plan(50)], ids=["empty", "normal", "big"])
def test_load_reproduces_the_dumped_plan(make):
    plan = make()
    text = dump_plan(plan, **META)
    loaded = load_plan(text.encode(), "plan.json")
    assert comparable(loaded.plan) == comparable(plan)
    assert dump_plan(loaded.plan, tool_version=loaded.tool_version, created_at=loaded.created_at) == text


def test_round_trip_keeps_types_of_nan_infinity_lists_timestamps_and_deletions():
    loaded = load_plan(dump_plan(normal_plan(), **META), "plan.json").plan
    fields = {(c.item_id, f.field): f for c in loaded.changes for f in c.fields}
    metric = fields[("9700004", "tags.metric")]
    assert math.isnan(metric.before[0]) and metric.after == (math.inf, -math.inf)
    assert fields[("9700004", "tags.labels")].after == ("a", "b", 3, True)
    assert type(fields[("9700004", "tags.rank")].before[0]) is int
    assert type(fields[("9700004", "tags.rank")].after[0]) is float
    assert fields[("9700004", "tags.submitted_at")].after == (
        datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc),
    )
    assert fields[("9700004", "tags.submitted_at")].before is None
    assert fields[("9700003", "tags.score")].after is None
    assert fields[("9700006", "tags.stale")].source is None
    assert fields[("9700001", "status")].source == Source("spec.yaml", 14, "accept-validated")


def test_loaded_plan_carries_lock_keys_safety_and_metadata():
    loaded = load_plan(dump_plan(normal_plan(), **META), "plan.json")
    assert {q.queue_id: q.lock_key for q in loaded.plan.queues} == {"9615000": "locked", "9615001": "frozen"}
    assert loaded.plan.queues[1].safety == Safety(max_change_percent=10.0, max_changes=5)
    assert (loaded.tool_version, loaded.created_at) == ("1.2.3", "2026-01-02T03:04:05Z")
    assert loaded.checksum == document()["checksum"]


def test_fields_come_back_in_status_tags_locked_order():
    plan = Plan(
        "local",
        "db",
        "d",
        (
            QueuePlan(
                "q",
                1,
                (
                    Change(
                        "1",
                        "e",
                        (
                            FieldChange("locked", True, False, None),
                            FieldChange("tags.b", None, ("x",), None),
                            FieldChange("status", "A", "B", None),
                            FieldChange("tags.a", ("y",), None, None),
                        ),
                        base={"id": "1", "etag": "e"},
                        lock="unlock",
                    ),
                ),
            ),
        ),
    )
    loaded = load_plan(dump_plan(plan, **META), "p")
    assert [f.field for f in loaded.plan.changes[0].fields] == ["status", "tags.a", "tags.b", "locked"]


scalars = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)).map(
        lambda d: d.replace(microsecond=d.microsecond - d.microsecond % 1000)
    ),
)
tag_values = st.one_of(st.none(), scalars.map(lambda v: (v,)), st.lists(scalars, max_size=3).map(tuple))


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), st.tuples(tag_values, tag_values), max_size=4))
def test_any_tag_values_survive_the_round_trip(tags):
    fields = tuple(FieldChange(f"tags.{k}", b, a, Source("s.yaml", 1)) for k, (b, a) in sorted(tags.items()))
    plan = Plan(
        "local",
        "db",
        "d",
        (QueuePlan("q", 3, (Change("1", "e", fields, base={"id": "1", "etag": "e", "k": [1, None]}),)),),
    )
    meta = META
    loaded = load_plan(dump_plan(plan, **meta), "plan.json")
    assert comparable(loaded.plan) == comparable(plan)


# ----------------------------------------------------------------------- the format
def test_document_has_the_documented_shape():
    doc = document()
    assert sorted(doc) == [
        "checksum",
        "created_at",
        "format_version",
        "provider",
        "queues",
        "spec_digest",
        "summary",
        "tool_version",
    ]
    assert doc["format_version"] == 1
    assert doc["provider"] == {"type": "synapse", "endpoint": "http://127.0.0.1:8080/repo/v1"}
    assert doc["summary"] == {"items_seen": 52, "change": 5, "lock": 1, "unlock": 1, "blocked": 1}
    queue = doc["queues"][0]
    assert (queue["id"], queue["items_seen"], queue["lock_key"]) == ("9615000", 12, "locked")
    assert queue["safety"] == {"max_change_percent": 30.0, "max_changes": None, "min_items": 10}
    unlock = queue["changes"][2]
    assert unlock == {
        "id": "9700003",
        "etag": "etag-9700003",
        "before": {"status": "SCORED", "tags": {"reason": None, "score": 0.2}, "locked": True},
        "after": {"status": "INVALID", "tags": {"reason": "wrong format", "score": None}, "locked": False},
        "lock": "unlock",
        "blocked": False,
        "sources": [
            {"field": f, "file": "spec.yaml", "line": 30, "rule": None}
            for f in ("status", "tags.reason", "tags.score", "locked")
        ],
        "base": {"id": "9700003", "etag": "etag-9700003", "status": "SCORED", "statusVersion": 3},
    }
    encoded = queue["changes"][3]["after"]["tags"]
    assert encoded["metric"] == [{"float": "inf"}, {"float": "-inf"}]
    assert encoded["submitted_at"] == {"timestamp": "2026-01-02T03:04:05.678Z"}


def test_dump_is_sorted_ascii_one_change_per_line_and_ends_with_a_newline():
    plan = Plan(
        "local",
        "db",
        "d",
        (
            QueuePlan(
                "q",
                1,
                (
                    Change(
                        "1",
                        "e",
                        (FieldChange("tags.team", None, ("Équipe ☃",), None),),
                        base={"z": 1, "a": 2},
                    ),
                ),
            ),
        ),
    )
    text = dump_plan(plan, **META)
    assert text.endswith("}\n") and text.isascii()
    assert '"team":"\\u00c9quipe \\u2603"' in text
    (change_line,) = [line for line in text.splitlines() if '"base"' in line]
    assert json.loads(change_line)["id"] == "1"  # the whole change on one line
    assert text.startswith('{\n  "checksum": ')  # the frame stays indented
    assert change_line.index('"a":2') < change_line.index('"z":1')


def test_checksum_is_sha256_of_the_canonical_json_of_everything_else():
    doc = document()
    claimed = doc.pop("checksum")
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert claimed == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_plan_file_never_holds_the_token(monkeypatch):
    token = "syn-planted-secret-4f1c9e"
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", token)
    monkeypatch.setenv("RECONCILER_SANDBOX_TOKEN", token)
    text = dump_plan(normal_plan(), **META)
    assert token not in text
    assert token not in json.dumps(plan_to_dict(normal_plan(), **META))


def test_bundled_schema_is_a_valid_draft_2020_12_schema():
    from importlib.resources import files

    from jsonschema import Draft202012Validator

    schema = json.loads((files("reconciler") / "schemas" / "plan.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(document())


# ------------------------------------------------------------------ refused files
def test_checksum_mismatch_is_refused_at_the_checksum():
    text = dump_plan(normal_plan(), **META).replace('"ACCEPTED"', '"REJECTED"', 1)
    line, column = position_of(text, '"sha256:')
    assert load_error(text) == (
        f"plan.json:{line}:{column}: plan file was modified after it was written (checksum mismatch)"
    )


def test_other_format_versions_are_refused_before_anything_else():
    doc = document()
    doc["format_version"] = 2
    doc["surprise"] = True
    text = text_of(doc)
    line, column = position_of(text, "2,\n")
    assert load_error(text) == (
        f"plan.json:{line}:{column}: unsupported plan format_version 2 (this reconciler reads 1)"
    )


def test_invalid_json_is_located_at_the_syntax_error():
    assert load_error('{\n  "format_version": 1,\n  "queues": [}\n') == (
        "plan.json:3:14: not valid JSON: Expecting value"
    )


def test_bytes_that_are_not_utf8_are_refused_with_their_position():
    assert load_error(b'{\n  "a": "\xff"\n}') == ("plan.json:2:9: plan file is not UTF-8 text (invalid byte 0xff)")


def test_a_byte_order_mark_is_accepted():
    text = dump_plan(normal_plan(), **META)
    assert load_plan(b"\xef\xbb\xbf" + text.encode(), "plan.json").plan.spec_digest == normal_plan().spec_digest


def test_files_over_the_size_cap_are_refused_unread():
    assert load_error(b" " * (MAX_PLAN_BYTES + 1)) == (
        "plan.json: plan file is larger than 200 MiB, the most a plan file may be; "
        "make smaller plans with `reconciler plan --only ID…`"
    )


def test_duplicate_keys_are_refused_where_they_repeat():
    text = dump_plan(normal_plan(), **META).replace(
        '"etag":"etag-9700001",', '"etag":"etag-9700001",\n          "etag": "other",', 1
    )
    line, column = position_of(text, '"etag": "other"')
    assert load_error(text) == f'plan.json:{line}:{column}: duplicate key "etag"'


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", 'NaN is not valid JSON (a plan file writes it as {"float": "nan"} etc.)'),
        ("-Infinity", '-Infinity is not valid JSON (a plan file writes it as {"float": "nan"} etc.)'),
        ("1e400", "number 1e400 is out of range"),
        ("9" * 5000, "number has too many digits"),
    ],
)
def test_numbers_json_cannot_carry_are_refused_where_they_are(literal, message):
    text = '{\n  "base": {"x": [1, ' + literal + "]}\n}"
    assert load_error(text) == f"plan.json:2:21: {message}"


def test_absurd_nesting_is_refused():
    assert load_error("[" * 200_000 + "]" * 200_000) == "plan.json: plan file nests too deeply"


def test_schema_violation_is_located_and_names_the_json_path():
    doc = document()
    doc["queues"][0]["changes"][3]["etag"] = 5
    text = text_of(doc)
    line, column = position_of(text, '"etag": 5')
    assert load_error(text) == (
        f"plan.json:{line}:{column + 8}: queues[0].changes[3].etag: expected a string, got integer"
    )


def test_a_wrong_type_under_a_choice_of_types_names_them_all():
    doc = document()
    doc["queues"][0]["safety"]["max_changes"] = "10"
    text = text_of(doc)
    line, column = position_of(text, '"max_changes": "10"')
    assert load_error(text) == (
        f"plan.json:{line}:{column + 15}: queues[0].safety.max_changes: expected an integer or null, got string"
    )


@pytest.mark.parametrize(
    ("managed", "message"),
    [
        ({"policy": "exakt", "named": []}, "policy: expected 'merge' or 'exact', got 'exakt': did you mean 'exact'?"),
        # JSON, not YAML: no "(write `named: [score]`)" as a spec's message has
        ({"policy": "merge", "named": "score"}, "named: expected a list, got string"),
        ({"policy": "merge", "named": ["a", "a"]}, "named: must not name an item twice"),
    ],
    ids=["choice", "not-a-list", "repeated"],
)
def test_a_wrong_value_is_said_in_the_spec_s_words(managed, message):
    doc = document()
    doc["queues"][0]["managed_tags"] = managed
    assert load_error(text_of(doc)).endswith(f": queues[0].managed_tags.{message}")


@pytest.mark.parametrize(
    ("misspells", "key", "hint"),
    [(None, "token", ""), ("etag", "etga", ": did you mean 'etag'?")],
    ids=["unknown", "misspelt"],
)
def test_an_unknown_field_is_one_error_at_its_key_naming_the_fields_allowed(misspells, key, hint):
    """A misspelt field is one error: its field is not also reported missing (as in a spec)."""
    doc = document()
    change = doc["queues"][0]["changes"][0]
    change[key] = change.pop(misspells) if misspells else "x"
    text = text_of(doc)
    line, column = position_of(text, f'"{key}"')
    assert load_error(text) == (
        f"plan.json:{line}:{column}: queues[0].changes[0]: unknown field {key!r}{hint} "
        "(allowed: after, base, before, blocked, drift, etag, id, lock, refused, relock, sources)"
    )


def test_a_misspelt_top_level_field_names_no_path():
    doc = document()
    doc["sumary"] = doc.pop("summary")
    where, message = load_error(text_of(doc)).split(": ", 1)
    assert where.startswith("plan.json:") and message == (
        "unknown field 'sumary': did you mean 'summary'? (allowed: checksum, created_at, evaluated_at, "
        "format_version, problems, provider, queues, spec_digest, summary, tool_version, warnings)"
    )


def test_a_malformed_tag_value_says_what_a_tag_value_is():
    doc = document()
    doc["queues"][0]["changes"][0]["after"]["tags"]["score"] = {"when": "now"}
    text = text_of(doc)
    line, column = position_of(text, '"score": {')
    assert load_error(text) == (
        f"plan.json:{line}:{column + 9}: queues[0].changes[0].after.tags.score: "
        'expected a scalar (a string, number, boolean, {"timestamp": "<ISO 8601>"} or '
        '{"float": "nan"|"inf"|"-inf"}), got mapping'
    )


def test_all_schema_violations_are_reported_together_in_file_order():
    doc = document()
    del doc["queues"][0]["changes"][1]["blocked"]
    doc["queues"][0]["changes"][0]["lock"] = "freeze"
    doc["provider"]["type"] = ""
    with pytest.raises(UserErrors) as info:
        load_plan(text_of(doc), "plan.json")
    messages = [e.message for e in info.value.errors]
    assert messages == [
        "provider.type: must not be empty",
        "queues[0].changes[0].lock: expected 'lock', 'unlock' or null, got 'freeze'",
        "queues[0].changes[1]: missing required field 'blocked'",
    ]
    assert all(isinstance(e, Located) and e.line for e in info.value.errors)


def test_schema_errors_are_capped():
    doc = document(big_plan(40))
    for change in doc["queues"][0]["changes"]:
        change["etag"] = 1
    with pytest.raises(UserErrors) as info:
        load_plan(text_of(doc), "plan.json")
    assert len(info.value.errors) == planfile.MAX_SCHEMA_ERRORS + 1
    assert str(info.value.errors[-1]) == "plan.json: (only the first 20 schema errors are shown)"


def test_odd_keys_are_quoted_in_json_paths():
    doc = document()
    doc["queues"][0]["changes"][0]["after"]["tags"] = {"a.b": {"bad": 1}, "score": 0.91}
    assert 'queues[0].changes[0].after.tags["a.b"]: ' in load_error(text_of(doc))


# Files with a valid checksum whose content still makes no sense (hand-made or buggy).
@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (
            lambda d: d["queues"][0]["changes"][0]["after"].pop("status"),
            '"after"',
            "queues[0].changes[0].after: before and after must name the same fields (status in only one)",
        ),
        (
            lambda d: d["queues"][0]["changes"][1]["sources"][0].update(field="status"),
            None,
            "queues[0].changes[1].sources[0].field: source for status names a field the change does not change",
        ),
        (
            lambda d: d["queues"][0]["changes"][1].update(id="9700001"),
            None,
            "queues[0].changes[1].id: item 9700001 appears twice in queue 9615000",
        ),
        (
            lambda d: d["queues"][1].update(id="9615000"),
            None,
            "queues[1].id: queue 9615000 appears twice",
        ),
        (
            lambda d: d["summary"].update(change=99),
            '"summary"',
            'summary: summary does not match the changes (they give {"blocked": 1, "change": 5, '
            '"items_seen": 52, "lock": 1, "unlock": 1})',
        ),
        (
            lambda d: d["queues"][0]["changes"][3]["after"]["tags"].update(
                submitted_at={"timestamp": "2026-13-02T03:04:05.678Z"}
            ),
            None,
            "queues[0].changes[3].after.tags.submitted_at: not a valid tag value: month must be in 1..12",
        ),
    ],
    ids=["field-sets", "source-field", "duplicate-item", "duplicate-queue", "summary", "timestamp"],
)
def test_inconsistent_content_is_refused_even_with_a_valid_checksum(edit, path, message):
    doc = document()
    edit(doc)
    text = text_of(doc, sign=True)
    error = load_error(text)
    assert error.endswith(": " + message)
    if path is not None:
        line, _ = position_of(text, path)
        assert error.startswith(f"plan.json:{line}:")


# ------------------------------------------------------------------ managed tags (issue 20)
def with_managed(plan: Plan, *managed: ManagedTags) -> Plan:
    queues = tuple(replace(q, managed_tags=m) for q, m in zip(plan.queues, managed, strict=True))
    return replace(plan, queues=queues)


def test_each_queue_records_the_tag_keys_its_spec_manages():
    merge, exact = (
        ManagedTags("merge", frozenset({"score", "reason"})),
        ManagedTags("exact", frozenset({"score"}), ("pipeline_*",)),
    )
    plan = with_managed(normal_plan(), merge, exact)
    doc = document(plan)
    assert doc["queues"][0]["managed_tags"] == {"policy": "merge", "named": ["reason", "score"]}
    assert doc["queues"][1]["managed_tags"] == {"policy": "exact", "named": ["score"], "ignore": ["pipeline_*"]}
    loaded = load_plan(dump_plan(plan, **META), "plan.json").plan
    assert [q.managed_tags for q in loaded.queues] == [merge, exact]
    queue = loaded.queues[1].as_queue(Source("plan.json", 1))
    assert queue.managed_tags == exact and queue.rules == ()
    assert exact.manages("owner") and not exact.manages("pipeline_7") and not merge.manages("owner")


def test_a_plan_file_from_before_managed_tags_manages_every_key():
    doc = document()
    for queue in doc["queues"]:
        queue.pop("managed_tags")
    loaded = load_plan(text_of(doc, sign=True), "plan.json").plan
    assert all(q.managed_tags == ManagedTags() and q.managed_tags.manages("anything") for q in loaded.queues)


def test_an_older_omics_plan_file_s_managed_tags_option_becomes_each_queue_s_record():
    """Before queues recorded them, omics kept them in `provider.options.managed_tags`
    (queue id -> keys, null: every key); such a file still loads, the same keys managed."""
    doc = document()
    doc["provider"] = {
        "type": "omics",
        "endpoint": "http://127.0.0.1:9/",
        "options": {"region": "us-east-1", "managed_tags": {"9615000": ["score"], "9615001": None}},
    }
    for queue in doc["queues"]:
        queue.pop("managed_tags")
        for change in queue["changes"]:
            change["base"].pop("etag", None)  # a compare-guard service keeps no etag in its objects
    loaded = load_plan(text_of(doc, sign=True), "plan.json").plan
    assert [q.managed_tags for q in loaded.queues] == [ManagedTags("merge", frozenset({"score"})), ManagedTags()]
    assert loaded.provider_options == {"region": "us-east-1"}


def test_a_managed_tags_record_of_another_shape_is_refused_where_it_is():
    doc = document()
    doc["queues"][0]["managed_tags"] = {"policy": "some", "named": []}
    text = text_of(doc, sign=True)
    error = load_error(text)
    line, _ = position_of(text, '"some"')
    assert "queues[0].managed_tags.policy" in error and error.startswith(f"plan.json:{line}:")
