"""Resolution: rules and explicit entries → Desired, fixpoint, cycles, static oscillations."""

from __future__ import annotations

import pytest
from builders import item, queue, rule, src

from reconciler.errors import UserError
from reconciler.model import Desired, Setting
from reconciler.resolve import CompiledQueue, CycleError, find_oscillations


def values(desired: Desired) -> dict:
    """The desired fields as {field: value}, for compact assertions."""
    out = {}
    if desired.status is not None:
        out["status"] = desired.status.value
    if desired.locked is not None:
        out["locked"] = desired.locked.value
    for key, setting in desired.tags.items():
        out[f"tags.{key}"] = setting.value
    return out


def sources(desired: Desired) -> dict:
    out = {}
    if desired.status is not None:
        out["status"] = desired.status.source
    if desired.locked is not None:
        out["locked"] = desired.locked.source
    for key, setting in desired.tags.items():
        out[f"tags.{key}"] = setting.source
    return out


# ------------------------------------------------------------------ matching
def test_nothing_applies_gives_an_empty_desired():
    q = queue(rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}))
    assert CompiledQueue(q).resolve(item("1", "RECEIVED", tags={"team": "owls"})) == Desired("1")


def test_empty_where_matches_every_item():
    q = queue(rule("tag-all", {}, {"tags": {"round": 1}}))
    assert values(CompiledQueue(q).resolve(item("1", "SCORED", locked=True))) == {"tags.round": (1,)}


def test_every_given_part_of_where_must_hold():
    q = queue(rule("accept", {"status": "VALIDATED", "locked": False}, {"status": "ACCEPTED"}))
    assert values(CompiledQueue(q).resolve(item("1", "VALIDATED"))) == {"status": "ACCEPTED"}
    assert values(CompiledQueue(q).resolve(item("2", "VALIDATED", locked=True))) == {}
    assert values(CompiledQueue(q).resolve(item("3", "RECEIVED"))) == {}


def test_where_status_list_matches_any_listed_status():
    q = queue(rule("close", {"status": ["SCORED", "INVALID"]}, {"tags": {"closed": True}}))
    assert values(CompiledQueue(q).resolve(item("1", "INVALID"))) == {"tags.closed": (True,)}
    assert values(CompiledQueue(q).resolve(item("2", "SCORED"))) == {"tags.closed": (True,)}
    assert values(CompiledQueue(q).resolve(item("3", "RECEIVED"))) == {}


def test_where_ids_matches_only_listed_items():
    q = queue(rule("freeze", {"ids": ["9700001", "9700002"]}, {"locked": True}))
    assert values(CompiledQueue(q).resolve(item("9700002"))) == {"locked": True}
    assert values(CompiledQueue(q).resolve(item("9700003"))) == {}


def test_where_tag_exists_tests_presence_only():
    q = queue(
        rule("has-score", {"tags": {"score": {"exists": True}}}, {"tags": {"scored": True}}),
        rule("no-score", {"tags": {"score": {"exists": False}}}, {"tags": {"scored": False}}),
    )
    assert values(CompiledQueue(q).resolve(item("1", tags={"score": 0}))) == {"tags.scored": (True,)}
    assert values(CompiledQueue(q).resolve(item("2"))) == {"tags.scored": (False,)}


def test_where_locked_matches_the_lock_flag():
    q = queue(rule("note-frozen", {"locked": True}, {"tags": {"frozen": True}}))
    assert values(CompiledQueue(q).resolve(item("1", locked=True))) == {"tags.frozen": (True,)}
    assert values(CompiledQueue(q).resolve(item("2"))) == {}


def test_where_locked_sees_a_lock_set_earlier_in_the_same_pass():
    q = queue(
        rule("freeze", {"ids": ["1"]}, {"locked": True}, line=5),
        rule("note-frozen", {"locked": True}, {"tags": {"frozen": True}}, line=9),
    )
    assert values(CompiledQueue(q).resolve(item("1"))) == {"locked": True, "tags.frozen": (True,)}


# ---------------------------------------------------------------- precedence
def test_later_rules_override_earlier_ones_field_by_field():
    q = queue(
        rule("first", {}, {"status": "ACCEPTED", "tags": {"a": 1}}, line=5),
        rule("second", {}, {"status": "SCORED"}, line=9),
    )
    desired = CompiledQueue(q).resolve(item("1"))
    assert values(desired) == {"status": "SCORED", "tags.a": (1,)}
    assert sources(desired) == {"status": src(9, "second"), "tags.a": src(5, "first")}


