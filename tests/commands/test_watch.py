"""`reconciler watch` (issue 25): cycles that plan and apply, back off on failures,
report a bad spec each cycle without applying from it, and stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SANDBOX_TOKEN
from reconciler.commands.watch import Backoff
from reconciler.runlock import lock_path
from end_to_end.test_synapse import QUEUE, write_spec


class Watcher:
    """A `reconciler watch` process; its JSON lines collected as they come."""

    def __init__(self, spec: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "-q", "watch", str(spec), "--format", "json", *extra],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.records: list[dict] = []
        self.seen = 0  # records wait_for has looked at: each is matched once
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for text in self.proc.stdout:  # type: ignore[union-attr]
            self.records.append(json.loads(text))

    def wait_for(self, predicate, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records[self.seen :]:
                self.seen += 1
                if predicate(record):
                    return record
            assert self.proc.poll() is None, (self.records, self.proc.stderr.read())  # type: ignore[union-attr]
            time.sleep(0.05)
        raise AssertionError(f"no such cycle in {self.records}")

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return code, self.proc.stderr.read()  # type: ignore[union-attr]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def add_submissions(db: Path, ids: list[str]) -> None:
    """Another process (an organiser's submission pipeline) adds RECEIVED submissions."""
    script = (
        "import sys\nfrom reconciler.store import Store, NewItem\n"
        "with Store(sys.argv[1]) as s:\n"
        "    s.insert(sys.argv[2], [NewItem(id=i) for i in sys.argv[3:]])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(db), QUEUE, *ids], check=True, timeout=60)


def applied(n: int):
    return lambda r: r["outcome"] == "applied" and r["counts"].get("applied") == n


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.mark.slow
def test_watcher_applies_new_submissions_survives_an_outage_and_stops_on_sigterm(make_sandbox, env, tmp_path):
    db = tmp_path / "live.db"
    sb = make_sandbox(db_path=db, synthetic=[(QUEUE, 3)])
    port = sb.config.port or int(sb.url.split(":")[2].split("/")[0])
    spec = write_spec(tmp_path, sb.url)
    status = tmp_path / "status.json"
    watcher = Watcher(spec, "--every", "1s", "--apply", "--max-backoff", "4s", "--status-file", str(status))
    try:
        first = watcher.wait_for(applied(3))
        assert first["counts"]["changes"] == 3 and first["requests"] > 0 and "duration_s" in first
        watcher.wait_for(lambda r: r["outcome"] == "no-changes")
        add_submissions(db, ["9800001", "9800002"])  # while the watcher runs
        watcher.wait_for(applied(2))
        assert sb.service.store.get("9800002").status == "VALIDATED"

        sb.stop()
        failed = [watcher.wait_for(lambda r: r["outcome"] == "failed", timeout=120) for _ in range(2)]
        assert failed[1]["next_in_s"] > failed[0]["next_in_s"]  # backing off
        assert watcher.proc.poll() is None
        add_submissions(db, ["9800003"])
        sb = make_sandbox(db_path=db, port=port)
        recovered = watcher.wait_for(applied(1), timeout=120)
        assert recovered["next_in_s"] == 1  # back to --every after a good cycle
        assert json.loads(status.read_text())["time"] >= recovered["time"]
        assert lock_path(str(spec)).exists()  # held while watching
    finally:
        code, err = watcher.stop() if watcher.proc.poll() is None else (watcher.proc.returncode, "")
        watcher.kill()
    assert code == 0, err
    assert not lock_path(str(spec)).exists()
    journal = list((tmp_path / ".reconciler" / "journal").glob("*.json"))
    assert len(journal) == 3  # the three cycles that wrote
    assert {json.loads(p.read_text())["command"] for p in journal} == {"watch"}


def test_bad_spec_edit_is_reported_each_cycle_and_nothing_applied(make_sandbox, env, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 3)])
    spec = write_spec(tmp_path, sb.url)
    good = spec.read_text()
    spec.write_text(good.replace("set: {status: VALIDATED", "set: {status: [VALIDATED"))
    watcher = Watcher(spec, "--every", "0.2s", "--apply")
    try:
        bad = [watcher.wait_for(lambda r: r["outcome"] == "invalid") for _ in range(2)]
        assert "spec.yaml:" in bad[0]["message"]
        assert bad[1]["next_in_s"] == 0.2  # a spec error is not a service failure: no back-off
        assert sb.service.store.get("9700001").status == "RECEIVED"
        spec.write_text(good)
        watcher.wait_for(applied(3))
    finally:
        code, _ = watcher.stop()
        watcher.kill()
    assert code == 0


def test_blocked_plan_is_refused_not_applied(make_sandbox, env, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 20)])
    spec = write_spec(tmp_path, sb.url)
    spec.write_text(spec.read_text().replace("max_change_percent: 100", "max_change_percent: 10"))
    watcher = Watcher(spec, "--every", "0.2s", "--apply")
    try:
        refused = watcher.wait_for(lambda r: r["outcome"] == "refused")
        assert "max_change_percent" in refused["message"]
        assert sb.service.store.get("9700001").status == "RECEIVED"
    finally:
        watcher.stop()
        watcher.kill()


def test_watcher_holds_the_spec_lock(make_sandbox, env, tmp_path):
    from cli_helpers import run_cli

    sb = make_sandbox(synthetic=[(QUEUE, 3)])
    spec = write_spec(tmp_path, sb.url)
    watcher = Watcher(spec, "--every", "0.2s")
    try:
        watcher.wait_for(lambda r: r["outcome"] == "changes")
        refused = run_cli("apply", spec, "--auto-approve")
        assert refused.code == 1 and f"pid {watcher.proc.pid}" in refused.err
    finally:
        watcher.stop()
        watcher.kill()


def test_backoff_doubles_to_the_cap_and_resets():
    backoff = Backoff(every=1, cap=5)
    assert [backoff.after(True) for _ in range(4)] == [2, 4, 5, 5]
    assert backoff.after(False) == 1
    assert backoff.after(True) == 2


@pytest.mark.slow
def test_sigterm_during_a_write_lets_it_finish_reports_the_cycle_and_exits_0(make_sandbox, env, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 3)])
    spec = write_spec(tmp_path, sb.url)
    sb.faults.hold_after(1, path_contains="/submission/status/all")  # the listing served, the write held
    watcher = Watcher(spec, "--every", "1s", "--apply")
    try:
        time.sleep(2)  # start-up and the listing are done well within 2 s
        assert not watcher.records  # the cycle is still in its write
        watcher.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sb.faults.release()
        code = watcher.proc.wait(timeout=60)
        watcher._reader.join(timeout=10)
    finally:
        watcher.kill()
    assert code == 0
    (last,) = watcher.records  # the cycle in flight, reported; no other began
    assert last["outcome"] == "applied" and last["counts"]["applied"] == 3 and last["next_in_s"] is None
    assert all(sb.service.store.get(f"970000{i}").status == "VALIDATED" for i in (1, 2, 3))
