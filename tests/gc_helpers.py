"""What the cycle collector finds unreachable, for tests of what a load leaves behind."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from collections.abc import Iterator


@contextmanager
def cyclic_garbage() -> Iterator[list]:
    """gc.garbage while inside: after `gc.collect()` it holds every object that only
    a reference cycle kept (DEBUG_SAVEALL), instead of their being freed."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
