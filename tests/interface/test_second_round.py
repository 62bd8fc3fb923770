"""What a second round of new users tripped over (issue 27): drift on locked items,
entries for missing ids, `replace: true`, interrupted applies, JSON that says why,
export's output file. One test per complaint, each through the command line."""

from __future__ import annotations

import json

from builders import item, queue, rule
from cli_helpers import live_item as live
from cli_helpers import run_cli

from reconciler.diff import rediff
from reconciler.store import Store, Update


def edit_live(example, item_id, **changes):
    """Someone edits an item behind reconciler's back (the local store's own write)."""
    store = Store(example.parent / ".reconciler" / "state.db")
    try:
        record = store.get(item_id)
        store.write(record.queue, [Update(id=item_id, etag=record.etag, **changes)])
    finally:
        store.close()


# ------------------------------------------------------------- 1. drift on locks
def test_a_locked_item_whose_value_moved_away_from_its_entry_is_drift_not_blocked():
    q = queue(submissions={"1": {"tags": {"score": 0.91}, "locked": True}})
    change = rediff(q, item("1", tags={"score": 0.95}, locked=True))
    assert change.drift and change.blocked and change.lock is None


def test_a_spec_changing_an_item_a_rule_froze_is_blocked_not_drift():
    q = queue(rule("freeze", {"ids": ["1"]}, {"locked": True}), submissions={"1": {"status": "INVALID"}})
    change = rediff(q, item("1", "SCORED", locked=True))
    assert change.blocked and not change.drift


