"""What the global options (-q, -v, --no-color) mean for a command: progress, logging
and colour."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from collections.abc import Mapping

from ..progress import Progress


def color_wanted(is_tty: bool, env: Mapping[str, str], no_color: bool) -> bool:
    """Colour only on a terminal, and not when the user or the terminal says no:
    `--no-color`, NO_COLOR (https://no-color.org) or TERM=dumb."""
    return is_tty and not no_color and "NO_COLOR" not in env and env.get("TERM") != "dumb"


@dataclass
class Options:
    quiet: bool
    verbose: int
    no_color: bool = False

    @property
    def color(self) -> bool:
        return color_wanted(sys.stdout.isatty(), os.environ, self.no_color)

    def progress(self) -> Progress:
        return Progress.for_terminal(self.quiet)


_LOG_HANDLER: logging.Handler | None = None


def configure_logging(verbose: int, quiet: bool) -> None:
    """Default: the notes the HTTP layer logs at WARNING (a retry about to wait a second
    or more, a throttle being waited out) as "note: …" lines, so a run that stalls on
    the network says why instead of going silent for half a minute; -q: none of them.
    -v: one line per HTTP request (`reconciler.http`) and urllib3's retry warnings;
    -vv: urllib3's debug lines too. urllib3 is never heard without -v.

    Our own handler on our loggers rather than logging.basicConfig, which does nothing
    once the root logger has a handler; it is replaced on each run, so it always writes
    to the current stderr."""
    global _LOG_HANDLER
    loggers = {name: logging.getLogger(name) for name in ("reconciler", "urllib3")}
    if _LOG_HANDLER is not None:
        for logger in loggers.values():
            logger.removeHandler(_LOG_HANDLER)
        _LOG_HANDLER = None
    if verbose:
        _LOG_HANDLER = logging.StreamHandler(sys.stderr)
        _LOG_HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        loggers["reconciler"].setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        loggers["urllib3"].setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
        for logger in loggers.values():
            logger.addHandler(_LOG_HANDLER)
        return
    loggers["urllib3"].setLevel(logging.NOTSET)
    # With -q a handler that drops everything, else logging's last resort would print
    _LOG_HANDLER = logging.NullHandler() if quiet else logging.StreamHandler(sys.stderr)
    _LOG_HANDLER.setFormatter(logging.Formatter("note: %(message)s"))
    loggers["reconciler"].setLevel(logging.WARNING)
    loggers["reconciler"].addHandler(_LOG_HANDLER)
