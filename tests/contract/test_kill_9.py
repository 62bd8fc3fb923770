"""apply killed with SIGKILL mid-run (no cleanup, no report), then run again: the second
run converges, nothing is lost and nothing is written twice (docs/RELIABILITY.md).

One scenario for every backend with a kill -9 hook (`Backend.kill_9` in tests/backends/):
the hook sets the fake, the spec and the environment up and says what "interrupted" and
"each write once" look like on its service; the kill itself, the re-run and the empty
plan after it are the same for all.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time

import pytest
from backends import NAMES
from backends.base import Backend
from cli_helpers import run_cli

# the backends whose module overrides the hook
KILLABLE = [name for name in NAMES if importlib.import_module(f"backends.{name}").Backend.kill_9 is not Backend.kill_9]


@pytest.mark.slow
@pytest.mark.parametrize("backend", KILLABLE, indirect=True)
def test_kill_9_mid_apply_then_rerun_converges_without_double_writes(backend):
    scenario = backend.kill_9()
    assert scenario is not None and backend.fake is not None
    fake = backend.fake
    fake.faults.hold_after(scenario.served, path_contains=scenario.path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "-q", "apply", str(scenario.spec), "--auto-approve"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not scenario.reached(fake.request_log()) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the client sends its next request, which the fake holds
    finally:
        proc.kill()  # SIGKILL: no cleanup, no report
        proc.wait(timeout=30)
    served = fake.request_log()
    fake.faults.release()  # the held requests reach a closed connection; they may still land
    time.sleep(0.5)
    scenario.interrupted(served)
    again = run_cli("apply", scenario.spec, "--auto-approve")
    assert again.code == 0, again.out + again.err
    scenario.converged(again.out)
    assert run_cli("plan", scenario.spec, "--detailed-exitcode").code == 0
