"""What a second round of new users tripped over (issue 27): drift on locked items,
entries for missing ids, `replace: true`, interrupted applies, JSON that says why,
export's output file. One test per complaint, each through the command line."""
from __future__ import annotations

import json

from builders import item, queue, rule
from cli_helpers import run_cli

from reconciler.diff import rediff
from reconciler.store import Store, Update


def edit_live(example, item_id, **changes):
    """Someone edits an item behind reconciler's back (the local store's own write)."""
    store = Store(example.parent / ".reconciler" / "state.db")
    try:
        record = store.get(item_id)
        store.write(record.queue, [Update(id=item_id, etag=record.etag, **changes)])
    finally:
        store.close()


def live(example, item_id):
    store = Store(example.parent / ".reconciler" / "state.db")
    try:
        return store.get(item_id)
    finally:
        store.close()


# ------------------------------------------------------------- 1. drift on locks
def test_a_locked_item_whose_value_moved_away_from_its_entry_is_drift_not_blocked():
    q = queue(submissions={"1": {"tags": {"score": 0.91}, "locked": True}})
    change = rediff(q, item("1", tags={"score": 0.95}, locked=True))
    assert change.drift and change.blocked and change.lock is None


def test_a_spec_changing_an_item_a_rule_froze_is_blocked_not_drift():
    q = queue(rule("freeze", {"ids": ["1"]}, {"locked": True}),
              submissions={"1": {"status": "INVALID"}})
    change = rediff(q, item("1", "SCORED", locked=True))
    assert change.blocked and not change.drift


def test_nightly_drift_check_reports_an_edited_locked_item_as_drift_exit_2(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    checked = run_cli("plan", example, "--detailed-exitcode")
    assert checked.code == 2, checked.out + checked.err
    assert "≠ 9700003  DRIFT: locked item drifted" in checked.out
    assert "replace: true" in checked.out and "--replace" in checked.out
    assert "locked: false" not in checked.out and "error" not in checked.err
    assert "0 blocked, 1 drifted (locked)" in checked.out
    assert run_cli("plan", example).code == 0
    github = run_cli("plan", example, "--format", "github", "--detailed-exitcode")
    assert github.code == 2 and "title=drift on a locked item::" in github.out
    assert "::error" not in github.out


def test_apply_leaves_a_drifted_locked_item_and_says_how_to_restore_it(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    applied = run_cli("apply", example, "--auto-approve")
    assert applied.code == 1
    assert "9700003: locked item drifted" in applied.out and "replace: true" in applied.out
    assert live(example, "9700003").tags["score"] == (0.95,)
    restored = run_cli("apply", example, "--replace", "9700003", "--auto-approve")
    assert restored.code == 0, restored.out + restored.err
    record = live(example, "9700003")
    assert record.tags["score"] == (0.91,) and record.locked
    assert run_cli("plan", example, "--detailed-exitcode").code == 0


def test_drift_survives_the_plan_file(example, tmp_path):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    doc = json.loads(saved.read_text())
    (change,) = [c for q in doc["queues"] for c in q["changes"] if c["id"] == "9700003"]
    assert change["drift"] is True and change["blocked"] is True
    assert doc["summary"]["drift"] == 1 and doc["summary"]["blocked"] == 0
    shown = run_cli("show", saved, "--format", "markdown")
    assert shown.code == 0 and "`9700003` **drift (locked)**" in shown.out


# --------------------------------------------------------- 2. replace: true
def correct_locked_score(example, extra=""):
    """9700002 is frozen by the rule freeze-round-1 (score 0.37 in the seed); a pull
    request corrects its score in a new entry."""
    text = example.read_text().replace(
        '      "9700004": {', '      "9700002": {tags: {score: 0.4}' + extra + '}\n      "9700004": {'
    )
    example.write_text(text)
    return example


def test_a_blocked_change_names_both_ways_to_correct_a_locked_item(example):
    result = run_cli("plan", correct_locked_score(example))
    assert result.code == 1
    assert "add `replace: true` to its entry or pass --replace ID" in result.err
    assert "replace: true" in result.out and "--replace ID" in result.out


def test_replace_true_in_the_entry_corrects_a_locked_item_and_keeps_it_locked(example):
    spec = correct_locked_score(example, ", replace: true")
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert "  ! 9700002  LOCKED: changed under --replace; stays locked" in planned.out
    assert "1 under --replace" in planned.out
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    record = live(example, "9700002")
    assert record.locked and record.tags["score"] == (0.4,)
    assert run_cli("plan", spec, "--detailed-exitcode").code == 0


def test_replace_true_restores_a_drifted_locked_item(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    text = example.read_text().replace("rank: 1}, locked: true}", "rank: 1}, locked: true, replace: true}")
    example.write_text(text)
    assert run_cli("apply", example, "--auto-approve").code == 0
    assert live(example, "9700003").tags["score"] == (0.91,)


def test_replace_is_an_entry_field_not_a_rule_field(example):
    text = example.read_text().replace("set: {locked: true}", "set: {locked: true, replace: true}")
    example.write_text(text)
    result = run_cli("validate", example)
    assert result.code == 1 and "unknown field 'replace'" in result.err
