"""The Python API (docs/python.md): the documented examples run as written,
errors are exceptions carrying located problems, nothing prints, and `import
reconciler` loads nothing more than it did."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import reconciler

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "python.md"


@pytest.fixture
def challenge(tmp_path, monkeypatch):
    """A copy of examples/challenge (its local store seeded afresh) as the working directory."""
    shutil.copytree(
        ROOT / "examples" / "challenge", tmp_path / "challenge", ignore=shutil.ignore_patterns(".reconciler")
    )
    monkeypatch.chdir(tmp_path / "challenge")
    return tmp_path / "challenge"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def expected_output(block: str) -> list[str]:
    """What the block says it prints: the comment after each print(...), or on the line
    right below it."""
    lines, out = block.splitlines(), []
    for i, line in enumerate(lines):
        if "print(" not in line:
            continue
        if "#" in line.split("print(", 1)[1]:
            out.append(line.rsplit("# ", 1)[1].strip())
        elif i + 1 < len(lines) and lines[i + 1].strip().startswith("# "):
            out.append(lines[i + 1].strip()[2:])
    return out


@pytest.mark.parametrize("index", range(len(python_blocks(DOC.read_text()))))
def test_docs_python_example_runs_and_prints_what_it_says(index, challenge):
    block = python_blocks(DOC.read_text())[index]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, f"docs/python.md example {index + 1}", "exec"), {"__name__": "__doc_example__"})
    assert printed.getvalue().splitlines() == expected_output(block)


def test_all_names_resolve_typed_and_documented():
    doc = DOC.read_text()
    for name in reconciler.__all__:
        assert getattr(reconciler, name) is not None
        assert f"`{name}" in doc or name == "__version__", name
    assert (ROOT / "reconciler" / "py.typed").exists()
    with pytest.raises(AttributeError):
        reconciler.no_such_name  # noqa: B018


def test_import_reconciler_loads_no_other_module():
    """The CLI's start must not pay for the API: its names load on first use."""
    code = "import sys, reconciler; print(sorted(m for m in sys.modules if m.startswith('reconciler')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "['reconciler']"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import reconciler"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert not re.search(r"\|\s+typing$", done.stderr, flags=re.M)  # typing alone is 10x the cost


def test_apply_stays_the_function_when_the_module_of_that_name_is_imported():
    import reconciler.apply as module  # noqa: F401  (what the API's own writes import)
    from reconciler.apply import apply_plan

    assert callable(reconciler.apply) and reconciler.apply.__module__ == "reconciler.api"
    assert apply_plan.__module__ == "reconciler.apply"


def test_nothing_prints_and_apply_of_a_spec_converges_and_is_journaled(challenge, capfd):
    from reconciler.journal import read_journal

    spec = reconciler.load_spec("spec.yaml")
    report = reconciler.apply(spec)
    assert report.ok and report.count("applied") == 11 and report.requests > 0
    assert not reconciler.plan(spec).has_changes
    assert capfd.readouterr() == ("", "")
    entries, problems = read_journal(challenge / ".reconciler" / "journal")  # as `reconciler apply` records
    assert not problems and len(entries) == 1
    assert reconciler.apply(spec).results == ()  # nothing to write: nothing journaled
    assert len(read_journal(challenge / ".reconciler" / "journal")[0]) == 1


def test_a_spec_that_does_not_load_raises_spec_error_with_located_problems(challenge):
    Path("bad.yaml").write_text("version: 1\nqueues:\n  - id: q\n    rulez: []\n")
    with pytest.raises(reconciler.SpecError) as caught:
        reconciler.load_spec("bad.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("bad.yaml", 4, 5)
    assert "rulez" in problem.message
    with pytest.raises(reconciler.SpecError) as caught:
        reconciler.Spec.from_dict({"version": 1, "queues": [{"id": "q", "submissions": {"1": {"status": 3}}}]})
    assert caught.value.problems[0].file == "<dict>" and caught.value.problems[0].line is not None


def test_with_entries_checks_as_a_json_source_does(challenge):
    spec = reconciler.load_spec("spec.yaml")
    with pytest.raises(reconciler.SpecError) as caught:  # an id the spec already places
        spec.with_entries(
            "9615000", [{"submission_id": "9700013", "auc": 0.5}], id="submission_id", tags={"score": "auc"}
        )
    (problem,) = caught.value.problems
    assert problem.file == "<records for queue 9615000>" and problem.line == 1
    assert "already defined at scores/round-3.csv:2" in problem.message
    with pytest.raises(reconciler.SpecError, match="did you mean 'float'"):
        spec.with_entries("9615000", [], id="submission_id", tags={"score": {"key": "auc", "type": "floaty"}})
    with pytest.raises(reconciler.SpecError, match="no queue 'nope'"):
        spec.with_entries("nope", [], id="submission_id")
    added = spec.with_entries(
        "9615000",
        [{"submission_id": 9700005, "auc": 1}],
        id="submission_id",
        tags={"score": {"key": "auc", "type": "float"}},
    )
    (queue,) = [q for q in added.queues if q.id == "9615000"]
    assert queue.submissions["9700005"].tags["score"].value == (1.0,)
    assert added.digest != spec.digest  # a plan file made from it names what it was made from


def test_a_failing_plan_is_neither_saved_nor_applied(challenge):
    spec = reconciler.load_spec("spec.yaml").with_entries(
        "9615000", [{"id": "9700010", "status": "SCORED"}], id="id", status="status"
    )  # 9700010 is locked
    plan = reconciler.plan(spec)
    assert not plan.ok and plan.reasons[0][0] == "blocked"
    with pytest.raises(reconciler.PlanError) as caught:
        plan.save("plan.json")
    assert not Path("plan.json").exists() and "9700010" in caught.value.problems[0].message
    with pytest.raises(reconciler.PlanError):
        reconciler.apply(plan)
    assert reconciler.plan(reconciler.load_spec("spec.yaml")).summary["change"] == 11  # nothing written


def test_saved_plan_round_trips_as_the_cli_reads_it(challenge):
    from cli_helpers import run_cli

    plan = reconciler.plan(reconciler.load_spec("spec.yaml"))
    plan.save("plan.json")
    assert json.loads(Path("plan.json").read_text())["summary"] == plan.summary
    shown = run_cli("show", "plan.json")
    assert shown.code == 0 and shown.out.strip().endswith(plan.text().strip().splitlines()[-1])
    with pytest.raises(reconciler.SpecError, match="is a spec, not a plan file"):
        reconciler.Plan.load("spec.yaml")


def test_import_cost_benchmark_runs():
    """benchmarks/import_cost.py (BENCHMARKS.md, import cost) must not rot: one round."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "import_cost.py"), "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert re.search(r"^\| this checkout \| [0-9.]+ ms \| 1 \|", done.stdout, flags=re.M), done.stdout


def test_the_http_layers_notes_stay_off_the_callers_stderr():
    """The CLI prints retry notes through its own handler; a library user gets none on
    stderr from Python's last-resort handler (their own logging config still sees them)."""
    code = (
        "import logging, reconciler; reconciler.plan; "
        "logging.getLogger('reconciler.http').warning('note: retrying in 2 s')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == ""
