"""`where:` conditions (issue 23, docs/spec.md): operators, kinds, relative times, the
refusals validate makes at line:column, and the range-aware oscillation check.

Specs are loaded from YAML as users write them, then resolved: what is tested is the
meaning of the text, not of hand-built model objects."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from reconciler.errors import UserError, UserErrors
from reconciler.model import Item
from reconciler.resolve import CompiledQueue, find_oscillations
from reconciler.spec import load_spec

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def load(tmp_path, body: str, provider: str = "local"):
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"version: 1\nprovider: {{type: {provider}}}\nqueues:\n  - id: q\n    rules:\n"
        + textwrap.indent(textwrap.dedent(body), "      ")
    )
    return load_spec(path)


def refusals(tmp_path, body: str, provider: str = "local") -> list[str]:
    with pytest.raises(UserError) as caught:
        load(tmp_path, body, provider)
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, UserErrors) else [str(error)]


def spec_refusals(path) -> list[str]:
    """What validate refuses in the spec file at `path` (it must refuse something)."""
    with pytest.raises(UserErrors) as caught:
        load_spec(path)
    return [str(e) for e in caught.value.errors]


def matching(tmp_path, condition: str, values: list, *, field: str = "v", now=NOW) -> list:
    """Which of `values` (tag `field`'s value; None: absent) the condition matches."""
    spec = load(
        tmp_path,
        f"""\
        - name: hit
          where: {{tags: {{{field}: {condition}}}}}
          set: {{tags: {{hit: true}}}}
        """,
    )
    compiled = CompiledQueue(spec.queues[0], now)
    out = []
    for n, value in enumerate(values):
        tags = {} if value is None else {field: value if isinstance(value, tuple) else (value,)}
        if compiled.settle(Item(str(n), "e", "OPEN", tags)) is not None:
            out.append(value)
    return out


# ------------------------------------------------------------------ operators
def test_eq_compares_numbers_as_numbers_across_int_and_float(tmp_path):
    assert matching(tmp_path, "{eq: 1}", [1, 1.0, 2, "1", True]) == [1, 1.0]


def test_ne_matches_other_values_of_the_same_kind_only(tmp_path):
    assert matching(tmp_path, "{ne: 1}", [1, 1.0, 2, 0.5, "2", True, None]) == [2, 0.5]


@pytest.mark.parametrize(
    "op, expected",
    [
        ("lt", [0.1, 0]),
        ("le", [0.1, 0, 0.5]),
        ("gt", [0.9, 1]),
        ("ge", [0.5, 0.9, 1]),
    ],
)
def test_ordering_operators_on_numbers(tmp_path, op, expected):
    assert matching(tmp_path, f"{{{op}: 0.5}}", [0.1, 0, 0.5, 0.9, 1, "0.1", None]) == expected


def test_ordering_compares_text_as_text(tmp_path):
    assert matching(tmp_path, '{lt: "m"}', ["alpha", "zeta", "M", 1]) == ["alpha", "M"]


def test_ordering_compares_timestamps_as_times(tmp_path):
    early, late = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert matching(tmp_path, "{lt: 2026-03-01}", [early, late, "2026-01-01"]) == [early]


def test_between_is_inclusive_and_of_one_kind(tmp_path):
    assert matching(tmp_path, "{between: [0.5, 1]}", [0.4, 0.5, 0.75, 1, 1.1, "0.7"]) == [0.5, 0.75, 1]


def test_in_and_not_in(tmp_path):
    assert matching(tmp_path, "{in: [a, b, 3]}", ["a", "c", 3, 3.0, True]) == ["a", 3, 3.0]
    assert matching(tmp_path, "{not_in: [a, b]}", ["a", "c", 3, None]) == ["c"]


def test_matches_searches_text_with_a_regular_expression(tmp_path):
    assert matching(tmp_path, '{matches: "^lab-[0-9]+$"}', ["lab-12", "xlab-1", "lab-", 12]) == ["lab-12"]


def test_matches_a_pathological_pattern_against_a_long_value_in_linear_time(tmp_path):
    # Python's backtracking `re` takes exponential time here; RE2 is linear in the value.
    assert matching(tmp_path, '{matches: "^(a|a)*b$"}', ["a" * 100_000, "a" * 50 + "b"]) == ["a" * 50 + "b"]


def test_exists_combines_with_an_operator(tmp_path):
    assert matching(tmp_path, "{exists: true, gt: 1}", [2, 1, None]) == [2]


def test_several_operators_must_all_hold(tmp_path):
    assert matching(tmp_path, "{gt: 1, lt: 3}", [1, 2, 3]) == [2]


# ------------------------------------------------------------- kind mismatches
@pytest.mark.parametrize(
    "condition, values",
    [
        ("{gt: 0.5}", ["0.9", True, datetime(2026, 1, 1, tzinfo=timezone.utc)]),  # number literal
        ('{gt: "a"}', [5, 1.5, True]),  # text literal
        ("{gt: 2026-01-01}", ["2027-01-01", 20270101]),  # timestamp literal
        ("{eq: true}", [1, "true"]),  # boolean literal: True is not the number 1
        ("{in: [1, 2]}", [True, "1"]),
        ('{matches: "1"}', [1, 1.0]),  # patterns read text only
    ],
)
def test_a_value_of_another_kind_never_matches(tmp_path, condition, values):
    assert matching(tmp_path, condition, values) == []


def test_a_list_value_compares_with_no_operator(tmp_path):
    assert matching(tmp_path, "{eq: 1}", [(1, 2), (1,)]) == [(1,)]


def test_an_absent_key_matches_no_operator_not_even_ne(tmp_path):
    assert matching(tmp_path, "{ne: 1}", [None]) == []
    assert matching(tmp_path, "{not_in: [1]}", [None]) == []


# --------------------------------------------------------------- relative times
def test_relative_times_count_from_the_plan_clock(tmp_path):
    old, recent = NOW - timedelta(days=8), NOW - timedelta(days=6)
    assert matching(tmp_path, "{lt: now-7d}", [old, recent]) == [old]
    assert matching(tmp_path, "{gt: now-7d}", [old, recent]) == [recent]
    # the same spec on another clock: what changes is `now`, not the spec
    assert matching(tmp_path, "{lt: now-7d}", [old, recent], now=NOW + timedelta(days=2)) == [old, recent]


@pytest.mark.parametrize(
    "text, delta",
    [
        ("now", timedelta()),
        ("now+2h", timedelta(hours=2)),
        ("now-30m", timedelta(minutes=-30)),
        ("now-45s", timedelta(seconds=-45)),
        ("now-2w", timedelta(weeks=-2)),
        ("now+1d", timedelta(days=1)),
    ],
)
def test_every_relative_time_unit(tmp_path, text, delta):
    at = NOW + delta
    assert matching(tmp_path, f"{{eq: {text}}}", [at, at + timedelta(seconds=1)]) == [at]
    assert matching(tmp_path, f"{{between: [{text}, {text}]}}", [at]) == [at]


def test_resolving_a_relative_time_without_a_clock_is_refused(tmp_path):
    spec = load(
        tmp_path,
        """\
        - where: {tags: {at: {lt: now}}}
          set: {tags: {old: true}}
        """,
    )
    with pytest.raises(ValueError, match="clock"):
        CompiledQueue(spec.queues[0])


# ------------------------------------------------------------------- refusals
def test_a_pattern_that_does_not_compile_is_refused_at_its_line_and_column(tmp_path):
    assert refusals(
        tmp_path,
        """\
        - where: {tags: {team: {matches: "(lab"}}}
          set: {tags: {lab: true}}
        """,
    ) == [f"{tmp_path / 'spec.yaml'}:6:31: tag 'team': pattern '(lab' does not compile: missing ): (lab"]


@pytest.mark.parametrize(
    "pattern, reason",
    [
        (r"(a)\\1", "invalid escape sequence"),  # backreference
        ("(?=a)b", "invalid perl operator"),  # lookahead
    ],
)
def test_backtracking_only_syntax_is_refused(tmp_path, pattern, reason):
    [message] = refusals(
        tmp_path,
        f"""\
        - where: {{tags: {{team: {{matches: "{pattern}"}}}}}}
          set: {{tags: {{lab: true}}}}
        """,
    )
    assert "does not compile" in message and reason in message


def test_a_literal_that_can_never_compare_with_a_table_column_type_is_refused(tmp_path):
    (tmp_path / "scores.csv").write_text("id,auc\n1,0.5\n")
    path = tmp_path / "spec.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        queues:
          - id: q
            include:
              - table: scores.csv
                id: id
                tags: {auc: {column: auc, type: float}}
            rules:
              - where: {tags: {auc: {gt: "high"}}}
                set: {tags: {good: true}}
        """)
    )
    assert spec_refusals(path) == [
        f"{path}:9:30: tag 'auc': \"high\" is a text, and this key holds float values: the condition can never compare"
    ]


def test_ordering_booleans_and_an_empty_between_are_refused(tmp_path):
    assert refusals(
        tmp_path,
        """\
        - where: {tags: {done: {lt: true}, auc: {between: [0.9, 0.1]}, x: {between: [1, a]}}}
          set: {tags: {odd: true}}
        """,
    ) == [
        f"{tmp_path / 'spec.yaml'}:6:31: tag 'done': `lt` orders values, and booleans have no order: use `eq`",
        f"{tmp_path / 'spec.yaml'}:6:48: tag 'auc': `between: [lo, hi]` needs lo <= hi: nothing lies "
        "between 0.9 and 0.1",
        f"{tmp_path / 'spec.yaml'}:6:74: tag 'x': `between` needs two values of one kind, got a number and a text",
    ]


# ------------------------------------------------------ range-aware oscillation
def oscillations(tmp_path, body: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nqueues:\n  - id: q\n    rules:\n" + textwrap.indent(textwrap.dedent(body), "      "))
    return oscillations_of(path)


def oscillations_of(path) -> list[str]:
    """What validate says about oscillating rules (load_spec runs the check)."""
    try:
        load_spec(path)
    except UserErrors as caught:
        return [str(e) for e in caught.errors]
    return []


def test_sets_that_land_in_each_others_ranges_are_refused_with_both_locations(tmp_path):
    path = tmp_path / "spec.yaml"
    assert oscillations(
        tmp_path,
        """\
        - name: lift
          where: {tags: {score: {lt: 0.5}}}
          set: {tags: {score: 0.9}}
        - name: drop
          where: {tags: {score: {gt: 0.8}}}
          set: {tags: {score: 0.1}}
        """,
    ) == [
        f"{path}:8:9: rules 'lift' ({path}:5) and 'drop' ({path}:8) can oscillate: "
        "each one's `set` re-enables the other's `where`"
    ]


def test_a_set_outside_the_other_rules_range_cannot_loop(tmp_path):
    assert (
        oscillations(
            tmp_path,
            """\
        - name: lift
          where: {tags: {score: {lt: 0.5}}}
          set: {tags: {score: 0.9}}
        - name: drop
          where: {tags: {score: {gt: 0.95}}}
          set: {tags: {score: 0.1}}
        """,
        )
        == []
    )


def test_ranges_of_every_operator_are_understood(tmp_path):
    assert (
        oscillations(
            tmp_path,
            """\
        - name: a
          where: {tags: {team: {matches: "^lab-"}}}
          set: {tags: {team: other}}
        - name: b
          where: {tags: {team: {in: [other, more]}}}
          set: {tags: {team: lab-1}}
        """,
        )
        != []
    )
    assert (
        oscillations(
            tmp_path,
            """\
        - name: a
          where: {tags: {team: {matches: "^lab-"}}}
          set: {tags: {team: other}}
        - name: b
          where: {tags: {team: {not_in: [other, more]}}}
          set: {tags: {team: lab-1}}
        """,
        )
        == []
    )


def test_a_relative_time_range_counts_as_reachable(tmp_path):
    # the clock moves: any fixed time is eventually on either side of now-7d
    assert (
        oscillations(
            tmp_path,
            """\
        - name: a
          where: {tags: {at: {lt: now-7d}}}
          set: {tags: {at: 2030-01-01}}
        - name: b
          where: {tags: {at: {gt: now}}}
          set: {tags: {at: 2020-01-01}}
        """,
        )
        != []
    )


def test_rules_on_different_values_of_a_service_field_cannot_loop(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        provider: {type: synapse}
        queues:
          - id: "1"
            rules:
              - where: {item: {cancelRequested: true}, status: RECEIVED}
                set: {status: CLOSED}
              - where: {item: {cancelRequested: false}, status: CLOSED}
                set: {status: RECEIVED}
        """)
    )
    assert oscillations_of(path) == []
    path.write_text(path.read_text().replace("cancelRequested: false", "cancelRequested: true"))
    assert "can oscillate" in oscillations_of(path)[0]


