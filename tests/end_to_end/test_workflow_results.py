"""The workflow-results provider end to end through the CLI, against the Results fake over
HTTP; endpoint and token come from the client's environment variables."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

import reconciler.providers.workflow_results as wr
from cli_helpers import run_cli
from conftest import SANDBOX_TOKEN

PIPELINE = "frb-search"

SPEC = f"""version: 1
provider: {{type: workflow-results}}
queues:
  - id: {PIPELINE}
    safety: {{max_change_percent: 100}}
    rules:
      - name: review-successes
        where: {{status: success}}
        set: {{tags: [reviewed]}}
"""


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(wr, "BACKOFF", 0.01)
    for name in (*wr.TOKEN_ENVS, wr.ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)


def served(make_sandbox, monkeypatch, n: int, **faults):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, n)], **faults)
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
    return sb


def write_spec(tmp_path: Path, text: str = SPEC) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    return spec


def count_writes(sb) -> Counter:
    """Each work id as often as an update holding it was accepted by the fake."""
    fake, written = sb.service, Counter()
    update, body = fake.update, fake._body

    def counting(request):
        answer = update(request)
        written.update(w["id"] for w in request.get_json(cache=True))
        return answer

    fake._body = lambda request: request.get_json(cache=True) if request.method == "PUT" else body(request)
    fake.update = counting
    return written


def calls(sb, since: int = 0) -> list[str]:
    return [f"{e['method']} {e['path']}" for e in sb.request_log()[since:]]


def no_secret(*results) -> None:
    for result in results:
        assert SANDBOX_TOKEN not in result.out + result.err


def test_plan_apply_plan_is_empty_and_costs_what_it_promises(make_sandbox, monkeypatch, tmp_path):
    sb = served(make_sandbox, monkeypatch, 250)
    spec = write_spec(tmp_path)
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.err
    note = "Note: workflow-results has no etags."
    assert (planned.out + planned.err).count(note) == 1  # the guard's window, said once
    assert len(calls(sb)) == math.ceil(250 / 100) + 2
    before = len(sb.request_log())
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0, applied.err
    again = run_cli("plan", spec, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert all(d["tags"] == ["reviewed"] for d in sb.store.all(PIPELINE))
    no_secret(planned, applied, again)
    writes = [c for c in calls(sb, before) if c == "PUT /results"]
    assert len(writes) == 3


def test_apply_of_a_plan_file_writes_three_requests_per_100_works(make_sandbox, monkeypatch, tmp_path):
    sb = served(make_sandbox, monkeypatch, 250)
    spec, planfile = write_spec(tmp_path), tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", planfile).code == 0
    recorded = json.loads(planfile.read_text())
    assert recorded["provider"]["endpoint"] == sb.url and SANDBOX_TOKEN not in planfile.read_text()
    before = len(sb.request_log())
    result = run_cli("apply", planfile, "--auto-approve")
    assert result.code == 0, result.err
    # 3 × ceil(250/100): the guard's read, the PUT, the read-back of what it wrote
    assert calls(sb, before) == ["POST /view", "PUT /results", "POST /view"] * 3


def test_a_writer_between_plan_and_apply_is_named_stale_and_keeps_its_fields(make_sandbox, monkeypatch, tmp_path):
    sb = served(make_sandbox, monkeypatch, 3)
    a, b, c = sb.store.all(PIPELINE)
    spec, planfile = write_spec(tmp_path), tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", planfile).code == 0
    # the pipeline, meanwhile: a fails on re-processing; b gets a score (unmanaged)
    sb.store.put(PIPELINE, a["id"], {**a, "status": "failure", "results": {"locked": False, "snr": 3.0}})
    sb.store.put(PIPELINE, b["id"], {**b, "results": {"locked": False, "snr": 12.0}, "plots": ["b.png"]})
    result = run_cli("apply", planfile, "--auto-approve")
    assert result.code == 1
    report = result.out + result.err
    assert a["id"] in report and 'status: "success" → "failure"' in report
    assert sb.store.get(PIPELINE, a["id"]) == {**a, "status": "failure", "results": {"locked": False, "snr": 3.0}}
    assert sb.store.get(PIPELINE, b["id"]) == {
        **b,
        "results": {"locked": False, "snr": 12.0},
        "plots": ["b.png"],
        "tags": ["reviewed"],
    }
    assert sb.store.get(PIPELINE, c["id"])["tags"] == ["reviewed"]
    no_secret(result)


@pytest.mark.slow
def test_apply_converges_under_503s_and_dropped_answers_writing_each_work_once(make_sandbox, monkeypatch, tmp_path):
    sb = served(make_sandbox, monkeypatch, 300, fail_rate=0.2, drop_rate=0.1, random_seed=3)
    written = count_writes(sb)
    spec = write_spec(tmp_path)
    for _ in range(6):
        if (
            run_cli("apply", spec, "--auto-approve").code == 0
            and run_cli("plan", spec, "--detailed-exitcode").code == 0
        ):
            break
    else:
        pytest.fail("apply did not converge in 6 runs")
    ids = {d["id"] for d in sb.store.all(PIPELINE)}
    assert all(d["tags"] == ["reviewed"] for d in sb.store.all(PIPELINE))
    assert set(written) == ids and max(written.values()) == 1


def test_an_interrupted_apply_of_a_plan_file_finishes_on_the_second_run(make_sandbox, monkeypatch, tmp_path):
    sb = served(make_sandbox, monkeypatch, 250)
    spec, planfile = write_spec(tmp_path), tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", planfile).code == 0
    written = count_writes(sb)
    update, puts = sb.service.update, []

    def second_put_unavailable(request):
        puts.append(1)
        if len(puts) >= 2 and sb.service.update is not update:
            from reconciler.sandbox.workflow_results import ApiError

            raise ApiError(503, "Service temporarily unavailable")
        return update(request)

    sb.service.update = second_put_unavailable
    first = run_cli("apply", planfile, "--auto-approve")
    assert first.code == 1
    assert written.total() == 100
    sb.service.update = update
    second = run_cli("apply", planfile, "--auto-approve")
    assert second.code == 0, second.out + second.err
    assert "100 unchanged" in second.out, second.out
    assert set(written) == {d["id"] for d in sb.store.all(PIPELINE)} and max(written.values()) == 1
    no_secret(first, second)


@pytest.mark.parametrize(
    "body, where, message",
    [
        (
            '    submissions:\n      "660000000000000000000001": {status: running}\n',
            "11:36",
            "status 'running' is not a status (one of: failure, success)",
        ),
        (
            '    submissions:\n      "660000000000000000000001": {tags: {reviewed: "yes"}}\n',
            "11:43",
            "tag 'reviewed': workflow-results tags are labels, set with `true` (or a list "
            "`tags: [a, b]`) and removed with `null`",
        ),
    ],
)
def test_bad_input_is_refused_at_its_line_and_nothing_is_sent(
    make_sandbox, monkeypatch, tmp_path, body, where, message
):
    sb = served(make_sandbox, monkeypatch, 3)
    spec = write_spec(tmp_path, SPEC + body)
    for command in ("validate", "plan"):
        result = run_cli(command, spec)
        assert (result.code, result.out) == (1, "")
        assert result.err == f"error: {spec}:{where}: {message}\n"
    assert sb.request_log() == []


def test_no_endpoint_and_no_token_are_one_clear_line_each(make_sandbox, monkeypatch, tmp_path):
    spec = write_spec(tmp_path)
    result = run_cli("plan", spec)
    assert result.code == 1 and "no endpoint; set `endpoint:`" in result.err
    assert "Traceback" not in result.err
    # no token is no error by itself (the official client allows it); a server that
    # needs one refuses, and the message names the variables
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 1)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    result = run_cli("plan", spec)
    assert result.code == 1 and "Traceback" not in result.err
    assert (
        "needs a token (HTTP 401: missing x-access-token header); set one of WORKFLOW_HTTP_TOKEN, "
        "WORKFLOW_TOKEN, GITHUB_TOKEN, GITHUB_PAT" in result.err
    )


def test_where_item_reads_work_fields_from_the_same_listing(make_sandbox, monkeypatch, tmp_path):
    """Issue 23: `creation`, `site`, `user`, `event` come from the /view pages the plan
    reads anyway (projected only when a rule reads one): no request per work."""
    sb = served(make_sandbox, monkeypatch, 250)
    spec = write_spec(
        tmp_path,
        SPEC.replace(
            "where: {status: success}",
            # synthetic works are created at 1_700_000_000 + n seconds, event 9000000 + n
            "where: {status: success, item: {creation: {lt: 2023-11-14T22:15:00Z}, site: local, "
            "user: sandbox, event: {ge: 9000010}}}",
        ),
    )
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.err
    assert "90 to change" in planned.out  # n from 10 to 99: 1_700_000_100 is 22:15:00Z
    with_fields = len(calls(sb))
    assert run_cli("plan", write_spec(tmp_path)).code == 0
    assert len(calls(sb)) - with_fields == with_fields  # the same requests as without fields