def test_nightly_drift_check_reports_an_edited_locked_item_as_drift_exit_2(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    checked = run_cli("plan", example, "--detailed-exitcode")
    assert checked.code == 2, checked.out + checked.err
    assert "≠ 9700003  DRIFT: locked item drifted" in checked.out
    assert "replace: true" in checked.out and "--replace" in checked.out
    assert "locked: false" not in checked.out and "error" not in checked.err
    assert "0 blocked, 1 drifted (locked)" in checked.out
    assert run_cli("plan", example).code == 0
    github = run_cli("plan", example, "--format", "github", "--detailed-exitcode")
    assert github.code == 2 and "title=drift on a locked item::" in github.out
    assert "::error" not in github.out


def test_apply_leaves_a_drifted_locked_item_and_says_how_to_restore_it(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    applied = run_cli("apply", example, "--auto-approve")
    assert applied.code == 1
    assert "9700003: locked item drifted" in applied.out and "replace: true" in applied.out
    assert live(example, "9700003").tags["score"] == (0.95,)
    restored = run_cli("apply", example, "--replace", "9700003", "--auto-approve")
    assert restored.code == 0, restored.out + restored.err
    record = live(example, "9700003")
    assert record.tags["score"] == (0.91,) and record.locked
    assert run_cli("plan", example, "--detailed-exitcode").code == 0


def test_drift_survives_the_plan_file(example, tmp_path):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    doc = json.loads(saved.read_text())
    (change,) = [c for q in doc["queues"] for c in q["changes"] if c["id"] == "9700003"]
    assert change["drift"] is True and change["blocked"] is True
    assert doc["summary"]["drift"] == 1 and doc["summary"]["blocked"] == 0
    shown = run_cli("show", saved, "--format", "markdown")
    assert shown.code == 0 and "`9700003` **drift (locked)**" in shown.out
    # the nightly drift workflow's own command line (examples/ci/drift-check.yml)
    nightly = run_cli("-q", "plan", example, "-o", tmp_path / "drift.json", "--format", "github", "--detailed-exitcode")
    assert nightly.code == 2 and (tmp_path / "drift.json").exists()


# --------------------------------------------------------- 2. replace: true
def correct_locked_score(example, extra=""):
    """9700002 is frozen by the rule freeze-round-1 (score 0.37 in the seed); a pull
    request corrects its score in a new entry."""
    text = example.read_text().replace(
        '      "9700004": {', '      "9700002": {tags: {score: 0.4}' + extra + '}\n      "9700004": {'
    )
    example.write_text(text)
    return example


def test_a_blocked_change_names_both_ways_to_correct_a_locked_item(example):
    result = run_cli("plan", correct_locked_score(example))
    assert result.code == 1
    assert "add `replace: true` to its entry or pass --replace ID" in result.err
    assert "replace: true" in result.out and "--replace ID" in result.out


def test_replace_true_in_the_entry_corrects_a_locked_item_and_keeps_it_locked(example):
    spec = correct_locked_score(example, ", replace: true")
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.out + planned.err
    assert "  ! 9700002  LOCKED: changed under --replace; stays locked" in planned.out
    assert "1 under --replace" in planned.out
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    record = live(example, "9700002")
    assert record.locked and record.tags["score"] == (0.4,)
    assert run_cli("plan", spec, "--detailed-exitcode").code == 0


def test_replace_true_restores_a_drifted_locked_item(example):
    assert run_cli("apply", example, "--auto-approve").code == 0
    edit_live(example, "9700003", tag_changes={"score": (0.95,)})
    text = example.read_text().replace("rank: 1}, locked: true}", "rank: 1}, locked: true, replace: true}")
    example.write_text(text)
    assert run_cli("apply", example, "--auto-approve").code == 0
    assert live(example, "9700003").tags["score"] == (0.91,)


def test_replace_is_an_entry_field_not_a_rule_field(example):
    text = example.read_text().replace("set: {locked: true}", "set: {locked: true, replace: true}")
    example.write_text(text)
    result = run_cli("validate", example)
    assert result.code == 1 and "unknown field 'replace'" in result.err


# ---------------------------------- 4. Ctrl-C / SIGTERM in apply: tests/commands/test_interrupt.py
import pytest  # noqa: E402


def synapse_spec(tmp_path, url):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\nqueues:\n'
        '  - id: "9615000"\n    safety: {max_change_percent: 100}\n    rules:\n'
        "      - name: validate\n        where: {status: RECEIVED}\n        set: {status: VALIDATED}\n"
    )
    return spec


# ------------------------------------------------------- 10. JSON that says why
def test_a_failing_plan_in_json_carries_its_reasons(example):
    spec = correct_locked_score(example)
    result = run_cli("plan", spec, "--format", "json")
    assert result.code == 1
    doc = json.loads(result.out)
    (problem,) = doc["problems"]
    assert problem["kind"] == "blocked" and "9700002" in problem["message"]
    strict = example.read_text().replace("max_change_percent: 50", "max_change_percent: 10")
    example.write_text(strict)
    kinds = {p["kind"] for p in json.loads(run_cli("plan", spec, "--format", "json").out)["problems"]}
    assert kinds == {"blocked", "safety"}


def test_a_plan_file_of_a_failing_plan_says_why_and_still_loads(example, tmp_path):
    saved = tmp_path / "plan.json"
    saved.write_text(run_cli("plan", correct_locked_score(example), "--format", "json").out)
    assert json.loads(saved.read_text())["problems"][0]["kind"] == "blocked"
    shown = run_cli("show", saved)
    assert shown.code == 1 and "blocked by locks" in shown.err


def test_apply_json_on_a_refused_plan_still_prints_a_report_saying_why(example, tmp_path):
    result = run_cli("apply", correct_locked_score(example), "--auto-approve", "--format", "json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["ok"] is False and report["results"] == []
    assert report["refused"][0]["kind"] == "blocked"
    saved = tmp_path / "plan.json"
    saved.write_text(run_cli("plan", example, "--format", "json").out)
    from_file = json.loads(run_cli("apply", saved, "--auto-approve", "--format", "json").out)
    assert from_file["refused"][0]["kind"] == "blocked"


def test_validate_json_lists_every_problem_with_its_place(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    submissions:\n"
        '      "1": {statos: A}\n      "2": {status: 3, tags: {a: {b: 1}}}\n'
    )
    result = run_cli("validate", spec, "--format", "json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["valid"] is False and len(doc["problems"]) >= 2
    first = doc["problems"][0]
    assert (first["file"], first["line"], first["column"]) == (str(spec), 5, 13)
    assert "statos" in first["message"]
    ok = tmp_path / "ok.yaml"
    ok.write_text('version: 1\nqueues:\n  - id: q\n    submissions:\n      "1": {status: A}\n')
    valid = json.loads(run_cli("validate", ok, "--format", "json").out)
    assert valid == {"valid": True, "problems": [], "specs": [{"file": str(ok), "queues": 1, "rules": 0, "entries": 1}]}


# ------------------------------------------ 5. export writes loadable specs, everywhere
import importlib  # noqa: E402
from dataclasses import replace as _replace  # noqa: E402

from backends import NAMES  # noqa: E402

from reconciler.apply import apply_plan  # noqa: E402
from reconciler.commands.inputs import load_specs  # noqa: E402
from reconciler.export import export_spec  # noqa: E402
from reconciler.model import ProviderConfig, Safety, Spec  # noqa: E402
from reconciler.planner import build_plan  # noqa: E402


@pytest.mark.parametrize("table", [False, True], ids=["entries", "table"])
@pytest.mark.parametrize("name", NAMES)
def test_export_then_plan_is_empty_for_every_provider(name, table, make_sandbox, tmp_path, monkeypatch):
    """Live state with tags and locks, exported, loads as a spec (validate's checks
    included) and plans to no changes against the same service: the README's promise."""
    backend = importlib.import_module(f"backends.{name}").Backend(make_sandbox, tmp_path, monkeypatch)
    provider, base = backend.make(6)
    with provider:
        ids = [i.id for i in provider.list_items(base)]
        touched = _replace(
            base,
            safety=Safety(max_change_percent=100.0),
            rules=(
                rule("review", {"ids": ids[:3]}, {"tags": {"reviewed": backend.tag_value}}),
                rule("freeze", {"ids": ids[1:2]}, {"locked": True}),
            ),
        )
        spec = Spec(ProviderConfig(provider.type, {}, str(tmp_path)), (touched,), ("spec.yaml",), "d")
        made = build_plan(spec, provider)
        assert apply_plan(made.plan, provider, made.queues, rediff=made.rediffers()).ok
        out = tmp_path / "exported.yaml"
        live = [(touched, provider.list_items(touched))]
        if table:  # `export --table`: the entries as a typed CSV the spec includes
            from reconciler.table_export import export_tables

            text, (csv_text,) = export_tables(spec.provider, live, str(tmp_path), [str(tmp_path / "live.csv")])
            (tmp_path / "live.csv").write_text(csv_text, newline="")
            out.write_text(text)
        else:
            out.write_text(export_spec(spec.provider, live, str(tmp_path)))
        (loaded,) = load_specs([str(out)], "plan")
        exported = loaded.queues[0]
        assert exported.safety.max_change_percent == 100.0  # the queue's safety: is kept
        again = build_plan(_replace(loaded, queues=(exported,)), provider)
    assert not again.plan.has_changes, again.plan.changes
    assert not again.missing


# ------------------------------------------------------- 7. the PR comment
from plan_samples import change as sample_change  # noqa: E402

from reconciler.model import FieldChange, Plan, QueuePlan, Source  # noqa: E402
from reconciler.render.markdown import render_plan_markdown  # noqa: E402


def upload_plan() -> Plan:
    """A 300-item score upload: 300 tag-only changes (score and rank), of which the last
    50 lock their item too."""
    scores = Source("scores/round-3.yaml", 3)
    changes = []
    for i in range(300):
        fields = [
            FieldChange("tags.rank", None, (i + 1,), scores),
            FieldChange("tags.score", None, (round(1 - i / 1000, 3),), scores),
        ]
        if i >= 250:
            fields.append(FieldChange("locked", False, True, scores))
        changes.append(sample_change(str(9_700_001 + i), "SCORED", *fields, lock="lock" if i >= 250 else None))
    return Plan(
        "synapse", "https://repo-prod.prod.sagebase.org/repo/v1", "d" * 64, (QueuePlan("9615000", 300, tuple(changes)),)
    )


def test_the_pr_comment_lists_locks_before_other_changes_and_tag_changes_in_one_row():
    md = render_plan_markdown(upload_plan(), limit=20_000)
    locks = [n for n in range(9_700_251, 9_700_301) if f"| `{n}` (lock) |" in md]
    assert len(locks) == 50  # none fell past the cap
    assert md.index("`9700251` (lock)") < md.index("| `9700001` |")
    row = next(line for line in md.splitlines() if line.startswith("| `9700001` |"))
    assert row.startswith(
        "| `9700001` | `tags: rank, score` | `rank: (absent) · score: (absent)` | `rank: 1 · score: 1.0` |"
    )
    assert md.endswith(
        "every change is in the saved plan file (in CI the `reconciler-plan` artifact): `reconciler show plan.json`"
    )


# ------------------------------------------------ 8. a wrong token on apply PLANFILE
def test_a_wrong_token_on_apply_planfile_is_one_line_and_q_hides_the_plan(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 300)])
    spec = synapse_spec(tmp_path, sandbox.url)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", saved, env={"SYNAPSE_AUTH_TOKEN": sandbox.token}).code == 0
    result = run_cli("-q", "apply", saved, "--auto-approve", env={"SYNAPSE_AUTH_TOKEN": "wrong"})
    assert result.code == 1
    assert result.out == ""  # no plan echo under -q, no 300-line report
    assert result.err.count("\n") == 1 and result.err.startswith("error: Synapse refused the token (HTTP 401")
    assert all(sandbox.store.get(str(9700001 + i)).version == 1 for i in range(300))


def test_apply_with_q_prints_the_report_but_not_the_plan(example):
    result = run_cli("apply", example, "--auto-approve", "-q")
    assert result.code == 0
    assert "Apply complete: 11 applied" in result.out and "Markers:" not in result.out


# ---------------------------------------------------------- 11. reference docs
from pathlib import Path  # noqa: E402

from reconciler.providers import provider_types  # noqa: E402

DOCS = Path(__file__).parents[2] / "docs"
README = Path(__file__).parents[2] / "README.md"


def _line_of(path: Path, start: str) -> str:
    return next(line for line in path.read_text().splitlines() if line.startswith(start))


@pytest.mark.parametrize("service", provider_types())
def test_reference_docs_name_every_service(service):
    assert f"| `{service}` |" in (DOCS / "spec.md").read_text()  # the provider table
    assert f"`{service}`" in _line_of(DOCS / "plan-file.md", "| `provider.type` |")
    assert f"| `{service}` |" in (DOCS / "ci.md").read_text()  # credentials per service


def test_plan_file_docs_name_every_providers_plan_options():
    row = _line_of(DOCS / "plan-file.md", "| `provider.options` |")
    for name in ("tenant", "tags_key", "max_in_flight", "region", "profile"):
        assert f"`{name}`" in row


def test_readme_says_single_dash_flags_are_refused_and_they_are():
    text = " ".join(README.read_text().split())
    assert "are answered with the double-dash flag" not in text
    assert "single-dash spellings (`-auto-approve`, `-detailed-exitcode`) are **not** accepted" in text
    result = run_cli("plan", "x.yaml", "-detailed-exitcode")
    assert result.code == 1 and "did you mean `--detailed-exitcode`?" in result.err


# ------------------------------------------------- 12. labels, natural order
import re  # noqa: E402

from conftest import SANDBOX_TOKEN  # noqa: E402


def workflow_results(make_sandbox, monkeypatch, tmp_path, n=20):
    sb = make_sandbox(service="workflow-results", synthetic=[("frb", n)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: workflow-results}\nqueues:\n  - id: frb\n"
        "    safety: {max_change_percent: 100}\n    rules:\n      - name: rfi\n"
        "        where: {}\n        set: {tags: [rfi]}\n"
    )
    return spec


def test_labels_read_as_labels_in_every_format(make_sandbox, monkeypatch, tmp_path):
    spec = workflow_results(make_sandbox, monkeypatch, tmp_path, n=3)
    text = run_cli("plan", spec).out
    assert "label rfi: added" in text and "tags.rfi" not in text and "(absent) → true" not in text
    markdown = run_cli("plan", spec, "--format", "markdown").out
    assert "| `label rfi` |  | `added` |" in markdown
    saved = tmp_path / "plan.json"
    run_cli("plan", spec, "-o", saved)
    assert "label rfi: added" in run_cli("show", saved).out


def test_plans_and_exports_list_works_in_creation_order(make_sandbox, monkeypatch, tmp_path):
    spec = workflow_results(make_sandbox, monkeypatch, tmp_path, n=20)
    listed = re.findall(r"^  ~ ([0-9a-f]{24})$", run_cli("plan", spec).out, re.M)
    assert len(listed) == 20 and listed == sorted(listed, key=lambda i: int(i, 16))
    assert listed.index("66000000000000000000000a") < listed.index("660000000000000000000010")
    out = run_cli("export", spec).out
    exported = re.findall(r'^ +["\']?([0-9a-f]{24})["\']?:', out, re.M)
    assert exported == listed, out


# ------------------------------------------------------------- 13. papercuts
def test_a_failing_plan_is_not_saved_and_says_so(example, tmp_path):
    saved = tmp_path / "plan.json"
    result = run_cli("plan", correct_locked_score(example), "-o", saved)
    assert result.code == 1 and not saved.exists()
    assert f"The plan fails, so it was not saved to {saved}: apply would refuse it" in result.err
    to_stdout = run_cli("plan", example, "-o", "-")
    assert to_stdout.code == 1 and to_stdout.out == "" and "not saved to stdout" in to_stdout.err


def test_o_dash_with_markdown_is_refused_before_anything_is_read(example):
    result = run_cli("plan", example, "-o", "-", "--format", "markdown")
    assert result.code == 1 and result.out == ""
    assert "leaves --format markdown nowhere to go" in result.err
    assert not (example.parent / ".reconciler").exists()  # the store was never opened


def test_stale_reports_name_the_managed_fields_before_bookkeeping():
    from reconciler.apply import what_changed

    base = {
        "id": "1",
        "etag": "e1",
        "modifiedOn": "t1",
        "statusVersion": 1,
        "versionNumber": 1,
        "updatedAt": "u1",
        "status": "SCORED",
        "annotations": {"score": 0.4},
    }
    fresh = {
        "id": "1",
        "etag": "e2",
        "modifiedOn": "t2",
        "statusVersion": 2,
        "versionNumber": 2,
        "updatedAt": "u2",
        "status": "INVALID",
        "annotations": {"score": 0.5},
    }
    said = what_changed(base, fresh)
    assert said.startswith('annotations.score: 0.4 → 0.5; status: "SCORED" → "INVALID"; ')
    assert said.endswith("; and 2 more")


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:/repo/v1", "https://x.example.org:/r"])
def test_validate_refuses_an_endpoint_with_an_empty_port(tmp_path, endpoint):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'version: 1\nprovider: {{type: synapse, endpoint: "{endpoint}"}}\nqueues:\n  - id: "1"\n')
    result = run_cli("validate", spec)
    assert result.code == 1 and f"{spec}:2:" in result.err and "has an empty port" in result.err


