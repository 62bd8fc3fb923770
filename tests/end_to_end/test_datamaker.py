"""The datamaker provider end to end through the CLI (reconciler.cli.main), against the
datamaker sandbox over loopback, with the token and endpoint in the environment; and
what `validate` refuses in a datamaker spec (status, non-label tag values) at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_helpers import run_cli
from datamaker_helpers import set_tags, set_tags_calls, task_tag_names

PROJECT = "7"


def write_spec(tmp_path: Path, url: str, rules: str, extra: str = "") -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        f'provider: {{type: datamaker, endpoint: "{url}"}}\n'
        "queues:\n"
        f'  - id: "{PROJECT}"\n'
        "    lock: {tag: locked}\n"
        "    safety: {max_change_percent: 100}\n" + extra + "    rules:\n" + rules
    )
    return spec


SCORE_ALL = "      - name: score-all\n        where: {}\n        set: {tags: [scored]}\n"


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.synapse/config.json of the machine
    for name in ("SYNAPSE_HOST", "SYNAPSE_PLUGIN_RUN_TENANT"):
        monkeypatch.delenv(name, raising=False)

    def use(sandbox):
        monkeypatch.setenv("SYNAPSE_ACCESS_TOKEN", sandbox.token)

    return use


def test_plan_apply_plan_is_empty_over_loopback(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 450)])
    env(sb)
    spec = write_spec(tmp_path, sb.url, SCORE_ALL)
    first = run_cli("plan", spec, "--detailed-exitcode")
    assert first.code == 2, first.err
    assert "450 to change" in first.out
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0, applied.err
    assert "450 applied" in applied.out
    assert len(set_tags_calls(sb)) == 3
    again = run_cli("plan", spec, "--detailed-exitcode")
    assert again.code == 0 and "No changes" in again.out
    assert sb.token not in first.out + first.err + applied.out + applied.err


def test_a_concurrent_writer_between_plan_and_apply_planfile_is_stale(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 10)])
    env(sb)
    spec = write_spec(
        tmp_path,
        sb.url,
        "      - name: accept\n        where: {}\n        set: {tags: {accepted: true, rejected: null}}\n",
    )
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file).code == 0
    assert sb.token not in plan_file.read_text()
    set_tags(sb, [1004], ["rejected"])
    set_tags(sb, [1005], ["scored"])
    applied = run_cli("apply", plan_file, "--auto-approve")
    assert applied.code == 1
    assert "1004" in applied.out and "stale" in applied.out.lower() and "9 applied" in applied.out
    assert task_tag_names(sb, 1004) == {"rejected"}
    assert task_tag_names(sb, 1005) == {"accepted", "scored"}


def test_an_unknown_tag_name_fails_the_plan_and_sends_nothing_else(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 5)])
    env(sb)
    spec = write_spec(tmp_path, sb.url, "      - name: s\n        where: {}\n        set: {tags: [scord]}\n")
    result = run_cli("apply", spec, "--auto-approve")
    assert result.code == 1
    assert (
        "project 7 has no tag 'scord' (did you mean 'scored'?) (its tags: accepted, locked, rejected, scored)"
        in result.err
    )
    assert [r["path"] for r in sb.request_log()] == ["/task_tags/"]


def test_status_in_a_datamaker_spec_is_refused_by_validate(tmp_path):
    spec = write_spec(
        tmp_path,
        "http://127.0.0.1:9",
        "      - name: s\n        where: {status: ACCEPTED}\n        set: {status: SCORED}\n",
    )
    result = run_cli("validate", spec)
    assert result.code == 1
    assert f"{spec}:9:" in result.err and f"{spec}:10:" in result.err  # where, then set, at their lines
    assert "status" in result.err


def test_a_tag_value_that_is_not_a_label_is_refused_by_validate(tmp_path):
    spec = write_spec(
        tmp_path, "http://127.0.0.1:9", "      - name: s\n        where: {}\n        set: {tags: {score: 0.9}}\n"
    )
    result = run_cli("validate", spec)
    assert result.code == 1 and f"{spec}:10:" in result.err


def test_json_plan_records_the_tenant_and_never_the_token(make_sandbox, tmp_path, env, monkeypatch):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3)])
    env(sb)
    monkeypatch.setenv("SYNAPSE_PLUGIN_RUN_TENANT", "acme")
    spec = write_spec(tmp_path, sb.url, SCORE_ALL)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file).code == 0
    doc = json.loads(plan_file.read_text())
    assert doc["provider"] == {"type": "datamaker", "endpoint": sb.url, "options": {"tenant": "acme"}}
    assert sb.token not in plan_file.read_text()
