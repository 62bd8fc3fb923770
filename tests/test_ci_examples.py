"""The CI examples and the pre-commit hook parse and only call commands that exist."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cli_helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.yml"))


def reconciler_commands(text: str) -> set[str]:
    return set(re.findall(r"reconciler (?:-q )?(validate|plan|apply|show|schema|serve|export)\b", text))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_yaml_and_uses_real_commands(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["jobs"]
    commands = reconciler_commands(path.read_text())
    assert commands
    for command in commands:
        assert run_cli(command, "--help").code == 0


def test_pre_commit_hook_runs_validate():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconciler-validate"
    assert hook["entry"] == "reconciler validate" and hook["language"] == "python"


def test_validate_with_github_format_annotates_errors(tmp_path):
    bad = tmp_path / "spec.yaml"
    bad.write_text("version: 1\nqueues:\n  - id: '1'\n    bogus: true\n")
    result = run_cli("validate", "--format", "github", bad)
    assert result.code == 1
    assert result.out.startswith(f"::error file={bad},line=4,col=5::")