def test_later_rules_see_earlier_rules_effects_in_the_same_pass():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=5),
        rule("queue-for-scoring", {"status": "ACCEPTED"}, {"tags": {"needs_scoring": True}}, line=9),
    )
    desired = CompiledQueue(q).resolve(item("1", "VALIDATED"))
    assert values(desired) == {"status": "ACCEPTED", "tags.needs_scoring": (True,)}


def test_a_rule_enabled_by_a_later_rule_applies_in_the_next_pass():
    q = queue(
        rule("queue-for-scoring", {"status": "ACCEPTED"}, {"tags": {"needs_scoring": True}}, line=5),
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=9),
    )
    desired = CompiledQueue(q).resolve(item("1", "VALIDATED"))
    assert values(desired) == {"status": "ACCEPTED", "tags.needs_scoring": (True,)}
    assert sources(desired) == {
        "status": src(9, "accept"),
        "tags.needs_scoring": src(5, "queue-for-scoring"),
    }


def test_a_chain_against_rule_order_settles_at_its_end():
    q = queue(
        rule("c-to-d", {"status": "C"}, {"status": "D"}, line=5),
        rule("b-to-c", {"status": "B"}, {"status": "C"}, line=9),
        rule("a-to-b", {"status": "A"}, {"status": "B"}, line=13),
    )
    desired = CompiledQueue(q).resolve(item("1", "A"))
    assert values(desired) == {"status": "D"}
    assert sources(desired) == {"status": src(5, "c-to-d")}


def test_explicit_entry_overrides_every_rule():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED", "tags": {"note": "ok"}}, line=5),
        submissions={"1": {"status": "INVALID", "tags": {"reason": "wrong format"}}},
        entry_line=20,
    )
    desired = CompiledQueue(q).resolve(item("1", "VALIDATED"))
    assert values(desired) == {"status": "INVALID", "tags.note": ("ok",), "tags.reason": ("wrong format",)}
    assert sources(desired) == {"status": src(20), "tags.note": src(5, "accept"), "tags.reason": src(20)}


def test_explicit_entry_applies_when_no_rule_matches():
    q = queue(submissions={"7": {"tags": {"score": 0.91}, "locked": True}})
    assert values(CompiledQueue(q).resolve(item("7"))) == {"tags.score": (0.91,), "locked": True}
    assert values(CompiledQueue(q).resolve(item("8"))) == {}


def test_explicit_entry_is_seen_by_rules_in_the_next_pass():
    q = queue(
        rule("flag-invalid", {"status": "INVALID"}, {"tags": {"visible": False}}, line=5),
        submissions={"1": {"status": "INVALID"}},
    )
    assert values(CompiledQueue(q).resolve(item("1", "SCORED"))) == {"status": "INVALID", "tags.visible": (False,)}


class _CountingPasses(CompiledQueue):
    passes = 0

    def _pass(self, *args):  # type: ignore[no-untyped-def]
        self.passes += 1
        return super()._pass(*args)


