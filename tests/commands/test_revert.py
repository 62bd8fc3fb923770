"""`reconciler revert` (issue 25): a plan restoring what a journal entry changed, leaving
out (and naming) an item someone changed since; refused for another spec or endpoint."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli
from conftest import SANDBOX_TOKEN
from end_to_end.test_synapse import QUEUE, external_update, write_spec


@pytest.fixture
def applied(make_sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    sb = make_sandbox(synthetic=[(QUEUE, 5)])
    spec = write_spec(tmp_path, sb.url)
    assert run_cli("apply", spec, "--auto-approve").code == 0
    (entry,) = (tmp_path / ".reconciler" / "journal").glob("*.json")
    return sb, spec, entry


def test_revert_restores_values_and_leaves_an_item_changed_since(applied, tmp_path):
    sb, _spec, entry = applied
    external_update(sb.url, SANDBOX_TOKEN, "9700003", "SCORED", {"phase": {"type": "LONG", "value": [2]}})
    out = tmp_path / "revert.json"
    planned = run_cli("revert", entry, "-o", out)
    assert planned.code == 0, planned.err
    assert "4 to change" in planned.out
    assert "item 9700003 changed since entry" in planned.err
    assert "status: VALIDATED → SCORED" in planned.err and "left out, not overwritten" in planned.err
    done = run_cli("apply", out, "--auto-approve")
    assert done.code == 0, done.err
    assert "4 applied" in done.out
    for sub in ("9700001", "9700002", "9700004", "9700005"):
        record = sb.service.store.get(sub)
        assert record.status == "RECEIVED" and "phase" not in record.tags
    kept = sb.service.store.get("9700003")
    assert kept.status == "SCORED" and kept.tags["phase"] == (2,)
    # the revert was journalled like any apply, and names the entry it undid
    entries = sorted((tmp_path / ".reconciler" / "journal").glob("*.json"))
    assert len(entries) == 2
    newest = next(json.loads(p.read_text()) for p in entries if p != entry)
    assert newest["counts"] == {"applied": 4}


def test_revert_by_id_in_the_journal_folder(applied, tmp_path):
    _, _, entry = applied
    shown = run_cli("revert", entry.stem, "--journal", entry.parent)
    assert shown.code == 0, shown.err
    assert "5 to change" in shown.out


def test_revert_refuses_another_spec_or_endpoint(applied, tmp_path, make_sandbox):
    sb, spec, entry = applied
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = write_spec(other_dir, sb.url)
    refused = run_cli("revert", entry, "--spec", other)
    assert refused.code == 1 and "not " + str(other) in refused.err and "nothing was planned" in refused.err
    elsewhere = make_sandbox(synthetic=[(QUEUE, 1)])
    spec.write_text(spec.read_text().replace(sb.url, elsewhere.url))
    moved = run_cli("revert", entry, "--spec", spec)
    assert moved.code == 1 and f"the spec now names synapse {elsewhere.url}" in moved.err
    assert len(moved.err.strip().splitlines()) == 1


def test_revert_of_a_foreign_file_is_one_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    result = run_cli("revert", bad)
    assert result.code == 1 and "x.json:1:1: not a reconciler journal entry" in result.err


def test_revert_on_a_whole_document_service_keeps_what_others_wrote_since(make_sandbox, monkeypatch, tmp_path):
    """workflow-results (compare guard, whole-document writes): the revert removes the
    entry's tag and keeps a tag another spec added to the same works afterwards."""
    from end_to_end.test_workflow_results import PIPELINE, SPEC

    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 4)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    first = tmp_path / "spec.yaml"
    first.write_text(SPEC)
    assert run_cli("apply", first, "--auto-approve").code == 0
    (entry,) = (tmp_path / ".reconciler" / "journal").glob("*.json")
    other_dir = tmp_path / "pipeline"
    other_dir.mkdir()
    other = other_dir / "spec.yaml"
    other.write_text(SPEC.replace("[reviewed]", "[scored]"))
    assert run_cli("apply", other, "--auto-approve").code == 0
    out = tmp_path / "revert.json"
    assert run_cli("revert", entry, "-o", out).code == 0
    done = run_cli("apply", out, "--auto-approve")
    assert done.code == 0 and "4 applied" in done.out, done.out + done.err
    plan_first = run_cli("plan", first, "--detailed-exitcode")
    assert plan_first.code == 2 and "4 to change" in plan_first.out  # `reviewed` is gone again
    assert run_cli("plan", other, "--detailed-exitcode").code == 0  # `scored` survived
