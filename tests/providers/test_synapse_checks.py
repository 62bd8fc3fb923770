"""Offline Synapse checks: what Synapse would refuse, with the path of the offending field."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from builders import queue, rule
from reconciler.providers.base import SpecProblem
from reconciler.providers.synapse_checks import check_queue
from reconciler.providers.synapse_facts import STATUSES

STATUS_LIST = "ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED"
KEY_RULE = "(letters, digits, ',', '_' and '.' only)"
T1 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_a_valid_queue_has_no_problems():
    q = queue(
        rule(
            "accept",
            {
                "status": ["VALIDATED", "RECEIVED"],
                "ids": ["9700001"],
                "tags": {"team": "owls", "score": {"exists": False}},
            },
            {"status": "ACCEPTED", "tags": {"stage": "review", "note.v2,x": ["a", "b"]}},
        ),
        submissions={
            "9700003": {
                "status": "SCORED",
                "locked": True,
                "tags": {"score": 0.9, "rank": 1, "ok": True, "at": T1, "gone": None},
            }
        },
    )
    assert check_queue(q) == []


@pytest.mark.parametrize("status", STATUSES)
def test_every_synapse_status_is_accepted(status):
    assert check_queue(queue(submissions={"1": {"status": status}})) == []


def test_statuses_outside_the_enum_are_reported_where_they_appear():
    """The enum is the provider's Capabilities.status, checked by the shared checks."""
    from reconciler.providers.checks import capability_problems
    from reconciler.providers.synapse import SynapseProvider

    q = queue(
        rule("r", {"status": ["VALIDATED", "DONE"]}, {"status": "FINISHED"}),
        submissions={"1": {"status": "scored"}},
    )
    assert check_queue(q) == []
    assert capability_problems(q, SynapseProvider.capabilities, "synapse") == [
        SpecProblem(
            f"status 'DONE' is not a Synapse submission status (one of: {STATUS_LIST})",
            ("rules", 0, "where", "status", "DONE"),
        ),
        SpecProblem(
            f"status 'FINISHED' is not a Synapse submission status (one of: {STATUS_LIST})",
            ("rules", 0, "set", "status"),
        ),
        SpecProblem(
            f"status 'scored' is not a Synapse submission status: did you mean 'SCORED'? (one of: {STATUS_LIST})",
            ("submissions", "1", "status"),
        ),
    ]


def test_ids_must_be_digits():
    q = queue(
        rule("r", {"ids": ["9700001", "syn9"]}, {"locked": True}),
        submissions={"97-3": {"locked": True}},
        id="syn9615000",
    )
    assert check_queue(q) == [
        SpecProblem("queue id 'syn9615000' is not a Synapse evaluation id (digits only)", ("id",)),
        SpecProblem("submission id 'syn9' is not a Synapse id (digits only)", ("rules", 0, "where", "ids", "syn9")),
        SpecProblem("submission id '97-3' is not a Synapse id (digits only)", ("submissions", "97-3")),
    ]


@pytest.mark.parametrize("key", ["team name", "score-1", "é", "a/b", "x:y"])
def test_tag_keys_outside_the_synapse_pattern_are_refused(key):
    assert check_queue(queue(submissions={"1": {"tags": {key: 1}}})) == [
        SpecProblem(f"tag key {key!r} is not allowed on Synapse {KEY_RULE}", ("submissions", "1", "tags", key))
    ]


@pytest.mark.parametrize("key", ["_accessRequirementIds", "_ACCESSREQUIREMENTIDS"])
def test_reserved_key_is_refused_in_any_case(key):
    assert check_queue(queue(rule("r", {}, {"tags": {key: 1}}))) == [
        SpecProblem(f"tag key {key!r} is reserved by Synapse", ("rules", 0, "set", "tags", key))
    ]


def test_keys_in_where_are_checked_too():
    assert check_queue(queue(rule("r", {"tags": {"bad key": {"exists": True}}}, {"locked": True}))) == [
        SpecProblem(f"tag key 'bad key' is not allowed on Synapse {KEY_RULE}", ("rules", 0, "where", "tags", "bad key"))
    ]


def test_the_lock_key_cannot_be_used_as_a_tag():
    q = replace(
        queue(
            rule("r", {"tags": {"frozen": True}}, {"tags": {"frozen": False}}),
            submissions={"1": {"tags": {"frozen": None}}},
        ),
        lock_key="frozen",
    )
    message = "'frozen' is the lock annotation of this queue; use `locked:`"
    assert check_queue(q) == [
        SpecProblem(message, ("rules", 0, "where", "tags", "frozen")),
        SpecProblem(message, ("rules", 0, "set", "tags", "frozen")),
        SpecProblem(message, ("submissions", "1", "tags", "frozen")),
    ]


