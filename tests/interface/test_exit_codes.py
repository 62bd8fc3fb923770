"""Exit codes are part of the interface (docs/architecture.md, "Exit codes and bugs"): 0 ok, 2 changes (plan
--detailed-exitcode only), 1 every error, including usage errors, so that a CI gate can
never read a typo or a failure as "changes present"; 3 a bug, never read as a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import run_cli

BLOCKING_ENTRY = '"9700002": {status: INVALID}\n      "9700004": {status: INVALID'


def edit(spec: Path, old: str, new: str) -> Path:
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))
    return spec


def blocking(spec: Path) -> Path:
    return edit(spec, '"9700004": {status: INVALID', BLOCKING_ENTRY)


def strict_safety(spec: Path) -> Path:
    return edit(spec, "max_change_percent: 50", "max_change_percent: 10")


def invalid(spec: Path) -> Path:
    return edit(spec, "version: 1", "version: 2")


def converged(spec: Path) -> Path:
    assert run_cli("apply", spec, "--auto-approve").code == 0
    return spec


def unchanged(spec: Path) -> Path:
    return spec


@pytest.mark.parametrize(
    "prepare, args, code",
    [
        (unchanged, [], 0),
        (unchanged, ["--detailed-exitcode"], 2),
        (converged, [], 0),
        (converged, ["--detailed-exitcode"], 0),
        (blocking, [], 1),
        (blocking, ["--detailed-exitcode"], 1),
        (strict_safety, ["--detailed-exitcode"], 1),
        (strict_safety, ["--detailed-exitcode", "--force"], 2),
        (invalid, [], 1),
        (invalid, ["--detailed-exitcode"], 1),
        (unchanged, ["--detailed-exitcode", "--format", "json"], 2),
        (unchanged, ["--detailed-exitcode", "--format", "markdown"], 2),
        (unchanged, ["--detailed-exitcode", "--format", "github"], 2),
        (unchanged, ["--detailed-exitcode", "--format", "yaml"], 1),
        (unchanged, ["--detailed-exitcode", "--no-such-option"], 1),
    ],
    ids=lambda v: getattr(v, "__name__", " ".join(v) if isinstance(v, list) else str(v)),
)
def test_plan_exit_code(example, prepare, args, code):
    result = run_cli("plan", prepare(example), *args)
    assert result.code == code, result.err


def test_plan_of_a_missing_spec_or_without_one_exits_1(tmp_path):
    assert run_cli("plan", tmp_path / "nope.yaml", "--detailed-exitcode").code == 1
    assert run_cli("plan", "--detailed-exitcode").code == 1


def test_plan_refused_by_the_service_exits_1(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 3)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'version: 1\nprovider: {{type: synapse, endpoint: "{sandbox.url}"}}\nqueues:\n  - id: "9615000"\n')
    result = run_cli("plan", spec, "--detailed-exitcode", env={"SYNAPSE_AUTH_TOKEN": "wrong"})
    assert result.code == 1
    assert result.err.startswith("error: ") and "Traceback" not in result.err


@pytest.mark.parametrize(
    "prepare, args, code",
    [
        (unchanged, [], 0),
        (converged, [], 0),
        (blocking, [], 1),
        (strict_safety, [], 1),
        (strict_safety, ["--force"], 0),
        (invalid, [], 1),
    ],
    ids=lambda v: getattr(v, "__name__", " ".join(v) if isinstance(v, list) else str(v)),
)
def test_apply_spec_exit_code(example, prepare, args, code):
    result = run_cli("apply", prepare(example), "--auto-approve", *args)
    assert result.code == code, result.err


def test_apply_never_exits_2(example):
    """Changes being present is apply's normal case, not a signal."""
    result = run_cli("apply", example, "--auto-approve", "--detailed-exitcode")
    assert result.code == 1
    assert "No such option '--detailed-exitcode'" in result.err


def test_apply_plan_file_exits_0_when_applied_and_1_when_stale(example, tmp_path):
    reviewed, again = tmp_path / "reviewed.json", tmp_path / "again.json"
    assert run_cli("plan", example, "-o", reviewed).code == 0
    assert run_cli("plan", example, "-o", again).code == 0
    assert run_cli("apply", again, "--auto-approve").code == 0
    rejected = edit(example, '"9700004": {status: INVALID', '"9700004": {status: REJECTED')
    assert run_cli("apply", rejected, "--auto-approve").code == 0
    stale = run_cli("apply", reviewed, "--auto-approve")
    assert stale.code == 1
    assert "1 stale" in stale.out


