"""`reconciler export`: live state as a spec that plans to no changes."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from cli_helpers import run_cli

NASTY_STRINGS = ["NO", "yes", "on", "1.0", "0o17", "0x1F", "1_000", "2024-01-01", "", " lead", "a: b",
                 "#x", "null", "~", "true", ".inf", "- x", "multi\nline", "émoji ✓", "[1]", "{a: 1}"]


def seed(tmp_path, items):
    (tmp_path / "live.json").write_text(json.dumps({"queues": [{"id": "9615000", "items": items}]}))
    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nprovider: {type: local, path: state.db, seed: live.json}\n"
                    "queues:\n  - id: \"9615000\"\n")
    return spec


def test_exported_spec_plans_to_no_changes_with_nasty_values(tmp_path):
    items = [{"id": str(9700001 + i), "status": "SCORED", "tags": {"v": value}, "locked": i % 2 == 0}
             for i, value in enumerate(NASTY_STRINGS)]
    items.append({"id": "9800001", "status": "RECEIVED",
                  "tags": {"f": 1.0, "i": 1, "b": False, "lst": [1, 2], "big": 1e300, "neg": -0.5}})
    items.append({"id": "9800002", "status": "ACCEPTED", "tags": {}})
    spec = seed(tmp_path, items)
    out = tmp_path / "sub" / "exported.yaml"
    out.parent.mkdir()
    result = run_cli("export", spec, "-o", out)
    assert result.code == 0, result.err
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    again = run_cli("plan", out, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_exported_entries_are_sorted_and_minimal(tmp_path):
    spec = seed(tmp_path, [
        {"id": "9700010", "status": "SCORED", "tags": {}, "locked": False},
        {"id": "9700002", "status": "RECEIVED", "tags": {"a": "x"}, "locked": True},
    ])
    result = run_cli("export", spec, "-o", "-")
    assert result.code == 0
    body = result.out
    assert body.index("9700002") < body.index("9700010")
    assert "locked: false" not in body and "tags: {}" not in body
    assert "locked: true" in body


def test_exported_timestamps_round_trip(tmp_path):
    spec = tmp_path / "spec.yaml"
    (tmp_path / "live.yaml").write_text(
        "queues:\n- id: '9615000'\n  items:\n  - {id: '9700001', status: SCORED, tags: {when: 2024-05-01T10:00:00Z}}\n")
    spec.write_text("version: 1\nprovider: {type: local, path: state.db, seed: live.yaml}\n"
                    "queues:\n  - id: \"9615000\"\n")
    out = tmp_path / "exported.yaml"
    assert run_cli("export", spec, "-o", out).code == 0
    assert run_cli("plan", out, "--detailed-exitcode").code == 0


def test_export_on_the_synapse_sandbox_round_trips(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 5)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(f'version: 1\nprovider: {{type: synapse, endpoint: "{sandbox.url}"}}\n'
                    'queues:\n  - id: "9615000"\n    safety: {max_change_percent: 100}\n'
                    '    submissions:\n      "9700001": {status: SCORED, tags: {score: 0.5, note: "NO", n: [1, 2]}}\n')
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    assert run_cli("apply", spec, "--auto-approve", env=env).code == 0
    out = tmp_path / "exported.yaml"
    assert run_cli("export", spec, "-o", out, env=env).code == 0
    assert run_cli("plan", out, "--detailed-exitcode", env=env).code == 0
