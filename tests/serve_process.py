"""`reconciler serve` as a separate process, the way a user or a CI job starts it.

    with serving("--service", "datamaker", "--token", "t", "--synthetic", "7:5") as served:
        requests.get(served.url + "/sdk/tasks/", ...)

The one place that starts it, waits for its "listening on URL" line with a deadline (a
server that never announces itself fails the test instead of hanging it) and always stops
the process, whatever the test body raised, so no sandbox outlives its test.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator, Sequence

# the line every fake prints once it listens (sandbox/server.py serve_forever); the
# first URL is the base URL: Synapse's holds /repo/v1, omics names a second host after it
ANNOUNCED = re.compile(r"listening on (http://127\.0\.0\.1:\d+[^\s,]*)")


@dataclass
class Served:
    url: str  # the base URL the fake announced
    line: str  # the announcement as printed ("... (store: PATH)")
    proc: subprocess.Popen
    stderr: str = ""  # what it printed after the announcement, set once it is stopped


@contextmanager
def serving(
    *args: str, command: Sequence[str] | None = None, stop: int = signal.SIGTERM, deadline: float = 60.0, **popen
) -> Iterator[Served]:
    """Start `python -m reconciler serve ARGS` (or `command`, a program printing the same
    line), wait at most `deadline` seconds for its announcement, yield it; on the way out
    send `stop` (SIGTERM, as a service manager does; SIGINT as Ctrl-C does) and wait for
    the exit, killing the process if it outlives 30 s."""
    argv = list(command) if command else [sys.executable, "-m", "reconciler", "serve", *args]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, **popen)
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        # every line, so the process never blocks on a full pipe; "" at the end
        for line in proc.stderr:
            lines.put(line)
        lines.put("")

    reader = threading.Thread(target=drain, name="serving-stderr", daemon=True)
    reader.start()
    served = None
    try:
        seen: list[str] = []
        until = time.monotonic() + deadline
        while served is None:
            try:
                line = lines.get(timeout=max(0.0, until - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"the sandbox did not announce its URL within {deadline} s: {''.join(seen)}"
                ) from None
            if not line:
                raise AssertionError(f"the sandbox ended without announcing its URL: {''.join(seen)}")
            seen.append(line)
            match = ANNOUNCED.search(line)
            if match:
                served = Served(match.group(1), line, proc)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=30)
        if not reader.is_alive():
            proc.stderr.close()
            if served is not None:
                served.stderr = "".join(iter(lines.get_nowait, ""))  # up to the end's ""