@pytest.mark.parametrize(
    ("rules", "policy", "passes", "expected"),
    [
        # no rule can match SCORED: the entry alone would apply again, one pass
        ([rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"})], "merge", 1, {"status": "SCORED"}),
        ([], "merge", 1, {"status": "SCORED"}),
        # a rule for SCORED, or exact: the confirming pass runs (a rule for any status
        # reads no status, so one pass, as before)
        (
            [rule("close", {"status": "SCORED"}, {"tags": {"closed": True}})],
            "merge",
            2,
            {"status": "SCORED", "tags.closed": (True,)},
        ),
        ([rule("all", {}, {"tags": {"seen": True}})], "merge", 1, {"status": "SCORED", "tags.seen": (True,)}),
        ([rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"})], "exact", 2, {"status": "SCORED"}),
    ],
)
def test_a_pass_after_which_no_rule_can_match_is_the_last(rules, policy, passes, expected):
    """An entry's item whose status leaves every rule's `where: {status: …}` settles in
    one pass (a plan of 100,000 entries took two an item), with what two give."""
    q = queue(*rules, submissions={"1": {"status": "SCORED"}}, policy=policy)
    counted = _CountingPasses(q)
    assert values(counted.resolve(item("1", "VALIDATED"))) == expected
    assert counted.passes == passes


def test_null_deletes_a_tag():
    q = queue(submissions={"1": {"tags": {"score": None}}})
    desired = CompiledQueue(q).resolve(item("1", tags={"score": 0.2}))
    assert desired.tags == {"score": Setting(None, src(100))}


def test_null_then_value_keeps_the_later_value():
    q = queue(
        rule("clear", {}, {"tags": {"score": None}}, line=5),
        rule("restore", {}, {"tags": {"score": 0}}, line=9),
    )
    assert values(CompiledQueue(q).resolve(item("1", tags={"score": 1}))) == {"tags.score": (0,)}


# --------------------------------------------------------------- tag policy
def test_merge_policy_leaves_undeclared_tags_alone():
    q = queue(rule("tag", {}, {"tags": {"round": 2}}), policy="merge")
    assert values(CompiledQueue(q).resolve(item("1", tags={"team": "owls"}))) == {"tags.round": (2,)}


def test_exact_policy_deletes_undeclared_tags_with_the_queue_as_source():
    q = queue(rule("tag", {}, {"tags": {"round": 2}}, line=5), policy="exact")
    desired = CompiledQueue(q).resolve(item("1", tags={"team": "owls", "round": 1}))
    assert desired.tags == {
        "round": Setting((2,), src(5, "tag")),
        "team": Setting(None, q.source),
    }


def test_exact_policy_keeps_tags_matching_an_ignore_glob():
    q = queue(policy="exact", ignore=("pipeline_*", "note"))
    live = item("1", tags={"pipeline_run": 3, "note": "x", "notes": "y", "Pipeline_x": 1})
    assert values(CompiledQueue(q).resolve(live)) == {"tags.notes": None, "tags.Pipeline_x": None}


def test_exact_policy_without_undeclared_tags_changes_nothing():
    q = queue(policy="exact", ignore=("pipeline_*",))
    assert CompiledQueue(q).resolve(item("1", tags={"pipeline_run": 3})) == Desired("1")


def test_exact_policy_keeps_only_tags_set_in_the_settled_state():
    # `accept` sets `accepted_by` in the first pass but no longer matches once the item
    # is ACCEPTED, so under exact nobody declares the key any more and it goes.
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED", "tags": {"accepted_by": "bot"}}),
        policy="exact",
    )
    assert values(CompiledQueue(q).resolve(item("1", "VALIDATED"))) == {"status": "ACCEPTED", "tags.accepted_by": None}


def test_exact_policy_deletion_can_enable_a_rule():
    q = queue(
        rule("unscored", {"tags": {"score": {"exists": False}}}, {"tags": {"needs_scoring": True}}, line=5),
        policy="exact",
    )
    desired = CompiledQueue(q).resolve(item("1", tags={"score": 0.3}))
    assert values(desired) == {"tags.score": None, "tags.needs_scoring": (True,)}


def test_one_compiled_queue_resolves_each_item_as_a_fresh_one_does():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}),
        submissions={"2": {"tags": {"x": 1}}},
        policy="exact",
    )
    compiled = CompiledQueue(q)
    for live in (item("1", "VALIDATED"), item("2", tags={"y": 1}), item("3")):
        assert compiled.resolve(live) == CompiledQueue(q).resolve(live)


# ------------------------------------------------------------------- cycles
def test_cycle_names_the_rules_that_keep_changing_the_item_in_firing_order():
    q = queue(
        rule("x-to-t", {"status": "X"}, {"status": "T"}, line=5),
        rule("y-to-x", {"status": "Y"}, {"status": "X"}, line=9),
        rule("t-to-y", {"status": "T"}, {"status": "Y"}, line=13),
        rule("bystander", {}, {"tags": {"seen": True}}, line=17),
    )
    with pytest.raises(CycleError) as exc:
        CompiledQueue(q).resolve(item("9700001", "X"))
    # The cycle starts at the first state that comes back: Y (with `seen` set).
    assert str(exc.value) == (
        "item 9700001: rules cycle: y-to-x (spec.yaml:9) → x-to-t (spec.yaml:5) → t-to-y (spec.yaml:13)"
    )
    assert isinstance(exc.value, UserError)


