"""The CWL tools (cwl/plan.cwl, cwl/apply.cwl) and the pipeline example wiring a scoring
step's results.json to apply: valid CWL by `cwltool --validate`, and run by cwltool
(no container) against the Synapse sandbox."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from end_to_end.test_synapse import QUEUE, read_status

ROOT = Path(__file__).resolve().parents[2]
CWL = ROOT / "cwl"
DOCUMENTS = [CWL / "plan.cwl", CWL / "apply.cwl", CWL / "examples" / "score-and-apply.cwl"]


def cwltool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "cwltool"), "--quiet", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # cwltool's start alone is 1-2 s
@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_cwl_validates(path, tmp_path):
    done = cwltool("--validate", str(path), cwd=tmp_path)
    assert done.returncode == 0 and "is valid CWL" in done.stdout, done.stdout + done.stderr


def test_tools_run_reconciler_as_the_docs_say():
    plan, apply = (yaml.safe_load((CWL / name).read_text()) for name in ("plan.cwl", "apply.cwl"))
    assert plan["class"] == apply["class"] == "CommandLineTool"
    assert plan["baseCommand"] == ["reconciler", "-q", "plan", "--detailed-exitcode"]
    assert plan["successCodes"] == [0, 2]  # changes present is a plan's success
    assert apply["baseCommand"] == ["reconciler", "-q", "apply", "--auto-approve"]
    assert "plan" in plan["outputs"] and "report" in apply["outputs"]


@pytest.fixture
def pipeline(make_sandbox, tmp_path):
    """The example's spec pointed at a sandbox, a token file, and predictions to score."""
    sandbox = make_sandbox(synthetic=[(QUEUE, 3)])
    spec = yaml.safe_load((CWL / "examples" / "spec.yaml").read_text())
    spec["provider"]["endpoint"] = sandbox.url
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "spec.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "synapseConfig").write_text(f"[authentication]\nauthtoken = {sandbox.token}\n")
    (tmp_path / "predictions.txt").write_text("0.9 0.8 0.7\n")  # the scoring stand-in's mean: 0.8
    return sandbox, tmp_path


def doc_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (ROOT / "docs" / "pipelines.md").read_text(), flags=re.S | re.M)


@pytest.mark.slow
def test_the_documented_pipeline_scores_and_applies_through_the_json_source(pipeline):
    """docs/pipelines.md as written: its spec (pointed at the sandbox), its job file and
    its cwltool command line."""
    sandbox, tmp = pipeline
    documented_spec, job = doc_blocks("yaml")
    assert yaml.safe_load(documented_spec) == yaml.safe_load((CWL / "examples" / "spec.yaml").read_text()) | {
        "provider": {"type": "synapse"}
    }
    (tmp / "job.yaml").write_text(job)
    (command,) = doc_blocks("sh")
    argv = shlex.split(command)
    assert argv[:2] == ["cwltool", "--no-container"]
    argv[2] = str(ROOT / argv[2])
    done = cwltool("--outdir", str(tmp / "out"), *argv[1:], cwd=tmp)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outputs = json.loads(done.stdout)
    assert json.loads(Path(outputs["results"]["path"]).read_text()) == {"auc": 0.8, "submission_status": "SCORED"}
    report = json.loads(Path(outputs["report"]["path"]).read_text())
    assert report["ok"] is True and report["summary"]["applied"] == 1, report
    status = read_status(sandbox.url, sandbox.token, "9700001")
    assert status["status"] == "SCORED"
    assert status["submissionAnnotations"]["annotations"]["auc"] == {
        "type": "DOUBLE",
        "value": ["0.8"],
    }  # Synapse writes doubles as text
    assert sandbox.token not in done.stdout + done.stderr


@pytest.mark.slow
def test_results_that_do_not_check_fail_the_step_and_send_nothing(pipeline):
    sandbox, tmp = pipeline
    (tmp / "bad.json").write_text('{"auc": "n/a", "submission_status": "SCORED"}')
    job = {
        "spec_dir": {"class": "Directory", "path": str(tmp / "specs")},
        "submission_id": "9700001",
        "results": {"class": "File", "path": str(tmp / "bad.json")},
        "synapse_config": {"class": "File", "path": str(tmp / "synapseConfig")},
    }
    (tmp / "job.yaml").write_text(yaml.safe_dump(job))
    done = cwltool(
        "--no-container", "--outdir", str(tmp / "out"), str(CWL / "apply.cwl"), str(tmp / "job.yaml"), cwd=tmp
    )
    assert done.returncode != 0, done.stdout + done.stderr
    assert "spec/9700001.results.json:1:9: key 'auc': expected a number" in done.stderr
    assert read_status(sandbox.url, sandbox.token, "9700001")["status"] == "RECEIVED"


@pytest.mark.slow
def test_plan_tool_saves_the_plan_and_succeeds_on_changes(pipeline):
    sandbox, tmp = pipeline
    (tmp / "9700002.results.json").write_text('{"auc": 0.5, "submission_status": "SCORED"}')
    job = {
        "spec_dir": {"class": "Directory", "path": str(tmp / "specs")},
        "results": {"class": "File", "path": str(tmp / "9700002.results.json")},
        "submission_id": "9700002",
        "synapse_config": {"class": "File", "path": str(tmp / "synapseConfig")},
    }
    (tmp / "job.yaml").write_text(yaml.safe_dump(job))
    done = cwltool(
        "--no-container", "--outdir", str(tmp / "out"), str(CWL / "plan.cwl"), str(tmp / "job.yaml"), cwd=tmp
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outputs = json.loads(done.stdout)
    saved = json.loads(Path(outputs["plan"]["path"]).read_text())
    assert [c["id"] for q in saved["queues"] for c in q["changes"]] == ["9700002"]
    assert "9700002" in Path(outputs["report"]["path"]).read_text()
    assert read_status(sandbox.url, sandbox.token, "9700002")["status"] == "RECEIVED"  # a plan writes nothing
