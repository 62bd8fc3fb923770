"""The journal (issue 25, docs/operations.md): every apply that writes records one entry, which
holds before and after values and no credential, and is never torn by a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from jsonschema import Draft202012Validator

from cli_helpers import run_cli
from conftest import SANDBOX_TOKEN
from reconciler.journal import read_journal, schema
from end_to_end.test_synapse import QUEUE, write_spec


SECRET_RULE = "      - name: secret\n        where: {}\n        set: {tags: {db_password: hunter2-secret}}\n"


@pytest.fixture
def synapse(make_sandbox, monkeypatch, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 5)])
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    return sb, write_spec(tmp_path, sb.url, SECRET_RULE)


def test_apply_records_one_entry_with_before_and_after_and_no_secret(synapse, tmp_path, monkeypatch):
    sb, spec = synapse
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/challenge")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_never_in_a_journal")
    result = run_cli("apply", spec, "--auto-approve")
    assert result.code == 0, result.err
    journal = tmp_path / ".reconciler" / "journal"
    files = list(journal.glob("*.json"))
    assert len(files) == 1 and "Recorded in the journal" in result.err
    text = files[0].read_text()
    for secret in ("hunter2", SANDBOX_TOKEN, "ghs_never"):
        assert secret not in text
    entry = json.loads(text)
    # the secret tag's value is nowhere; its name is only in the queue's managed keys
    assert not any("db_password" in json.dumps([i["before"], i["after"]]) for i in entry["items"])
    Draft202012Validator(schema()).validate(entry)
    assert entry["counts"] == {"applied": 5}
    assert entry["who"]["ci"]["run_url"] == "https://github.com/org/challenge/actions/runs/4242"
    assert entry["plan"]["provider"]["endpoint"].startswith(sb.url)
    first = entry["items"][0]
    assert first["before"] == {"status": "RECEIVED", "tags": {"phase": None}}
    assert first["after"] == {"status": "VALIDATED", "tags": {"phase": 1}}
    # nothing left to write: nothing recorded
    again = run_cli("apply", spec, "--auto-approve")
    assert again.code == 0 and len(list(journal.glob("*.json"))) == 1


def test_journal_folder_can_be_chosen_and_schema_is_shipped(synapse, tmp_path):
    _sb, spec = synapse
    result = run_cli("apply", spec, "--auto-approve", "--journal", tmp_path / "audit")
    assert result.code == 0, result.err
    assert len(list((tmp_path / "audit").glob("*.json"))) == 1
    shown = run_cli("schema", "journal")
    assert json.loads(shown.out)["title"] == "reconciler journal entry"


def test_kill_during_journal_writes_leaves_no_torn_entry(tmp_path):
    """A writer killed at random moments while writing large entries: every entry file
    present is complete (a kill leaves at most a hidden temporary file)."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from reconciler.journal import write_entry\n"
        "big = {'format': 'x', 'id': '', 'items': ['v' * 100] * 20000}\n"
        "n = 0\n"
        "while True:\n"
        "    n += 1\n"
        "    write_entry(Path(sys.argv[1]), {**big, 'id': f'20261205T000000{n:06d}Z-0000abcd'})\n"
    )
    for delay in (0.3, 0.45, 0.6, 0.75):
        proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "j")])
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    entries = [p for p in (tmp_path / "j").iterdir() if not p.name.startswith(".")]
    assert entries
    for path in entries:
        assert len(json.loads(path.read_text())["items"]) == 20000
    _, errors = read_journal(tmp_path / "j")
    assert len(errors) == len(entries)  # not journal entries (format x), but each whole


def test_endpoint_credentials_never_enter_an_entry():
    from reconciler.journal import without_userinfo

    assert without_userinfo("https://someone:pa55word@host:8443/repo/v1") == "https://host:8443/repo/v1"
    assert without_userinfo("https://host/x") == "https://host/x"