def test_cycle_through_exact_deletion_names_the_tag_policy():
    q = queue(
        rule("init-reviewed", {"tags": {"reviewed": {"exists": False}}}, {"tags": {"reviewed": True}}, line=7),
        policy="exact",
    )
    with pytest.raises(CycleError) as exc:
        CompiledQueue(q).resolve(item("9700001"))
    assert str(exc.value) == (
        "item 9700001: rules cycle: init-reviewed (spec.yaml:7) → tags.policy exact (spec.yaml:3)"
    )


def test_pairwise_oscillating_rules_settle_at_runtime_on_the_later_rule():
    # `validate` rejects this spec (find_oscillations); resolution itself still settles,
    # because within one pass the later rule sees and overrides the earlier one.
    q = queue(
        rule("accept-validated", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=9),
        rule("back-to-validated", {"status": "ACCEPTED"}, {"status": "VALIDATED"}, line=13),
    )
    assert values(CompiledQueue(q).resolve(item("1", "ACCEPTED"))) == {"status": "VALIDATED"}
    assert values(CompiledQueue(q).resolve(item("2", "VALIDATED"))) == {"status": "VALIDATED"}


def counter_rules(bits: int) -> list:
    """A binary counter that steps once every two passes: settles only after
    2 * (2**bits - 1) passes, which a handful of rules should never need."""
    rules = []
    for i in reversed(range(bits)):
        where = {"done": {"exists": False}, f"bit{i}": {"exists": False}}
        where.update({f"bit{j}": {"exists": True} for j in range(i)})
        sets = {"done": True, f"bit{i}": 1, **{f"bit{j}": None for j in range(i)}}
        rules.append(rule(f"bit{i}", {"tags": where}, {"tags": sets}, line=10 + i))
    return rules


def test_rules_that_do_not_settle_within_the_pass_limit_are_an_error():
    q = queue(*counter_rules(5), policy="exact", ignore=("bit*",))
    with pytest.raises(CycleError) as exc:
        CompiledQueue(q).resolve(item("5"))
    assert str(exc.value) == (
        "item 5: rules do not settle after 26 passes: tags.policy exact (spec.yaml:3) → "
        "bit1 (spec.yaml:11) → bit0 (spec.yaml:10) → bit2 (spec.yaml:12) → bit3 (spec.yaml:13)"
    )


def test_a_long_but_finite_chain_is_not_a_cycle():
    q = queue(*counter_rules(3), policy="exact", ignore=("bit*",))
    assert values(CompiledQueue(q).resolve(item("5"))) == {
        "tags.bit0": (1,),
        "tags.bit1": (1,),
        "tags.bit2": (1,),
        "tags.done": None,
    }


# ------------------------------------------------------ static oscillations
def messages(q) -> list[str]:
    return [str(e) for e in find_oscillations(q)]


def test_status_flip_flop_is_reported_at_the_later_rule():
    q = queue(
        rule("accept-validated", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=9),
        rule("back-to-validated", {"status": "ACCEPTED"}, {"status": "VALIDATED"}, line=13),
    )
    [problem] = find_oscillations(q)
    assert (problem.file, problem.line, problem.column) == ("spec.yaml", 13, None)
    assert str(problem) == (
        "spec.yaml:13: rules 'accept-validated' (spec.yaml:9) and 'back-to-validated' "
        "(spec.yaml:13) can oscillate: each one's `set` re-enables the other's `where`"
    )


def test_tag_flip_flop_is_reported():
    q = queue(
        rule("a", {"tags": {"phase": 1}}, {"tags": {"phase": 2}}, line=5),
        rule("b", {"tags": {"phase": 2}}, {"tags": {"phase": 1}}, line=9),
    )
    assert messages(q) == [
        "spec.yaml:9: rules 'a' (spec.yaml:5) and 'b' (spec.yaml:9) can oscillate: "
        "each one's `set` re-enables the other's `where`"
    ]


def test_tag_presence_flip_flop_is_reported():
    q = queue(
        rule("add", {"tags": {"flag": {"exists": False}}}, {"tags": {"flag": True}}, line=5),
        rule("remove", {"tags": {"flag": {"exists": True}}}, {"tags": {"flag": None}}, line=9),
    )
    assert len(messages(q)) == 1


