"""What a provider declares in its Capabilities becomes located spec errors: statuses it
cannot write (with the closest valid value), labels set to anything but true/null, a
`lock:` block for a native lock or under the wrong option name."""

from __future__ import annotations

from builders import queue, rule

from reconciler.cli import main
from reconciler.errors import suggest
from reconciler.model import StatusRules
from reconciler.providers.base import Capabilities, SpecProblem
from reconciler.providers.checks import capability_problems

LABELS = Capabilities(batch_limit=100, label_tags=True, status=StatusRules(values=("success", "failure")))
NO_STATUS = Capabilities(batch_limit=100, lock_option="tag", status=StatusRules(values=()))


def test_a_case_insensitive_suggestion_prefers_a_case_match_then_a_near_spelling_and_else_nothing():
    values = ("queued", "finished", "stopped")
    assert suggest("Finished", values, ignore_case=True, cutoff=0.75) == "finished"
    assert suggest("finishd", values, ignore_case=True, cutoff=0.75) == "finished"
    assert suggest("done", values, ignore_case=True, cutoff=0.75) is None


def test_a_status_outside_the_declared_values_is_refused_with_the_closest_one():
    q = queue(rule("r", {"status": "Success"}, {"status": "failed"}), submissions={"1": {"status": "running"}})
    assert capability_problems(q, LABELS, "workflow-results") == [
        SpecProblem(
            "status 'Success' is not a status: did you mean 'success'? (one of: failure, success)",
            ("rules", 0, "where", "status", "Success"),
        ),
        SpecProblem(
            "status 'failed' is not a status: did you mean 'failure'? (one of: failure, success)",
            ("rules", 0, "set", "status"),
        ),
        SpecProblem("status 'running' is not a status (one of: failure, success)", ("submissions", "1", "status")),
    ]


def test_a_service_without_a_writable_status_refuses_status_anywhere():
    q = queue(rule("r", {"status": "x"}, {"tags": {"a": True}}), submissions={"1": {"status": "y"}})
    assert capability_problems(q, NO_STATUS, "datamaker") == [
        SpecProblem(
            "datamaker items have no writable status: a spec cannot match on `status` here; remove it",
            ("rules", 0, "where", "status", "x"),
        ),
        SpecProblem(
            "datamaker items have no writable status: a spec cannot set `status` here; remove it",
            ("submissions", "1", "status"),
        ),
    ]


def test_labels_are_true_or_null_and_one_is_not_true():
    q = queue(
        rule("r", {"tags": {"a": 1}}, {"tags": {"b": 1, "c": None, "d": True}}),
        submissions={"1": {"tags": {"e": "yes"}}},
    )
    assert capability_problems(q, LABELS, "wr") == [  # in spec order (providers/checks.spots): where, then set
        SpecProblem(
            "tag 'a': wr tags are labels; match them with `true` or `{exists: false}`",
            ("rules", 0, "where", "tags", "a"),
        ),
        SpecProblem(
            "tag 'b': wr tags are labels, set with `true` (or a list `tags: [a, b]`) and removed with `null`",
            ("rules", 0, "set", "tags", "b"),
        ),
        SpecProblem(
            "tag 'e': wr tags are labels, set with `true` (or a list `tags: [a, b]`) and removed with `null`",
            ("submissions", "1", "tags", "e"),
        ),
    ]


def test_a_native_lock_refuses_a_lock_block_and_an_advisory_one_its_wrong_option(tmp_spec, capsys):
    local = tmp_spec(
        """\
        version: 1
        queues:
          - id: q
            lock: {annotation: frozen}
        """,
        "local.yaml",
    )
    synapse = tmp_spec(
        """\
        version: 1
        provider: {type: synapse}
        queues:
          - id: "1"
            lock: {tag: frozen}
        """,
        "synapse.yaml",
    )
    assert main(["validate", str(local), str(synapse)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {local}:4:5: local locks items natively; remove `lock:`",
        f"error: {synapse}:5:12: synapse names where it keeps the lock `annotation`: write `lock: {{annotation: frozen}}`",
    ]


def test_a_rule_may_match_every_status_the_service_reports_but_set_only_the_writable_ones():
    caps = Capabilities(
        batch_limit=1,
        status=StatusRules(values=("CANCELLED",), known=("PENDING", "RUNNING", "CANCELLED"), name="run status"),
    )
    q = queue(rule("r", {"status": ["PENDING", "DONE"]}, {"status": "RUNNING"}))
    assert capability_problems(q, caps, "omics") == [
        SpecProblem(
            "status 'DONE' is not a run status (one of: CANCELLED, PENDING, RUNNING)",
            ("rules", 0, "where", "status", "DONE"),
        ),
        SpecProblem(
            "status 'RUNNING' is not a run status a spec can set (one of: CANCELLED)", ("rules", 0, "set", "status")
        ),
    ]


def test_an_oscillation_error_names_the_rule_by_line_and_column(tmp_spec, capsys):
    spec = tmp_spec("""\
        version: 1
        queues:
          - id: q
            rules:
              - name: accept
                where: {status: VALIDATED}
                set: {status: ACCEPTED}
              - name: back
                where: {status: ACCEPTED}
                set: {status: VALIDATED}
        """)
    assert main(["validate", str(spec)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {spec}:8:9: rules 'accept' ({spec}:5) and 'back' ({spec}:8) can oscillate")
