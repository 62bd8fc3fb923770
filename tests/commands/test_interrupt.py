"""Ctrl-C (SIGINT) and SIGTERM while apply writes (reconciler/commands/interrupt.py, issue 27
item 4): the write in flight is finished and reported, nothing is sent after it, exit 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from service_cli import SERVICES, write_spec


def interrupted_apply(make_sandbox, tmp_path, sig, *args):
    """2,500 items, batches of 500: the second batch is held in flight when `sig` is
    sent, then released; returns (exit code, stdout, stderr, items written)."""
    sandbox = make_sandbox(synthetic=[("9615000", 2500)])
    spec = write_spec(SERVICES["synapse"], sandbox.url, tmp_path)  # RECEIVED → VALIDATED
    sandbox.faults.hold_after(1, path_contains="/statusBatch")
    env = dict(os.environ, SYNAPSE_AUTH_TOKEN=sandbox.token)
    out_file, err_file = (open(tmp_path / name, "w+") for name in ("out.txt", "err.txt"))  # noqa: SIM115
    # files, not pipes: the plan of 2,500 changes would fill a pipe nobody reads yet
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", str(spec), "--auto-approve", *args],
        env=env,
        stdout=out_file,
        stderr=err_file,
        text=True,
    )
    deadline = time.monotonic() + 60
    while sum(r["path"].endswith("/statusBatch") for r in sandbox.request_log()) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the second batch is sent and held
    proc.send_signal(sig)
    time.sleep(0.3)
    sandbox.faults.release()  # the write in flight is answered
    proc.wait(timeout=60)
    out, err = ((f.seek(0), f.read(), f.close())[1] for f in (out_file, err_file))
    written = sum(1 for i in range(2500) if sandbox.store.get(str(9700001 + i)).version == 2)
    return proc.returncode, out, err, written


@pytest.mark.slow
def test_ctrl_c_during_apply_finishes_the_write_in_flight_reports_and_exits_130(make_sandbox, tmp_path):
    code, out, err, written = interrupted_apply(make_sandbox, tmp_path, signal.SIGINT)
    assert code == 130, err
    assert written == 1000, err  # the first batch and the one in flight; nothing sent after
    assert "SIGINT received: finishing the write in flight" in err
    assert "Aborted." not in err
    assert "Apply interrupted (SIGINT) after the write in flight: 1000 applied" in out
    assert "1500 skipped (not sent)" in out
    assert "not sent: apply was interrupted (SIGINT)" in out and "… and 1,499 more with the same reason" in out


@pytest.mark.slow
def test_sigterm_during_apply_prints_the_json_report(make_sandbox, tmp_path):
    code, out, err, written = interrupted_apply(make_sandbox, tmp_path, signal.SIGTERM, "--format", "json")
    assert code == 130, err
    report = json.loads(out)
    assert "Interrupted." not in err
    assert report["interrupted"] == "SIGTERM" and report["ok"] is False
    assert report["summary"]["applied"] == written == 1000
    assert report["summary"]["skipped"] == 1500


def test_ctrl_c_outside_the_writes_is_interrupted_130_not_aborted(capsys):
    """click turns Ctrl-C into Abort ("Aborted.", exit 1): nothing was written, but it
    was an interrupt, and shells and CI read 130 as one."""
    import click

    from reconciler.error_handler import run_command

    def reading() -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise click.Abort() from None

    def interrupted_in_click() -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise click.Abort() from exc

    assert run_command(interrupted_in_click) == 130
    assert "Interrupted." in capsys.readouterr().err
    assert run_command(reading) == 1  # a plain Abort (a refused prompt) stays 1
