"""`reconciler history`: entries newest first; a corrupt or foreign file in the journal
is one located error for it, never a crash."""

from __future__ import annotations

import json

from cli_helpers import run_cli
from test_journal import synapse  # noqa: F401  (fixture)


def test_history_lists_newest_first_and_locates_bad_files(synapse, tmp_path):  # noqa: F811
    sb, spec = synapse
    journal = tmp_path / ".reconciler" / "journal"
    assert run_cli("apply", spec, "--auto-approve", "--only", "9700001").code == 0
    assert run_cli("apply", spec, "--auto-approve").code == 0
    (journal / "torn.json").write_text('{"format": "reconciler-journal", "id": ')
    (journal / "other-tool.json").write_text('{"name": "not ours"}\n')
    (journal / "wrong.json").write_text('{"format": "reconciler-journal",\n "format_version": 1, "id": 7}\n')
    shown = run_cli("history", journal)
    assert shown.code == 1
    lines = shown.out.splitlines()
    assert len(lines) == 2
    assert "4 applied" in lines[0] and "1 applied" in lines[1]  # newest first
    assert "synapse " + sb.url in lines[0]
    errors = shown.err.splitlines()
    assert len(errors) == 3, errors
    assert any("other-tool.json:1:1: not a reconciler journal entry" in e for e in errors)
    assert any("torn.json:1:" in e for e in errors)
    assert any("wrong.json:" in e and "not a valid journal entry" in e for e in errors)
    as_json = run_cli("history", journal, "--format", "json")
    doc = json.loads(as_json.out)
    assert [e["counts"] for e in doc["entries"]] == [{"applied": 4}, {"applied": 1}]
    assert len(doc["errors"]) == 3


def test_history_of_an_empty_or_missing_journal(tmp_path):
    (tmp_path / "j").mkdir()
    empty = run_cli("history", tmp_path / "j")
    assert empty.code == 0 and "No journal entries" in empty.out
    missing = run_cli("history", tmp_path / "nope")
    assert missing.code == 1 and "no such journal folder" in missing.err
