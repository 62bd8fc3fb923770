"""Every `reconciler …` command line a user can copy (README, docs/ci.md, the CI example
workflows, each command's --help examples) parses with the real CLI, and the workflow
files and the pre-commit hook are well-formed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from cli_helpers import run_cli
from reconciler.cli import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.yml"))
DOCS = [ROOT / "README.md", ROOT / "docs" / "ci.md", ROOT / "docs" / "operations.md"]
GLOBAL_FLAGS = {"-q", "--quiet", "-v", "-vv", "--verbose"}
PLACEHOLDER = re.compile(r"…|\[|\]|\||\b[A-Z]{2,}\b")
SHELL_END = {"|", "||", "&", "&&", ";", ">", ">>", "<", ")", "("}


def command_lines(text: str) -> list[str]:
    """Everything after `reconciler ` up to the end of the shell command or code span."""
    found = []
    for match in re.finditer(r"(?:^|(?<=[\s`/(]))reconciler (?=[a-z-])([^`\n]*)", text):
        rest = match.group(1).replace("\\|", "|")
        rest = re.split(r"\s#\s|\s#$", rest)[0]
        found.append(rest.strip())
    return found


def code_of(markdown: str) -> tuple[list[str], list[str]]:
    """(lines in fenced code blocks, inline code spans) of a markdown file."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", markdown, flags=re.S | re.M)
    return fenced, re.findall(r"`([^`\n]+)`", prose)


