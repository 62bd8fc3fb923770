"""The Synapse provider end to end through the CLI, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from cli_helpers import run_cli
from serve_process import serving

QUEUE = "9615000"


def write_spec(tmp_path: Path, endpoint: str, body: str = "") -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        f'provider: {{type: synapse, endpoint: "{endpoint}"}}\n'
        "queues:\n"
        f'  - id: "{QUEUE}"\n'
        "    safety: {max_change_percent: 100}\n"
        "    rules:\n"
        "      - name: validate-received\n"
        "        where: {status: RECEIVED}\n"
        "        set: {status: VALIDATED, tags: {phase: 1}}\n" + body
    )
    return spec


def external_update(url: str, token: str, sub_id: str, status: str, annotations: dict) -> dict:
    """Another client (a scoring script): GET the status, change it, PUT it back."""
    headers = {"Authorization": f"Bearer {token}"}
    got = requests.get(f"{url}/evaluation/submission/{sub_id}/status", headers=headers, timeout=10)
    got.raise_for_status()
    status_obj = got.json()
    status_obj["status"] = status
    annos = status_obj.setdefault(
        "submissionAnnotations", {"id": sub_id, "etag": status_obj["etag"], "annotations": {}}
    )
    annos.setdefault("annotations", {}).update(annotations)
    put = requests.put(f"{url}/evaluation/submission/{sub_id}/status", json=status_obj, headers=headers, timeout=10)
    put.raise_for_status()
    return put.json()


def read_status(url: str, token: str, sub_id: str) -> dict:
    got = requests.get(
        f"{url}/evaluation/submission/{sub_id}/status", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    got.raise_for_status()
    return got.json()


@pytest.fixture
def served(tmp_path):
    """`reconciler serve --synthetic 9615000:1000` as a real separate process."""
    with serving(
        "--port",
        "0",
        "--token",
        "e2e-token",
        "--synthetic",
        f"{QUEUE}:1000",
        "--db",
        str(tmp_path / "sandbox.db"),
        "--log-requests",
        str(tmp_path / "requests.jsonl"),
    ) as sandbox:
        assert sandbox.url.endswith("/repo/v1")
        yield sandbox.url, "e2e-token", tmp_path / "requests.jsonl"


def test_plan_apply_plan_on_a_served_sandbox(served, tmp_path):
    url, token, log = served
    env = {"SYNAPSE_AUTH_TOKEN": token}
    spec = write_spec(tmp_path, url)

    first = run_cli("plan", spec, "--detailed-exitcode", env=env)
    assert first.code == 2, first.err
    assert "Plan: 1000 to change" in first.out

    applied = run_cli("apply", spec, "--auto-approve", env=env)
    assert applied.code == 0, applied.err
    assert "1000 applied" in applied.out

    again = run_cli("plan", spec, "--detailed-exitcode", env=env)
    assert again.code == 0, again.err
    assert "No changes" in again.out

    requests_seen = [json.loads(line) for line in log.read_text().splitlines()]
    batches = [r for r in requests_seen if r["method"] == "PUT" and r["path"].endswith("/statusBatch")]
    pages = [r for r in requests_seen if r["path"].endswith("/submission/status/all")]
    assert len(batches) == 2  # ceil(1000 / 500)
    # three listings (plan, apply's plan, plan), each reading the floor(1000/100)+1 pages
    # once, plus at most two asked for past the end while the end was not yet known
    offsets = [int(r["query"].rsplit("offset=", 1)[1]) for r in pages]
    assert all(offsets.count(100 * n) == 3 for n in range(11))
    assert len(offsets) - 3 * 11 <= 3 * 2 and min(offsets) == 0 and all(o % 100 == 0 for o in offsets)
    assert read_status(url, token, "9700500")["statusVersion"] == 2


def test_concurrent_writer_is_never_overwritten(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[(QUEUE, 20)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    spec = write_spec(tmp_path, sandbox.url)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file, env=env).code == 0

    # A scoring pipeline writes between review and apply.
    theirs = external_update(
        sandbox.url, sandbox.token, "9700007", "SCORED", {"score": {"type": "DOUBLE", "value": ["0.83"]}}
    )

    applied = run_cli("apply", plan_file, "--auto-approve", env=env)
    assert applied.code == 1
    assert "9700007" in applied.out and "stale" in applied.out.lower()
    assert "19 applied" in applied.out
    untouched = read_status(sandbox.url, sandbox.token, "9700007")
    assert untouched["etag"] == theirs["etag"] and untouched["status"] == "SCORED"

    # Spec mode converges on the same item and keeps the pipeline's score.
    converged = run_cli("apply", spec, "--auto-approve", env=env)
    assert converged.code == 0, converged.err
    final = read_status(sandbox.url, sandbox.token, "9700007")
    assert final["submissionAnnotations"]["annotations"]["score"] == {"type": "DOUBLE", "value": ["0.83"]}
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 0


def test_unmanaged_annotations_and_fields_survive_a_write(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[(QUEUE, 3)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    external_update(sandbox.url, sandbox.token, "9700001", "RECEIVED", {"team": {"type": "STRING", "value": ["owls"]}})
    before = read_status(sandbox.url, sandbox.token, "9700001")
    spec = write_spec(tmp_path, sandbox.url)
    assert run_cli("apply", spec, "--auto-approve", env=env).code == 0
    after = read_status(sandbox.url, sandbox.token, "9700001")
    assert after["status"] == "VALIDATED"
    assert after["submissionAnnotations"]["annotations"]["team"] == {"type": "STRING", "value": ["owls"]}
    assert after["submissionAnnotations"]["annotations"]["phase"] == {"type": "LONG", "value": ["1"]}
    for field in ("entityId", "versionNumber", "canCancel", "cancelRequested"):
        assert after.get(field) == before.get(field)


def test_apply_of_a_plan_file_reads_nothing(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[(QUEUE, 250)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    spec = write_spec(tmp_path, sandbox.url)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file, env=env).code == 0
    seen = len(sandbox.request_log())
    assert run_cli("apply", plan_file, "--auto-approve", env=env).code == 0
    during_apply = sandbox.request_log()[seen:]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1]) for r in during_apply] == [("PUT", "statusBatch")]
    assert os.path.getsize(plan_file) > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        {"fail_rate": 0.2, "drop_rate": 0.1, "random_seed": 7},
        {"max_concurrent": 1, "max_per_minute": 600},
    ],
)
def test_apply_converges_under_faults_and_writes_each_change_once(make_sandbox, tmp_path, faults):
    sandbox = make_sandbox(synthetic=[(QUEUE, 300)], **faults)
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    spec = write_spec(tmp_path, sandbox.url)

    applied = run_cli("apply", spec, "--auto-approve", env=env)

    assert applied.code == 0, applied.err + applied.out
    assert "300 applied" in applied.out
    # read the store directly: the faults would hit a plain HTTP read too
    versions = {sandbox.store.get(str(9700001 + i)).version for i in range(300)}
    assert versions == {2}  # written exactly once: a dropped-then-retried batch is not re-sent blindly
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 0


@pytest.mark.slow
def test_writer_running_during_apply_loses_nothing_and_apply_converges(make_sandbox, tmp_path):
    import random
    import threading

    sandbox = make_sandbox(synthetic=[(QUEUE, 2000)], latency_ms=5)
    spec = write_spec(tmp_path, sandbox.url)
    done = threading.Event()
    landed: list[tuple[str, str]] = []  # (item, annotation key) the writer got a 200 for
    refused = []

    def writer() -> None:
        rng = random.Random(3)
        headers = {"Authorization": f"Bearer {sandbox.token}"}
        with requests.Session() as http:
            n = 0
            while not done.is_set():
                sub_id = str(9700001 + rng.randrange(2000))
                status = http.get(
                    f"{sandbox.url}/evaluation/submission/{sub_id}/status", headers=headers, timeout=10
                ).json()
                key = f"ext{n}"
                n += 1
                annos = status.setdefault("submissionAnnotations", {"id": sub_id, "etag": status["etag"]})
                annos.setdefault("annotations", {})[key] = {"type": "STRING", "value": ["x"]}
                status["status"] = rng.choice(["RECEIVED", "SCORED"])
                put = http.put(
                    f"{sandbox.url}/evaluation/submission/{sub_id}/status", json=status, headers=headers, timeout=10
                )
                (landed if put.status_code == 200 else refused).append((sub_id, key))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = run_cli("apply", spec, "--auto-approve", env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    finally:
        done.set()
        thread.join(timeout=30)
    assert result.code == 0, result.out[-2000:] + result.err
    assert landed, "the writer never got a write in"
    print(
        f"\nwriter: {len(landed)} writes landed, {len(refused)} refused (412); "
        f"apply: {result.out.strip().splitlines()[-1]}"
    )
    for sub_id, key in landed:  # no external write was lost
        assert key in sandbox.store.get(sub_id).tags
    again = run_cli("apply", spec, "--auto-approve", env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert again.code == 0
    assert run_cli("plan", spec, "--detailed-exitcode", env={"SYNAPSE_AUTH_TOKEN": sandbox.token}).code == 0


def test_batch_refused_for_good_stops_the_run_with_an_exact_report(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[(QUEUE, 1500)], forbid_batches=[2])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    spec = write_spec(tmp_path, sandbox.url)

    result = run_cli("apply", spec, "--auto-approve", "--format", "json", env=env)

    assert result.code == 1
    report = json.loads(result.out)
    by_outcome: dict[str, list[str]] = {}
    for entry in report["results"]:
        by_outcome.setdefault(entry["outcome"], []).append(entry["item_id"])
    assert len(by_outcome["applied"]) == 500 and len(by_outcome["failed"]) == 500
    assert len(by_outcome["skipped"]) == 500  # sticky: the third batch was never sent
    failed = next(e for e in report["results"] if e["outcome"] == "failed")
    assert "UPDATE_SUBMISSION" in failed["detail"]
    batches = [r for r in sandbox.request_log() if r["path"].endswith("/statusBatch")]
    assert len(batches) == 2
    written = {sub for sub in (str(9700001 + i) for i in range(1500)) if sandbox.store.get(sub).version == 2}
    assert written == set(by_outcome["applied"])
