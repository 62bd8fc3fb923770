"""Ctrl-C (SIGINT) and SIGTERM while apply writes: finish the write in flight, then stop.

Raising KeyboardInterrupt in the middle of a write would leave a batch whose answer was
never read: landed or not, nobody could say. Instead the first signal only asks the run
to stop between writes; apply then reports exactly what landed and what was not sent and
exits 130. A second signal stops at once (a hung service must not hold the terminal).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from collections.abc import Callable, Iterator

from ..error_handler import echo_err

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_between_writes() -> Iterator[Callable[[], str | None]]:
    """Yields the `stop` callable apply_plan asks between writes: the name of the
    signal received, or None. Outside the main thread (where handlers cannot be set)
    nothing is installed and signals behave as usual."""
    received: list[str] = []

    def handler(signum: int, _frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        echo_err(
            f"\n{received[0]} received: finishing the write in flight, then stopping (send it again to stop at once)"
        )

    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield lambda: received[0] if received else None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
