"""`reconciler apply` (reconciler/commands/apply.py): the confirmation, --only, a saved plan
gone partly stale, its help. Interrupts while it writes: tests/commands/test_interrupt.py."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli


def test_apply_without_a_terminal_refuses_and_writes_nothing(example):
    result = run_cli("apply", example)
    assert result.code == 1
    assert "refusing to apply without confirmation" in result.err
    assert run_cli("plan", example, "--detailed-exitcode").code == 2


def test_apply_asks_for_yes(example, monkeypatch):
    monkeypatch.setattr("reconciler.commands.apply._confirm", lambda: None)  # a terminal answering yes
    assert run_cli("apply", example).code == 0
    assert run_cli("plan", example, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("answer", ["", "no\n"])
def test_end_of_input_or_no_at_the_prompt_cancels_cleanly(example, monkeypatch, answer):
    monkeypatch.setattr("reconciler.commands.apply.stdin_is_terminal", lambda: True)
    result = run_cli("apply", example, input=answer)  # "": Ctrl-D, end of input
    assert result.code == 1
    assert "error: apply cancelled; nothing was written" in result.err
    assert "Aborted" not in result.err
    assert run_cli("plan", example, "--detailed-exitcode").code == 2


def test_apply_help_documents_only_its_own_exit_codes():
    helped = run_cli("apply", "--help")
    assert helped.code == 0 and "Exit codes" in helped.out
    assert "detailed-exitcode" not in helped.out


def test_apply_only_changes_just_the_named_items(example):
    applied = run_cli("apply", example, "--only", "9700003,9700004", "--auto-approve")
    assert applied.code == 0, applied.err
    assert "9700005" not in applied.out
    assert run_cli("plan", example, "--only", "9700003,9700004", "--detailed-exitcode").code == 0
    assert run_cli("plan", example, "--only", "9700005", "--detailed-exitcode").code == 2


def test_apply_only_refuses_a_plan_file(example, tmp_path):
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", plan_file).code == 0
    result = run_cli("apply", plan_file, "--only", "9700003", "--auto-approve")
    assert result.code == 1
    assert "--only" in result.err and "plan --only" in result.err
    assert run_cli("plan", example, "--detailed-exitcode").code == 2


def test_a_partly_stale_plan_file_says_to_plan_again(example, tmp_path):
    reviewed = tmp_path / "reviewed.json"
    assert run_cli("plan", example, "-o", reviewed).code == 0
    example.write_text(example.read_text().replace('"9700004": {status: INVALID', '"9700004": {status: REJECTED'))
    assert run_cli("apply", example, "--only", "9700004", "--auto-approve").code == 0
    stale = run_cli("apply", reviewed, "--auto-approve")
    assert stale.code == 1 and "1 stale" in stale.out
    assert "run `reconciler plan` again to review the new state of the 1 stale item" in stale.out
    as_json = run_cli("apply", reviewed, "--auto-approve", "--format", "json")
    assert "run `reconciler plan` again" in as_json.err


def test_the_apply_prompt_is_preceded_by_the_target_service(example, tmp_path, monkeypatch):
    monkeypatch.setattr("reconciler.commands.apply.stdin_is_terminal", lambda: True)
    assert run_cli("plan", example, "-o", tmp_path / "plan.json").code == 0
    for target in (example, tmp_path / "plan.json"):
        result = run_cli("apply", target, input="no\n")
        assert result.code == 1
        assert result.out.startswith("Plan for local at local:"), result.out
