"""Pausing CPython's cycle collector around bursts of small allocations, in one place
(reading and planning a queue, loading a spec, locating a file's positions), a module
of its own so that loaders need not import the planner."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a queue is read and planned.

    Reading and planning allocate a few small objects per item, none of them in a
    reference cycle (a 100,000-item Synapse listing leaves nothing for gc.collect()),
    and each allocation burst triggers full collections that walk every live item: at
    large queues that was a large share of planning (BENCHMARKS.md, "cycle collector").
    Only a retried request leaves a little cyclic garbage (its exception's traceback),
    collected once the queue is read; the previous setting is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
