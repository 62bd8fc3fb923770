"""`--format github`: annotations on stdout, the markdown plan in $GITHUB_STEP_SUMMARY,
and the same exit codes as every other format."""

from __future__ import annotations


import pytest

from cli_helpers import run_cli


def test_plan_appends_the_markdown_plan_to_the_step_summary(example, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    markdown = run_cli("plan", example, "--format", "markdown").out
    result = run_cli("plan", example, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.code == 0, result.err
    assert summary.read_text() == "earlier step\n" + markdown
    assert result.out.startswith("::notice title=reconciler plan::Plan: 11 to change")
    again = run_cli(
        "plan", example, "--format", "github", "--detailed-exitcode", env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert again.code == 2
    assert summary.read_text() == "earlier step\n" + markdown + markdown


def test_show_writes_the_step_summary_too(example, tmp_path):
    saved, summary = tmp_path / "plan.json", tmp_path / "summary.md"
    assert run_cli("plan", example, "-o", saved).code == 0
    assert run_cli("show", saved, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)}).code == 0
    assert summary.read_text() == run_cli("show", saved, "--format", "markdown").out


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_other_formats_leave_the_step_summary_alone(example, tmp_path, fmt):
    summary = tmp_path / "summary.md"
    assert run_cli("plan", example, "--format", fmt, env={"GITHUB_STEP_SUMMARY": str(summary)}).code == 0
    assert not summary.exists()


def test_no_step_summary_outside_actions(example):
    result = run_cli("plan", example, "--format", "github", env={"GITHUB_STEP_SUMMARY": None})
    assert result.code == 0
    assert result.out.startswith("::notice ")


def test_unwritable_step_summary_is_one_line_and_exit_1(example, tmp_path):
    target = tmp_path / "missing" / "summary.md"
    result = run_cli("plan", example, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(target)})
    assert result.code == 1
    assert result.err == (f"error: GITHUB_STEP_SUMMARY {target}: cannot append the plan: No such file or directory\n")


def test_invalid_spec_under_plan_github_is_annotated_at_file_line_col(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues:\n  - id: '1'\n    bogus: true\n    tags: {policy: lax}\n")
    result = run_cli("plan", "--format", "github", bad, "--detailed-exitcode")
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == (
        f"::error file={bad},line=4,col=5::unknown field 'bogus' "
        "(allowed: id, include, lock, rules, safety, submissions, tags)"
    )
    assert lines[1] == f"::error file={bad},line=5,col=20::expected 'merge' or 'exact', got 'lax'"
    assert len(lines) == 2
    assert result.err.startswith(f"error: {bad}:4:5: unknown field 'bogus'")


def test_yaml_syntax_error_under_plan_github_is_annotated(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues: [\n")
    result = run_cli("plan", "--format", "github", bad)
    assert result.code == 1
    assert result.out.startswith(f"::error file={bad},line=")


def test_provider_error_under_plan_github_is_an_unplaced_annotation(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 1)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'version: 1\nprovider: {{type: synapse, endpoint: "{sandbox.url}"}}\nqueues:\n  - id: "9615000"\n')
    result = run_cli("plan", "--format", "github", spec, env={"SYNAPSE_AUTH_TOKEN": "wrong"})
    assert result.code == 1
    assert result.out.startswith("::error::") and result.out.count("\n") == 1
    assert result.err == "error: " + result.out[len("::error::") :]
    assert "wrong" not in result.out


def test_errors_under_plan_text_stay_off_stdout(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues:\n  - id: '1'\n    bogus: true\n")
    result = run_cli("plan", bad)
    assert result.code == 1 and result.out == ""


def test_safety_limit_under_plan_github_is_an_error_annotation(example):
    text = example.read_text().replace("max_change_percent: 50", "max_change_percent: 10")
    example.write_text(text)
    result = run_cli("plan", example, "--format", "github")
    assert result.code == 1
    assert result.out.splitlines()[-1] == (
        "::error title=safety limit::queue 9615000: 9 of 20 items would change (45.0%25), "
        "more than max_change_percent 10%25"  # % escaped by GitHub's rules
    )
    forced = run_cli("plan", example, "--format", "github", "--force")
    assert forced.code == 0 and "::error" not in forced.out


def test_unwritable_plan_file_under_plan_github_is_annotated(example, tmp_path):
    target = tmp_path / "missing" / "plan.json"
    result = run_cli("plan", example, "--format", "github", "-o", target)
    assert result.code == 1
    assert result.out.splitlines()[-1] == (f"::error::{target}: cannot write the plan file: No such file or directory")


def test_validate_with_github_format_annotates_errors(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues:\n  - id: '1'\n    bogus: true\n")
    result = run_cli("validate", "--format", "github", bad)
    assert result.code == 1
    assert result.out.startswith(f"::error file={bad},line=4,col=5::unknown field 'bogus'")
    assert result.err.startswith(f"error: {bad}:4:5: unknown field 'bogus'")