def test_find_oscillations_reads_conditions_without_a_clock(tmp_path):
    spec = load(
        tmp_path,
        """\
        - where: {tags: {at: {lt: now}}}
          set: {tags: {old: true}}
        """,
    )
    assert find_oscillations(spec.queues[0]) == []


# ------------------------------------------------------------ the plan's clock
def clock_spec(tmp_path):
    (tmp_path / "live.yaml").write_text(
        textwrap.dedent("""\
        queues:
        - id: q
          items:
          - {id: '1', status: OPEN, tags: {seen: 2020-01-01T00:00:00Z}, locked: false}
          - {id: '2', status: OPEN, tags: {seen: 2999-01-01T00:00:00Z}, locked: false}
        """)
    )
    path = tmp_path / "spec.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        provider: {type: local, path: state.db, seed: live.yaml}
        queues:
          - id: q
            rules:
              - where: {tags: {seen: {lt: now-7d}}}
                set: {tags: {stale: true}}
        """)
    )
    return path


def test_the_plan_reads_the_clock_once_shows_it_and_saves_it(tmp_path):
    import json

    from cli_helpers import run_cli

    from reconciler.planfile import load_plan

    spec, saved = clock_spec(tmp_path), tmp_path / "plan.json"
    result = run_cli("plan", spec, "-o", saved)
    assert result.code == 0, result.err
    doc = json.loads(saved.read_text())
    evaluated = doc["evaluated_at"]
    assert f"(evaluated at {evaluated}, reconciler" in result.out.splitlines()[0]
    assert [c["id"] for c in doc["queues"][0]["changes"]] == ["1"]
    loaded = load_plan(saved.read_text(), str(saved))
    assert loaded.plan.evaluated_at.isoformat().replace("+00:00", "Z").startswith(evaluated[:19])
    for fmt in ("markdown", "github"):
        assert "evaluated at" in run_cli("show", saved, "--format", fmt).out, fmt


def test_apply_planfile_applies_what_was_reviewed_without_evaluating_again(tmp_path):
    import json

    from cli_helpers import run_cli

    spec, saved = clock_spec(tmp_path), tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", saved).code == 0
    doc = json.loads(saved.read_text())
    # a plan file from a clock far in the future: applying it must not re-read conditions
    doc["evaluated_at"] = "3000-01-01T00:00:00.000Z"
    from reconciler.planfile import _checksum

    doc.pop("checksum")
    doc["checksum"] = _checksum(doc)
    saved.write_text(json.dumps(doc))
    result = run_cli("apply", saved, "--auto-approve")
    assert result.code == 0, result.err + result.out
    # evaluated on the year-3000 clock, item 2 (seen in 2999) would have changed too
    assert "Apply complete: 1 applied" in result.out
    assert "evaluated at 3000-01-01T00:00:00.000Z" in result.out


def test_a_bad_evaluated_at_in_a_plan_file_is_refused(tmp_path):

    from cli_helpers import run_cli

    spec, saved = clock_spec(tmp_path), tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", saved).code == 0
    saved.write_text(saved.read_text().replace('"evaluated_at": "', '"evaluated_at": "x'))
    result = run_cli("show", saved)
    assert result.code == 1 and "evaluated_at" in result.err


def test_the_range_example_in_semantics_md_is_refused_as_documented(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "semantics.md").read_text()
    rules, expected = re.search(r"```yaml\n(rules:\n  - name: lift.*?)```\s*```text\n(.*?)\n```", text, re.S).groups()
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text("version: 1\nqueues:\n  - id: q\n" + textwrap.indent(rules, "    "))
    assert oscillations_of("spec.yaml") == [expected]
    Path("spec.yaml").write_text(Path("spec.yaml").read_text().replace("gt: 0.8", "gt: 0.95"))
    assert oscillations_of("spec.yaml") == []


@pytest.mark.parametrize("provider", ["local", "datamaker"])
def test_a_service_that_reports_no_fields_refuses_where_item(tmp_path, provider):
    messages = refusals(
        tmp_path,
        """\
        - where: {item: {createdOn: {lt: now}}}
          set: {tags: {old: true}}
        """,
        provider=provider,
    )
    assert messages[-1] == f"{tmp_path / 'spec.yaml'}:6:24: {provider} reports no item fields a `where` can test"


def test_matches_on_a_field_that_is_not_text_is_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(
        textwrap.dedent("""\
        version: 1
        provider: {type: synapse}
        queues:
          - id: "1"
            rules:
              - where: {item: {statusVersion: {matches: "^1"}, createdOn: {between: [2026-01-01, now]}}}
                set: {status: CLOSED}
        """)
    )
    assert spec_refusals(path) == [
        f"{path}:6:40: item field 'statusVersion': `matches` compares text, and this key holds "
        "integer values: it can never match"
    ]


def test_on_a_label_service_an_operator_that_cannot_compare_with_true_is_refused(tmp_path):
    messages = refusals(
        tmp_path,
        """\
        - where: {tags: {reviewed: {gt: 1}, flagged: {eq: true}}}
          set: {tags: [done]}
        """,
        provider="workflow-results",
    )
    assert messages == [
        f"{tmp_path / 'spec.yaml'}:6:35: tag 'reviewed': 1 is a number, and this key holds "
        "boolean values: the condition can never compare"
    ]