def test_apply_plan_file_that_is_corrupt_or_missing_exits_1(tmp_path):
    corrupt = tmp_path / "plan.json"
    corrupt.write_text('{"format_version": 1')
    assert run_cli("apply", corrupt, "--auto-approve").code == 1
    assert run_cli("apply", tmp_path / "missing.json", "--auto-approve").code == 1


def test_apply_plan_file_with_a_blocked_change_exits_1(example, tmp_path):
    saved = tmp_path / "plan.json"
    # `plan -o` no longer saves a failing plan (issue 27); its JSON document is the same file
    printed = run_cli("plan", blocking(example), "--format", "json")
    assert printed.code == 1
    saved.write_text(printed.out)
    result = run_cli("apply", saved, "--auto-approve")
    assert result.code == 1 and "Nothing was applied" in result.err


@pytest.mark.parametrize(
    "prepare, code", [(unchanged, 0), (blocking, 0), (invalid, 1)], ids=lambda v: getattr(v, "__name__", str(v))
)
@pytest.mark.parametrize("fmt", ["text", "github"])
def test_validate_exit_code(example, prepare, code, fmt):
    """A blocked change needs live data to exist, so validate (offline) accepts it."""
    assert run_cli("validate", "--format", fmt, prepare(example)).code == code


def test_validate_usage_errors_exit_1(example, tmp_path):
    assert run_cli("validate").code == 1
    assert run_cli("validate", "--format", "yaml", example).code == 1  # json exists since issue 27
    assert run_cli("validate", tmp_path / "missing.yaml").code == 1


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "github"])
def test_show_exits_0_for_a_plan_with_changes(example, tmp_path, fmt):
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    assert run_cli("show", saved, "--format", fmt).code == 0


def test_show_exits_1_for_a_corrupt_or_missing_plan_file(tmp_path):
    corrupt = tmp_path / "plan.json"
    corrupt.write_text("[]")
    assert run_cli("show", corrupt).code == 1
    assert run_cli("show", tmp_path / "missing.json").code == 1
    assert run_cli("show").code == 1


def crash_when_listing(monkeypatch, message: str) -> None:
    """A provider with a bug: its listing raises what no provider may let escape."""
    from reconciler.providers.local import LocalProvider

    def listing_with_a_bug(self, queue, progress=None):
        raise RuntimeError(message)

    monkeypatch.setattr(LocalProvider, "list_items", listing_with_a_bug)


def test_a_bug_exits_3_with_one_line_naming_the_log_that_holds_its_traceback(example, tmp_path, monkeypatch):
    """CI must tell a crash from a refused plan (1) or changes (2): a bug is exit 3, one
    line on stderr, nothing on stdout, and the traceback in the user's cache dir."""
    crash_when_listing(monkeypatch, "listing fell over")
    cache = tmp_path / "cache"
    result = run_cli(
        "plan",
        example,
        "--detailed-exitcode",
        env={"XDG_CACHE_HOME": str(cache), "RECONCILER_TEST_MARKER": "marker-7f3a"},
    )
    log = cache / "reconciler" / "reconciler.log"
    assert result.code == 3
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith("error: a bug in reconciler ")
    assert "(RuntimeError: listing fell over)" in result.err
    assert f"the traceback is in {log}; please report it" in result.err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "in listing_with_a_bug" in text and "RuntimeError: listing fell over" in text
    assert "marker-7f3a" not in text  # the environment is never written


def test_a_bugs_log_and_line_never_show_a_credential_from_the_environment(example, tmp_path, monkeypatch):
    crash_when_listing(monkeypatch, "token tok-12345678 in a message")
    result = run_cli("plan", example, env={"XDG_CACHE_HOME": str(tmp_path), "SYNAPSE_AUTH_TOKEN": "tok-12345678"})
    assert result.code == 3
    assert "tok-12345678" not in result.err and "token <redacted> in a message" in result.err
    text = (tmp_path / "reconciler" / "reconciler.log").read_text()
    assert "tok-12345678" not in text and "token <redacted> in a message" in text


def test_a_bugs_traceback_goes_to_a_temporary_file_when_the_cache_dir_cannot_be_written(example, tmp_path, monkeypatch):
    crash_when_listing(monkeypatch, "listing fell over")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    result = run_cli("apply", example, "--auto-approve", env={"XDG_CACHE_HOME": str(not_a_dir)})
    assert result.code == 3
    (log,) = tmp_path.glob("reconciler-*.log")
    assert f"the traceback is in {log}; please report it" in result.err
    assert "RuntimeError: listing fell over" in log.read_text()


def test_help_lists_exit_code_3():
    for command in ((), ("plan",), ("apply",)):
        result = run_cli(*command, "--help")
        assert result.code == 0
        assert "3  a bug in reconciler" in result.out
