"""The command line as a demanding user finds it: flags that say what they do, errors
that name the fix, output that says what it is about (one test per complaint)."""
from __future__ import annotations

from cli_helpers import run_cli


# ------------------------------------------------------------------------ --only
def test_only_an_id_no_queue_has_is_an_error_naming_it(example):
    result = run_cli("plan", example, "--only", "123", "--detailed-exitcode")
    assert result.code == 1, result.out
    assert "error: --only 123: no queue in the spec has an item with this id" in result.err
    assert "No changes" not in result.out


def test_only_accepts_comma_separated_ids(example):
    result = run_cli("plan", example, "--only", "9700003,9700004", "--detailed-exitcode")
    assert result.code == 2, result.err
    assert "9700003" in result.out and "9700004" in result.out and "9700005" not in result.out


def test_only_names_every_id_that_matches_nothing(example):
    result = run_cli("plan", example, "--only", "9700003, 1", "--only", "2")
    assert result.code == 1
    assert "error: --only 1, 2: no queue in the spec has an item with these ids" in result.err
