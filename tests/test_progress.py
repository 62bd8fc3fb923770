"""Progress lines: on a terminal's stderr only, never with --quiet or when piped."""

from __future__ import annotations

import io

from reconciler.progress import Progress, ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_line_shows_items_rate_and_eta(monkeypatch):
    clock = iter([0.0, 0.5, 1.0, 1.0])
    monkeypatch.setattr("reconciler.progress.time.monotonic", lambda: next(clock))
    stream = Terminal()
    line = ProgressLine("Writing", total=1000, stream=stream)
    line(250)
    line.close()
    text = stream.getvalue()
    assert "Writing: 250/1,000 items" in text and "/s" in text and "ETA" in text
    assert text.endswith("\n")


def test_disabled_when_quiet_or_not_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", Terminal())
    assert Progress.for_terminal(quiet=False).line("x") is not None
    assert Progress.for_terminal(quiet=True).line("x") is None
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert Progress.for_terminal(quiet=False).line("x") is None


def test_redraws_at_most_ten_times_a_second_and_stays_silent_without_items(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("reconciler.progress.time.monotonic", lambda: now[0])
    stream = Terminal()
    line = ProgressLine("Reading queue 1", stream=stream)
    for step in range(10):
        now[0] = step * 0.05
        line(100)
    assert stream.getvalue().count("\r\x1b[K") == 4  # at 0.1, 0.2, 0.3, 0.4 s
    assert "ETA" not in stream.getvalue()  # no total, no ETA
    idle = Terminal()
    ProgressLine("Writing", total=5, stream=idle).close()
    assert idle.getvalue() == ""
