"""The Supervisely provider through the CLI (reconciler.cli.main) against the fake."""

from __future__ import annotations

import collections
import json

import pytest

from cli_helpers import run_cli
from reconciler.providers.supervisely import DEFAULT_TAGS_KEY

WS = "7"
FIRST = 50001


def write_spec(tmp_path, endpoint, status="stopped", tag='"one"'):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        f'provider: {{type: supervisely, endpoint: "{endpoint}"}}\n'
        "queues:\n"
        f'  - id: "{WS}"\n'
        "    lock: {key: frozen}\n"
        "    safety: {max_change_percent: 100}\n"
        "    rules:\n"
        "      - name: stop-finished\n"
        "        where: {status: finished}\n"
        f"        set: {{status: {status}, tags: {{phase: {tag}}}}}\n"
        "    submissions:\n"
        f'      "{FIRST + 1}": {{locked: true}}\n'
    )
    return spec


@pytest.fixture
def env(monkeypatch, tmp_path):
    def setenv(sb):
        monkeypatch.setenv("API_TOKEN", sb.token)
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/supervisely.env of the developer's
        return {"API_TOKEN": sb.token}

    return setenv


def test_plan_apply_plan_is_empty_and_the_token_never_shows(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 30)])
    variables = env(sb)
    spec = write_spec(tmp_path, sb.url)
    first = run_cli("plan", spec, "--detailed-exitcode", env=variables)
    assert first.code == 2, first.err
    assert "30 to change" in first.out
    applied = run_cli("apply", spec, "--auto-approve", env=variables)
    assert applied.code == 0, applied.err + applied.out
    again = run_cli("plan", spec, "--detailed-exitcode", env=variables)
    assert again.code == 0, again.err + again.out
    for result in (first, applied, again):
        assert sb.token not in result.out + result.err
    assert sb.service.store.get(f"tasks:{WS}", str(FIRST + 1))["meta"][DEFAULT_TAGS_KEY] == {"phase": "one"}
    app = sb.service.store.get(f"tasks:{WS}", str(FIRST))["meta"]
    assert app["app"] == {"id": 10370, "name": "Sandbox App", "version": "v1"}  # unrelated keys kept


def test_the_lock_is_stored_under_the_queue_lock_key(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 3)])
    variables = env(sb)
    assert run_cli("apply", write_spec(tmp_path, sb.url), "--auto-approve", env=variables).code == 0
    meta = sb.service.store.get(f"tasks:{WS}", str(FIRST + 1))["meta"]
    assert meta == {DEFAULT_TAGS_KEY: {"phase": "one"}, "frozen": True}


def test_plan_and_apply_state_the_guard_window(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 3)])
    variables = env(sb)
    spec = write_spec(tmp_path, sb.url)
    planned = run_cli("plan", spec, env=variables)
    assert "no etags" in planned.out + planned.err
    applied = run_cli("apply", spec, "--auto-approve", env=variables)
    assert applied.code == 0 and "no etags" in applied.out + applied.err


def test_plan_file_applies_with_the_same_tags_key_and_a_concurrent_writer_is_stale(make_sandbox, tmp_path, env):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 12)])
    variables = env(sb)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        write_spec(tmp_path, sb.url).read_text().replace("type: supervisely,", "type: supervisely, tags_key: rt,")
    )
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file, env=variables).code == 0
    assert json.loads(plan_file.read_text())["provider"]["options"]["tags_key"] == "rt"
    theirs = sb.service.store.get(f"tasks:{WS}", str(FIRST + 4))
    theirs.update(status="error", meta={"pipeline": 1})
    sb.service.store.put(f"tasks:{WS}", str(FIRST + 4), theirs)
    seen = len(sb.request_log())
    applied = run_cli("apply", plan_file, "--auto-approve", env=variables)
    assert applied.code == 1 and str(FIRST + 4) in applied.out and "stale" in applied.out.lower()
    assert sb.service.store.get(f"tasks:{WS}", str(FIRST + 4))["meta"] == {"pipeline": 1}
    assert sb.service.store.get(f"tasks:{WS}", str(FIRST + 2))["meta"] == {"rt": {"phase": "one"}}
    during = collections.Counter(r["path"].rsplit("/", 1)[-1] for r in sb.request_log()[seen:])
    # the guard's re-read and the read-back of what landed: one listing each
    assert during == {"tasks.list": 2, "tasks.status.update": 11, "tasks.meta.update": 11}


@pytest.mark.parametrize(
    "status,tag,message,where",
    [
        ("Stopped", '"one"', "'Stopped'", ":10:"),  # the spec loader: closest value `stopped`
        ("stopped", "1", "tag 'phase' is an integer; Supervisely task tags are strings", ":10:"),
    ],
)
def test_validate_refuses_bad_values_at_their_line_and_sends_nothing(
    make_sandbox, tmp_path, env, status, tag, message, where
):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 3)])
    variables = env(sb)
    spec = write_spec(tmp_path, sb.url, status=status, tag=tag)
    result = run_cli("validate", spec, env=variables)
    assert result.code == 1 and message in result.err and f"spec.yaml{where}" in result.err
    if status == "Stopped":
        assert "stopped" in result.err.replace("'Stopped'", "")
    assert run_cli("plan", spec, env=variables).code == 1
    assert sb.request_log() == []