def argv_of(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    argv = []
    for token in lexer:
        if token in SHELL_END:
            break
        argv.append(token)
    return argv


def split_global(argv: list[str]) -> tuple[list[str], str, list[str]]:
    position = next(i for i, arg in enumerate(argv) if arg not in GLOBAL_FLAGS)
    return argv[:position], argv[position], argv[position + 1 :]


def assert_parses(argv: list[str]) -> None:
    """The command line is accepted by click exactly as a run would parse it (types,
    choices, required arguments), without running the command."""
    global_args, name, rest = split_global(argv)
    with cli.make_context("reconciler", global_args + [name]) as parent:
        command = cli.get_command(parent, name)
        assert command is not None, f"no command {name!r} in {argv}"
        command.make_context(name, rest, parent=parent).close()


def assert_signature_exists(argv: list[str]) -> None:
    """A synopsis (`plan SPEC… [--format …]`): the command and every option it names exist."""
    _, name, rest = split_global(argv)
    command = cli.commands.get(name)
    assert command is not None, f"no command {name!r} in {argv}"
    known = {opt for param in command.params for opt in param.opts} | GLOBAL_FLAGS | {"-h", "--help"}
    for token in rest:
        for option in re.findall(r"(?:^|[\[|])(--?[a-z][a-z-]*)", token):
            assert option in known, f"{name} has no option {option} ({argv})"


def check(line: str) -> None:
    argv = argv_of(line)
    assert argv, line
    if len(argv) == 1 or PLACEHOLDER.search(line):
        assert_signature_exists(argv)
    else:
        assert_parses(argv)


def doc_lines() -> list[tuple[str, str]]:
    cases = []
    for path in DOCS:
        fenced, inline = code_of(path.read_text())
        for block in fenced:
            cases += [(path.name, line) for line in command_lines(block)]
        for span in inline:
            cases += [(path.name, line) for line in command_lines(span)]
    return cases


def workflow_lines() -> list[tuple[str, str]]:
    cases = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                cases += [(path.name, line) for line in command_lines(step.get("run", ""))]
    return cases


def help_example_lines() -> list[tuple[str, str]]:
    cases = []
    for name, command in cli.commands.items():
        cases += [(name, line) for line in command_lines(command.epilog or "")]
    return cases


@pytest.mark.parametrize("where, line", doc_lines(), ids=lambda v: v)
def test_documented_command_line_parses(where, line, monkeypatch):
    monkeypatch.chdir(ROOT)  # documented paths are relative to the repository
    check(line)


def test_docs_show_every_command_and_the_ci_essentials():
    documented = {split_global(argv_of(line))[1] for _, line in doc_lines()}
    assert documented >= set(cli.commands)
    ci = (ROOT / "docs" / "ci.md").read_text()
    for needle in (
        "--detailed-exitcode",
        "GITHUB_STEP_SUMMARY",
        "<!-- reconciler-plan -->",
        "60,000",
        "stale",
        "reconciler-validate",
        "::error file=…,line=…,col=…::",
    ):
        assert needle in ci


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_yaml_with_steps(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["name"] and workflow[True]  # `on:` is YAML 1.1's true for PyYAML
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step), step


@pytest.mark.parametrize("where, line", workflow_lines(), ids=lambda v: v)
def test_workflow_command_line_parses(where, line):
    check(line)


def test_workflows_cover_plan_comment_apply_and_drift():
    """The workflows run reconciler through the action (action.yml; tests/distribution/test_action.py
    runs its steps): plan with a comment and the plan kept as an artifact, apply of that
    reviewed plan file, and a drift plan whose exit code 2 opens an issue. Updated
    deliberately when the workflows moved their command lines into the action."""

    def action_inputs(name: str) -> list[dict]:
        workflow = yaml.safe_load((ROOT / "examples" / "ci" / name).read_text())
        return [
            s["with"]
            for job in workflow["jobs"].values()
            for s in job["steps"]
            if s.get("uses", "").startswith("OWNER/reconciler@")
        ]

    assert {"command": "plan", "specs": "specs/spec.yaml", "plan-file": "plan.json"}.items() <= action_inputs(
        "plan-on-pull-request.yml"
    )[1].items()
    assert {"command": "apply", "plan-file": "plan.json"}.items() <= action_inputs("apply-on-merge.yml")[0].items()
    assert {"command": "plan", "format": "github"}.items() <= action_inputs("drift-check.yml")[0].items()
    pr = (ROOT / "examples" / "ci" / "plan-on-pull-request.yml").read_text()
    assert "upload-artifact" in pr and "steps.plan.outputs.plan-file" in pr
    assert "steps.plan.outputs.exit-code == '2'" in (ROOT / "examples" / "ci" / "drift-check.yml").read_text()
    action = (ROOT / "action.yml").read_text()
    for needle in ("--detailed-exitcode", "<!-- reconciler-plan -->", "--auto-approve", "GITHUB_STEP_SUMMARY"):
        assert needle in action


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_examples(name):
    helped = run_cli(name, "--help")
    assert helped.code == 0
    assert re.search(r"^\s*Examples?:", helped.out, flags=re.M), helped.out
    assert f"reconciler {name}" in helped.out


@pytest.mark.parametrize("name, line", help_example_lines(), ids=lambda v: v)
def test_help_example_parses(name, line, monkeypatch):
    monkeypatch.chdir(ROOT)
    check(line)


def test_pre_commit_hook_runs_validate():
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconciler-validate"
    assert hook["entry"] == "reconciler validate" and hook["language"] == "python"
    assert re.search(hook["files"], "specs/spec.yaml") and re.search(hook["files"], "a.yml")
    assert not re.search(hook["files"], "README.md")
    assert_parses(hook["entry"].split()[1:] + ["specs/spec.yaml"])


def test_bash_completion_script_is_generated():
    env = {**os.environ, "_RECONCILER_COMPLETE": "bash_source"}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0
    assert "complete -o nosort -F _reconciler_completion reconciler" in done.stdout


def test_parse_check_rejects_what_the_cli_rejects():
    with pytest.raises(click.UsageError):
        assert_parses(["plan", "spec.yaml", "--format", "yaml"])
    with pytest.raises(click.UsageError):
        assert_parses(["apply"])
    with pytest.raises(AssertionError):
        assert_signature_exists(["plan", "SPEC", "[--no-such-option]"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_that_apply_keep_one_concurrency_group(path):
    """The run lock keeps two runs apart on one machine only; CI runners are many
    machines, so a workflow that applies serialises its runs itself (docs/semantics.md
    "Two runs at once")."""
    doc = yaml.safe_load(path.read_text())
    if any("reconciler apply" in str(step.get("run", "")) for job in doc["jobs"].values() for step in job["steps"]):
        assert doc.get("concurrency", {}).get("cancel-in-progress") is False
        assert doc["concurrency"].get("group")