def test_error_lists_are_capped_per_file_with_a_count(tmp_path):
    spec = tmp_path / "spec.yaml"
    entries = "".join(f'      "{i}": {{statos: A}}\n' for i in range(1, 131))
    spec.write_text("version: 1\nqueues:\n  - id: q\n    submissions:\n" + entries)
    result = run_cli("validate", spec)
    lines = result.err.splitlines()
    assert result.code == 1 and len(lines) == 51
    assert lines[-1] == f"error: {spec}: … and 80 more problems in this file (fix these and validate again)"
    as_json = json.loads(run_cli("validate", spec, "--format", "json").out)
    assert len(as_json["problems"]) == 51 and as_json["problems"][-1]["line"] is None


def test_validate_shows_every_problem_the_structure_allows_in_one_round(tmp_path):
    """A typo (schema), a status Synapse lacks (service check) and two rules that can
    oscillate were three rounds of validate; now one."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        'version: 1\nprovider: {type: synapse}\nqueues:\n  - id: "1"\n    submissions:\n'
        '      "1": {status: SCORD}\n      "2": {statos: SCORED}\n'
        "    rules:\n      - name: a\n        where: {status: VALIDATED}\n        set: {status: ACCEPTED}\n"
        "      - name: b\n        where: {status: ACCEPTED}\n        set: {status: VALIDATED}\n"
    )
    result = run_cli("validate", spec)
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[0].startswith(f"error: {spec}:6:13: status 'SCORD' is not a Synapse submission status")
    assert lines[1].startswith(f"error: {spec}:7:13: unknown field 'statos'")
    assert lines[2].startswith(f"error: {spec}:12:9: rules 'a'") and "can oscillate" in lines[2]
    assert len(lines) == 3


def test_export_never_writes_over_a_table_the_spec_reads(tmp_path):
    (tmp_path / "live.yaml").write_text("queues:\n- id: q\n  items:\n  - {id: '1', status: A}\n")
    table = tmp_path / "t.csv"
    table.write_text("id,status\n1,A\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: local, path: state.db, seed: live.yaml}\nqueues:\n"
        "  - id: q\n    include:\n      - table: t.csv\n        id: id\n        status: status\n"
    )
    result = run_cli("export", spec, "-o", tmp_path / "adopted.yaml", "--table", table, "--force")
    assert result.code == 1 and "is a file the spec reads" in result.err
    assert table.read_text() == "id,status\n1,A\n" and not (tmp_path / "adopted.yaml").exists()
