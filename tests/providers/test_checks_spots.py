"""Every provider's offline checks read one walk over a queue's rules, ranks and entries
(providers/checks.spots), so a problem points at the rule it is about, also where a
rank sits before it in `rules:`, and a rank's `where:` is checked as a rule's is."""

from __future__ import annotations

import textwrap

import pytest
from cli_helpers import run_cli

from reconciler.providers.checks import Spot, rule_places, spots
from reconciler.spec import spec_from_dict

# (provider block, queue id, a rule's `set:` with one bad tag, its message, bad id message)
SERVICES = {
    "synapse": (
        "{type: synapse}",
        "9615000",
        '{tags: {"bad key!": 1}}',
        "tag key 'bad key!' is not allowed on Synapse (letters, digits, ',', '_' and '.' only)",
        "submission id 'abc' is not a Synapse id (digits only)",
    ),
    "datamaker": (
        "{type: datamaker}",
        "12",
        '{tags: {"  ": true}}',
        "a datamaker tag name must not be empty",
        "task id 'abc' is not a datamaker task id (digits only)",
    ),
    "supervisely": (
        "{type: supervisely}",
        "12",
        "{tags: {phase: 1}}",
        "tag 'phase' is an integer; Supervisely task tags are strings (quote the value)",
        "task id 'abc' is not a Supervisely task id (digits only)",
    ),
    "omics": (
        "{type: omics}",
        "1234",
        "{tags: {phase: [a, b]}}",
        None,
        "batch id 'abc' is not a HealthOmics run batch id (1 to 18 digits)",
    ),
    "workflow-results": (
        "{type: workflow-results, endpoint: 'https://results.example.org'}",
        "pipe",
        "{tags: {seen: 1}}",
        "tag 'seen': workflow-results tags are labels, set with `true` (or a list `tags: [a, b]`) "
        "and removed with `null`",
        None,
    ),
}


def spec_text(provider: str, queue: str, bad_set: str) -> str:
    return textwrap.dedent(f"""\
        version: 1
        provider: {provider}
        queues:
          - id: "{queue}"
            rules:
              - name: board
                where: {{ids: ["abc"]}}
                rank: {{top: {{tag: best}}, by: [{{item: creationTime}}]}}
              - name: after-the-rank
                where: {{}}
                set: {bad_set}
        """)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_rules_problem_is_at_its_own_line_after_a_rank_and_a_ranks_where_is_checked(service, tmp_path, monkeypatch):
    provider, queue, bad_set, tag_message, id_message = SERVICES[service]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(spec_text(provider, queue, bad_set), "utf-8")
    result = run_cli("validate", "spec.yaml")
    assert result.code == 1
    errors = result.err.splitlines()
    if tag_message is not None:  # line 11: the rule's `set:`, not the rank's place (line 6)
        assert any(e.startswith("error: spec.yaml:11:") and e.endswith(tag_message) for e in errors), errors
    if id_message is not None:  # line 7: the rank's own `where: {ids: …}`, unchecked before
        assert f"error: spec.yaml:7:23: {id_message}" in errors, errors
    assert not any(e.startswith("error: spec.yaml:6:") for e in errors), errors


def test_omics_value_problems_land_on_the_rule_after_a_rank(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(spec_text("{type: omics}", "1234", "{tags: {phase: [a, b]}}"), "utf-8")
    errors = run_cli("validate", "spec.yaml").err.splitlines()
    assert [e.split(": ", 2)[1] for e in errors if "phase" in e] == ["spec.yaml:11:22"], errors


def test_a_status_after_a_rank_is_refused_at_its_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(
        spec_text("{type: synapse}", "9615000", "{status: ACCEPTD}").replace('{ids: ["abc"]}', "{status: SCORD}"),
        "utf-8",
    )
    errors = run_cli("validate", "spec.yaml").err.splitlines()
    assert [(e.split(":")[2], e.split(": ")[2].split(":")[0]) for e in errors if "status '" in e] == [
        ("7", "status 'SCORD' is not a Synapse submission status"),  # the rank's `where:`, unchecked before
        ("11", "status 'ACCEPTD' is not a Synapse submission status"),  # the rule's `set:`, not line 6
    ], errors


def test_spots_walks_rules_and_ranks_in_their_order_then_the_entries(tmp_path):
    spec = spec_from_dict(
        {
            "version": 1,
            "queues": [
                {
                    "id": "q",
                    "rules": [
                        {"name": "first", "where": {"status": "A", "tags": {"k": 1}}, "set": {"tags": {"out": "x"}}},
                        {
                            "name": "board",
                            "where": {"ids": ["7"], "tags": {"t": {"exists": True}}},
                            "rank": {"into": "place", "by": [{"tag": "k"}]},
                        },
                        {"name": "last", "where": {}, "set": {"status": "B", "tags": {"gone": None}}},
                    ],
                    "submissions": {"9": {"tags": {"k": 2}}},
                }
            ],
        },
        tmp_path,
    )
    (queue,) = spec.queues
    assert [(i, r.name) for i, r in rule_places(queue)] == [(0, "first"), (1, "board"), (2, "last")]
    assert list(spots(queue)) == [
        Spot(("rules", 0, "where", "status", "A"), "status", "A", matching=True),
        Spot(("rules", 0, "where", "tags", "k"), "tag", (1,), "k", matching=True),
        Spot(("rules", 0, "set", "tags", "out"), "tag", ("x",), "out"),
        Spot(("rules", 1, "where", "ids", "7"), "id", "7", matching=True),
        Spot(("rules", 1, "where", "tags", "t"), "tag", None, "t", matching=True),
        Spot(("rules", 2, "set", "status"), "status", "B"),
        Spot(("rules", 2, "set", "tags", "gone"), "tag", None, "gone"),
        Spot(("submissions", "9"), "id", "9"),
        Spot(("submissions", "9", "tags", "k"), "tag", (2,), "k"),
    ]
