"""Progress lines on stderr, only for a person watching a terminal.

stdout carries the report alone (so `--format json` pipes cleanly) and CI logs must not
fill with carriage-return noise, hence: TTY only, never with --quiet.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """`label: 1,200/20,000 items  850/s  ETA 20s`, redrawn at most 10 times a second."""

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.started = self.last_draw = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last_draw >= 0.1:
            self.last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,}"
        text += f" items  {rate:,.0f}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f"  ETA {(self.total - self.done) / rate:,.0f}s"
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()

    def close(self) -> None:
        if self.done:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


class Progress:
    """Hands out progress lines when enabled, no-ops otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._open: list[ProgressLine] = []

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        return cls(enabled=not quiet and sys.stderr.isatty())

    def line(self, label: str, total: int | None = None) -> ProgressLine | None:
        if not self.enabled:
            return None
        self.close()
        line = ProgressLine(label, total)
        self._open.append(line)
        return line

    def close(self) -> None:
        for line in self._open:
            line.close()
        self._open.clear()
