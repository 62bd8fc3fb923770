"""The command line end to end on the embedded local backend."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys

import pytest

from cli_helpers import run_cli
from reconciler import __version__


def test_example_plan_apply_plan_cycle(example):
    first = run_cli("plan", example, "--detailed-exitcode")
    assert first.code == 2, first.err
    assert "9700003" in first.out and "Plan:" in first.out

    applied = run_cli("apply", example, "--auto-approve")
    assert applied.code == 0, applied.err
    assert "Apply complete" in applied.out

    second = run_cli("plan", example, "--detailed-exitcode")
    assert second.code == 0, second.err
    assert "No changes" in second.out


def test_saved_plan_is_shown_and_applied_exactly(example, tmp_path):
    plan_file = tmp_path / "plan.json"
    saved = run_cli("plan", example, "-o", plan_file)
    assert saved.code == 0 and plan_file.exists()
    shown = run_cli("show", plan_file)
    assert shown.code == 0 and "9700003" in shown.out
    applied = run_cli("apply", plan_file, "--auto-approve")
    assert applied.code == 0, applied.err
    assert run_cli("plan", example, "--detailed-exitcode").code == 0


def test_json_format_prints_only_the_plan_document(example):
    result = run_cli("plan", example, "--format", "json")
    assert result.code == 0
    document = json.loads(result.out)
    assert document["format_version"] == 1
    assert document["summary"]["change"] > 0


def test_invalid_spec_is_one_located_line_and_exit_1(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues:\n  - id: '1'\n    bogus: true\n")
    result = run_cli("plan", bad)
    assert result.code == 1
    assert result.out == ""
    assert result.err.startswith(f"error: {bad}:4:5: ")
    assert "Traceback" not in result.err


def test_safety_limit_fails_plan_unless_forced(example):
    text = example.read_text().replace("max_change_percent: 50", "max_change_percent: 10")
    example.write_text(text)
    failed = run_cli("plan", example)
    assert failed.code == 1
    assert "max_change_percent 10%" in failed.err and "--force" in failed.err
    assert run_cli("plan", example, "--force").code == 0
    refused = run_cli("apply", example, "--auto-approve")
    assert refused.code == 1 and "Nothing was applied" in refused.err


def test_blocked_change_fails_plan_and_apply(example):
    text = example.read_text().replace(
        '"9700004": {status: INVALID',
        '"9700002": {status: INVALID}\n      "9700004": {status: INVALID',
    )
    example.write_text(text)
    plan = run_cli("plan", example)
    assert plan.code == 1 and "blocked by locks (9700002)" in plan.err
    apply = run_cli("apply", example, "--auto-approve")
    assert apply.code == 1 and "Nothing was applied" in apply.err


def test_validate_reports_ok_offline(example):
    result = run_cli("validate", example)
    assert result.code == 0
    assert "valid (2 queue(s)" in result.out
    assert not (example.parent / ".reconciler").exists()  # nothing was opened or created


def test_usage_errors_exit_1_not_2(example):
    assert run_cli("plan").code == 1
    assert run_cli("plan", example, "--format", "yaml").code == 1


def test_version_and_help():
    assert run_cli("--version").out.strip().endswith(__version__)
    helped = run_cli("plan", "--help")
    assert helped.code == 0 and "--detailed-exitcode" in helped.out and "Exit codes" in helped.out


def test_schema_command_prints_the_spec_schema():
    result = run_cli("schema")
    assert json.loads(result.out)["$schema"].startswith("https://json-schema.org/draft/2020-12")


def test_console_script_smoke(example):
    """The installed entry point (or `python -m reconciler`) runs outside the test process."""
    exe = shutil.which("reconciler", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "reconciler"]
    done = subprocess.run(
        cmd + ["plan", str(example), "--detailed-exitcode"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Plan:" in done.stdout
    version = subprocess.run(
        [sys.executable, "-m", "reconciler", "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and __version__ in version.stdout


def test_the_command_exits_with_mains_code_without_the_last_collection(monkeypatch, example):
    """`run` (the console script) ends like `sys.exit(main())` but freezes the heap first,
    so the interpreter's exit does not walk every object once more."""
    from reconciler.cli import run

    monkeypatch.setattr(sys, "argv", ["reconciler", "-q", "plan", str(example), "--detailed-exitcode"])
    try:
        with pytest.raises(SystemExit) as exc:
            run()
        assert exc.value.code == 2
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