@pytest.mark.parametrize(
    "annotation, message",
    [
        ("my lock", f"lock annotation 'my lock' is not a valid Synapse annotation key {KEY_RULE}"),
        ("_accessrequirementids", "lock annotation '_accessrequirementids' is reserved by Synapse"),
    ],
)
def test_the_lock_key_must_be_a_valid_key(annotation, message):
    assert check_queue(replace(queue(), lock_key=annotation)) == [SpecProblem(message, ("lock", "annotation"))]


def test_one_hundred_keys_with_the_lock_key_is_the_limit():
    tags = {f"k{i}": i for i in range(99)}
    assert check_queue(queue(submissions={"1": {"tags": tags}})) == []
    tags["k99"] = 99
    assert check_queue(queue(submissions={"1": {"tags": tags}})) == [
        SpecProblem(
            "up to 101 tag keys on one submission (counting every rule's keys and the lock "
            "annotation); Synapse allows at most 100",
            ("submissions", "1", "tags"),
        )
    ]


def test_rule_keys_count_for_every_entry_and_deletions_do_not():
    q = queue(
        rule("a", {}, {"tags": {f"a{i}": i for i in range(50)}}),
        rule("b", {}, {"tags": {f"b{i}": i for i in range(40)}}),
        submissions={
            "1": {"tags": {f"c{i}": i for i in range(9)} | {"gone": None}},
            "2": {"tags": {f"c{i}": i for i in range(10)}},
        },
    )
    assert check_queue(q) == [
        SpecProblem(
            "up to 101 tag keys on one submission (counting every rule's keys and the lock "
            "annotation); Synapse allows at most 100",
            ("submissions", "2", "tags"),
        )
    ]


def test_rules_alone_exceeding_the_key_limit_are_reported_once_at_the_rule():
    q = queue(
        rule("a", {}, {"tags": {f"a{i}": i for i in range(60)}}),
        rule("b", {}, {"tags": {f"b{i}": i for i in range(60)}}),
        submissions={"1": {"tags": {"x": 1}}},
    )
    assert check_queue(q) == [
        SpecProblem(
            "up to 121 tag keys on one submission (counting every rule's keys and the lock "
            "annotation); Synapse allows at most 100",
            ("rules", 1, "set", "tags"),
        )
    ]


def test_one_hundred_values_per_key_is_the_limit():
    assert check_queue(queue(submissions={"1": {"tags": {"r": list(range(100))}}})) == []
    assert check_queue(queue(submissions={"1": {"tags": {"r": list(range(101))}}})) == [
        SpecProblem("tag 'r' has 101 values; Synapse allows at most 100", ("submissions", "1", "tags", "r"))
    ]


def test_five_hundred_characters_across_a_string_key_is_the_limit():
    assert check_queue(queue(submissions={"1": {"tags": {"n": ["x" * 300, "y" * 200]}}})) == []
    assert check_queue(queue(submissions={"1": {"tags": {"n": ["x" * 300, "y" * 201]}}})) == [
        SpecProblem(
            "tag 'n' has 501 characters of text; Synapse allows at most 500 across a key's values",
            ("submissions", "1", "tags", "n"),
        )
    ]


@pytest.mark.parametrize(
    "values, kinds",
    [
        ([1, 2.5], "float and integer"),
        ([True, 1], "boolean and integer"),
        (["a", 1], "integer and string"),
        ([T1, "2024"], "string and timestamp"),
        ([1.0, False], "boolean and float"),
    ],
)
def test_a_key_holds_one_type(values, kinds):
    assert check_queue(queue(submissions={"1": {"tags": {"m": values}}})) == [
        SpecProblem(
            f"tag 'm' mixes {kinds} values; Synapse stores one type per key (write floats as 1.0, quote strings)",
            ("submissions", "1", "tags", "m"),
        )
    ]


@pytest.mark.parametrize("values", [[1, 2], [1.0, 2.5], [True, False], ["a", "b"], [T1, T1]])
def test_lists_of_one_type_are_fine(values):
    assert check_queue(queue(submissions={"1": {"tags": {"m": values}}})) == []


def test_integers_must_fit_a_java_long():
    assert check_queue(queue(submissions={"1": {"tags": {"n": 2**63 - 1}}})) == []
    assert check_queue(queue(submissions={"1": {"tags": {"n": [1, 2**63]}}})) == [
        SpecProblem("tag 'n' has an integer outside Synapse's 64-bit range", ("submissions", "1", "tags", "n"))
    ]


def test_the_synapse_provider_delegates_to_these_checks():
    from reconciler.providers import provider_class

    q = queue(submissions={"1": {"status": "DONE"}})
    assert provider_class("synapse").check_queue(q) == check_queue(q)
    assert provider_class("local").check_queue(q) == []