@pytest.mark.slow
def test_a_thousand_tasks_without_workspace_id_plan_and_apply_and_no_session_token_shows(make_sandbox, tmp_path, env):
    """The fake in its realistic mode (list rows without workspaceId, a deep-merging
    meta update, app tasks with a meta.sessionToken): every command's output and every
    file it writes is searched for every session token."""
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 1000)])
    assert (sb.service.list_rows, sb.service.meta_update) == ("short", "deep-merge")
    variables = env(sb)
    tasks = [sb.service.store.get(f"tasks:{WS}", str(FIRST + n)) for n in range(1000)]
    secrets = [t["meta"]["sessionToken"] for t in tasks if "sessionToken" in t["meta"]]
    assert len(secrets) >= 300
    spec = write_spec(tmp_path, sb.url)
    plan_file, exported = tmp_path / "plan.json", tmp_path / "exported.yaml"
    runs = {"plan -o": run_cli("-vv", "plan", spec, "-o", plan_file, env=variables)}
    runs.update(
        {f"plan {f}": run_cli("plan", spec, "--format", f, env=variables) for f in ("json", "markdown", "github")}
    )
    runs.update(
        {f"show {f}": run_cli("show", plan_file, "--format", f, env=variables) for f in ("text", "json", "markdown")}
    )
    runs["export"] = run_cli("export", spec, "-o", exported, env=variables)
    # between plan and apply, another client changes an app task's status and session
    victim = next(t for t in tasks if "sessionToken" in t["meta"] and t["id"] != FIRST + 1)
    victim.update(status="error", meta={**victim["meta"], "sessionToken": "sess-rotated-0f9e8d7c"})
    sb.service.store.put(f"tasks:{WS}", str(victim["id"]), victim)
    secrets.append("sess-rotated-0f9e8d7c")
    runs["apply plan file"] = run_cli("-vv", "apply", plan_file, "--auto-approve", env=variables)
    runs["apply spec"] = run_cli("-v", "apply", spec, "--auto-approve", env=variables)
    runs["plan again"] = run_cli("plan", spec, "--detailed-exitcode", env=variables)
    assert runs["plan -o"].code == 0 and "1000 to change" in runs["plan -o"].out, runs["plan -o"].err
    assert runs["export"].code == 0, runs["export"].err
    applied = runs["apply plan file"]
    assert applied.code == 1 and "999 applied" in applied.out and "1 stale" in applied.out, applied.out[-800:]
    assert f"{victim['id']}" in applied.out and "status" in applied.out
    assert runs["apply spec"].code == 0 and runs["plan again"].code == 0, runs["plan again"].out
    assert all(
        t["meta"].get("sessionToken") == s
        for t, s in (
            (sb.service.store.get(f"tasks:{WS}", str(t["id"])), t["meta"].get("sessionToken"))
            for t in tasks
            if t["id"] != victim["id"]
        )
    )  # sent back exactly as read
    shown = "\n".join(r.out + r.err for r in runs.values())
    files = "\n".join(
        p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".db")
    )
    assert "sessionToken" not in plan_file.read_text()
    assert [s for s in secrets if s in shown or s in files] == []


def test_where_item_reads_task_fields_from_the_listed_rows(make_sandbox, tmp_path, env):
    """Issue 23: startedAt and finishedAt come with the task rows the plan lists; userId
    does not (short rows), so validate refuses it rather than a request per task."""
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 30)])
    variables = env(sb)
    spec = write_spec(tmp_path, sb.url)
    baseline = run_cli("plan", spec, env=variables)
    assert baseline.code == 0, baseline.err
    count = len(sb.request_log())
    spec.write_text(
        spec.read_text().replace(
            "where: {status: finished}",
            "where: {status: finished, item: {startedAt: {lt: now}, finishedAt: {exists: true}}}",
        )
    )
    planned = run_cli("plan", spec, env=variables)
    assert planned.code == 0, planned.err
    assert planned.out.count("phase") == baseline.out.count("phase") > 0
    assert len(sb.request_log()) - count == count  # no request per task
    spec.write_text(spec.read_text().replace("{lt: now}", "{gt: now}"))
    assert "phase" not in run_cli("plan", spec, env=variables).out
    spec.write_text(spec.read_text().replace("finishedAt:", "userId:"))
    refused = run_cli("validate", spec, env=variables)
    assert refused.code == 1 and "no field 'userId'" in refused.err and "(fields: finishedAt, startedAt)" in refused.err
