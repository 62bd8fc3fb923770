"""What a person at a terminal sees on stderr: progress lines on a real TTY only, never
with -q; with -v one log line per HTTP request and urllib3's retry warnings, which stay
silent without -v."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path


from cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def run_with_tty_stderr(*args: str) -> tuple[int, str, str]:
    """Run the CLI in a child process whose stderr is a pseudo-terminal."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            child.kill()
            raise AssertionError("no output for 60 s")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    out = child.stdout.read().decode()
    child.stdout.close()
    return child.wait(timeout=60), out, b"".join(chunks).decode()


def test_progress_lines_for_reading_and_writing_on_a_terminal(example):
    code, out, err = run_with_tty_stderr("apply", str(example), "--auto-approve")
    assert code == 0, err
    assert re.search(r"\r\x1b\[KReading queue 9615000: 20 items  [\d,]+/s\r?\n", err), repr(err)
    assert re.search(r"\r\x1b\[KReading queue 9615001: 3 items  [\d,]+/s\r?\n", err), repr(err)
    assert re.search(r"\r\x1b\[KWriting: 11/11 items  [\d,]+/s\r?\n", err), repr(err)
    assert "Reading" not in out and "\x1b" not in out  # stdout: the report alone, no colour
    assert "Apply complete: 11 applied" in out


def test_quiet_silences_progress_on_a_terminal(example):
    code, out, err = run_with_tty_stderr("-q", "plan", str(example))
    assert code == 0
    assert err == ""
    assert "Plan: 11 to change" in out


def test_no_progress_when_stderr_is_not_a_terminal(example):
    result = run_cli("apply", example, "--auto-approve")
    assert result.code == 0
    assert "Reading" not in result.err and "Writing" not in result.err and "\r" not in result.err


def synapse_spec(tmp_path: Path, url: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\n'
        'queues:\n  - id: "9615000"\n    submissions:\n      "9700001": {status: SCORED}\n'
    )
    return spec


def test_verbose_logs_each_request_with_method_path_status_and_time(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 3)])
    spec = synapse_spec(tmp_path, sandbox.url)
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    result = run_cli("-v", "apply", spec, "--auto-approve", env=env)
    assert result.code == 0, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("INFO reconciler.http: ")]
    assert re.fullmatch(
        r"INFO reconciler\.http: GET /repo/v1/evaluation/9615000/submission/status/all\?\S* -> 200 in \d+ ms",
        lines[0],
    ), lines
    put = r"INFO reconciler\.http: PUT /repo/v1/evaluation/9615000/statusBatch -> 200 in \d+ ms"
    assert any(re.fullmatch(put, line) for line in lines), lines
    assert sandbox.token not in result.err


def test_without_verbose_nothing_is_logged(make_sandbox, tmp_path):
    sandbox = make_sandbox(synthetic=[("9615000", 3)])
    result = run_cli("plan", synapse_spec(tmp_path, sandbox.url), env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 0
    assert result.err == ""


def test_urllib3_retry_warnings_only_with_verbose(make_sandbox, tmp_path):
    """The sandbox drops the first response (random_seed 3 with drop_rate 0.5); urllib3
    retries the GET and says so at WARNING, which only -v shows."""
    runs = {}
    for flags in ((), ("-v",)):
        sandbox = make_sandbox(synthetic=[("9615000", 3)], drop_rate=0.5, random_seed=3)
        result = run_cli(*flags, "plan", synapse_spec(tmp_path, sandbox.url), env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
        assert result.code == 0, result.err
        runs[flags] = result.err
    assert runs[()] == ""
    assert re.search(r"^WARNING urllib3\.connectionpool: Retrying \(", runs[("-v",)], flags=re.M), runs
