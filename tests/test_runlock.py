"""One run per spec on a machine (issue 29 item 2, docs/operations.md): two `apply` processes
on the same spec against the workflow-results fake, a lock left by a killed run taken
over, and the lock released however a run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_cli
from conftest import SANDBOX_TOKEN
from reconciler.durations import parse_duration
from reconciler.errors import UserError
from reconciler.runlock import lock_path
from end_to_end.test_workflow_results import PIPELINE, SPEC


@pytest.fixture
def served(make_sandbox, monkeypatch, tmp_path):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 20)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    return sb, spec


def start_apply(spec: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve", *extra],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_holder(spec: Path, proc: subprocess.Popen) -> dict:
    """The lock file's holder once `proc` has written it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return json.loads(lock_path(str(spec)).read_text())
        except (OSError, ValueError):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
    raise AssertionError("the first run never took the lock")


def writes(sb) -> int:
    return sum(1 for r in sb.request_log() if r["method"] == "PUT" and r["status"] == 200)


def test_second_apply_refuses_then_one_that_waits_writes_nothing_twice(served):
    sb, spec = served
    sb.faults.hold_after(0)  # the first run holds the lock, its first request held
    first = start_apply(spec)
    try:
        holder = wait_for_holder(spec, first)
        assert holder["pid"] == first.pid
        refused = subprocess.run(
            [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve"],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and holder["started"] in lines[0], lines
        assert "--wait-lock" in lines[0]
        waiting = start_apply(spec, "--wait-lock", "60s")
        time.sleep(1.5)
        assert waiting.poll() is None  # still waiting for the lock
    finally:
        sb.faults.release()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "20 applied" in out
    written_once = writes(sb)
    out2, err2 = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err2
    assert "No changes" in out2, out2  # planned after the first run ended
    assert writes(sb) == written_once  # so nothing was written twice
    assert not lock_path(str(spec)).exists()


def test_lock_of_a_killed_run_is_taken_over_with_a_note(served):
    sb, spec = served
    sb.faults.hold_after(0)
    first = start_apply(spec)
    wait_for_holder(spec, first)
    first.kill()
    first.wait(timeout=30)
    sb.faults.release()
    assert lock_path(str(spec)).exists()  # kill -9: nobody removed it
    result = run_cli("apply", spec, "--auto-approve")
    assert result.code == 0, result.err
    assert f"took over the run lock {lock_path(str(spec))} left by pid {first.pid}" in result.err
    assert not lock_path(str(spec)).exists()


def test_lock_released_after_a_failing_run(served, tmp_path):
    sb, spec = served
    sb.stop()  # the service is down: apply fails
    failed = run_cli("apply", spec, "--auto-approve")
    assert failed.code == 1 and "in use" not in failed.err
    assert not lock_path(str(spec)).exists()
    again = run_cli("apply", spec, "--auto-approve")
    assert again.code == 1 and "in use" not in again.err and "took over" not in again.err


def test_sigterm_releases_the_lock(served):
    sb, spec = served
    sb.faults.hold_after(0)
    first = start_apply(spec)
    try:
        wait_for_holder(spec, first)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    finally:
        sb.faults.release()
    assert not lock_path(str(spec)).exists()


def test_wait_lock_duration_is_checked():
    assert parse_duration("1m30s", "--x") == 90
    assert parse_duration("250ms", "--x") == 0.25
    with pytest.raises(UserError, match="--wait-lock 'soon': not a duration"):
        parse_duration("soon", "--wait-lock")