def test_lock_flip_flop_is_reported():
    q = queue(
        rule("lock", {"locked": False}, {"locked": True}, line=5),
        rule("unlock", {"locked": True}, {"locked": False}, line=9),
    )
    assert messages(q) == [
        "spec.yaml:9: rules 'lock' (spec.yaml:5) and 'unlock' (spec.yaml:9) can oscillate: "
        "each one's `set` re-enables the other's `where`"
    ]


def test_oscillation_through_different_fields_is_reported():
    q = queue(
        rule("a", {"status": "OPEN"}, {"status": "CLOSED", "tags": {"k": 1}}, line=5),
        rule("b", {"tags": {"k": 1}}, {"status": "OPEN", "tags": {"k": 2}}, line=9),
    )
    assert len(messages(q)) == 1


def test_plain_override_is_not_an_oscillation():
    q = queue(
        rule("accept-all", {}, {"status": "ACCEPTED"}, line=5),
        rule("reject-flagged", {"tags": {"flagged": True}}, {"status": "REJECTED"}, line=9),
        rule("reopen-accepted", {"status": "ACCEPTED"}, {"status": "OPEN"}, line=13),
    )
    assert messages(q) == []


def test_one_way_enabling_is_not_an_oscillation():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=5),
        rule("score", {"status": "ACCEPTED"}, {"status": "SCORED"}, line=9),
    )
    assert messages(q) == []


def test_rules_whose_sets_agree_do_not_oscillate():
    q = queue(
        rule("a", {"status": "X"}, {"tags": {"k": 1}}, line=5),
        rule("b", {"tags": {"k": 1}}, {"status": "X"}, line=9),
    )
    assert messages(q) == []


def test_a_set_contradicting_the_other_where_does_not_enable_it():
    q = queue(
        rule("a", {"status": "X", "locked": False}, {"status": "Y", "locked": True}, line=5),
        rule("b", {"status": "Y", "locked": False}, {"status": "X"}, line=9),
    )
    assert messages(q) == []


def test_rules_for_disjoint_ids_do_not_oscillate():
    q = queue(
        rule("a", {"ids": ["1"], "status": "X"}, {"status": "Y"}, line=5),
        rule("b", {"ids": ["2"], "status": "Y"}, {"status": "X"}, line=9),
    )
    assert messages(q) == []


def test_explicit_entries_are_not_checked_for_oscillation():
    q = queue(
        rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"}, line=5),
        submissions={"1": {"status": "VALIDATED"}},
    )
    assert messages(q) == []


def test_each_oscillating_pair_is_reported_once_in_spec_order():
    q = queue(
        rule("a", {"status": "X"}, {"status": "Y"}, line=5),
        rule("b", {"status": "Y"}, {"status": "X"}, line=9),
        rule("c", {"status": "Y"}, {"status": "X"}, line=13),
    )
    assert [(e.line, e.message.split(" can")[0]) for e in find_oscillations(q)] == [
        (9, "rules 'a' (spec.yaml:5) and 'b' (spec.yaml:9)"),
        (13, "rules 'a' (spec.yaml:5) and 'c' (spec.yaml:13)"),
    ]


def test_exact_rule_adding_a_tag_it_requires_absent_is_reported():
    q = queue(
        rule("init-reviewed", {"tags": {"reviewed": {"exists": False}}}, {"tags": {"reviewed": True}}, line=7),
        policy="exact",
    )
    assert messages(q) == [
        "spec.yaml:7: rule 'init-reviewed' (spec.yaml:7) can oscillate under "
        "`tags.policy: exact`: its `set` adds tag 'reviewed' that its own `where` requires "
        "absent, and exact deletes it once the rule stops matching"
    ]


def test_merge_rule_adding_a_tag_it_requires_absent_is_fine():
    q = queue(
        rule("init-reviewed", {"tags": {"reviewed": {"exists": False}}}, {"tags": {"reviewed": True}}, line=7),
    )
    assert messages(q) == []
    assert values(CompiledQueue(q).resolve(item("1"))) == {"tags.reviewed": (True,)}


def test_exact_rule_adding_an_ignored_tag_it_requires_absent_is_fine():
    q = queue(
        rule("init", {"tags": {"pipeline_x": {"exists": False}}}, {"tags": {"pipeline_x": 1}}, line=7),
        policy="exact",
        ignore=("pipeline_*",),
    )
    assert messages(q) == []
    assert values(CompiledQueue(q).resolve(item("1"))) == {"tags.pipeline_x": (1,)}
