"""Pausing CPython's cycle collector around bursts of small allocations, in one place
(reading and planning a queue, loading a spec, locating a file's positions), a module
of its own so that loaders need not import the planner."""

from __future__ import annotations

import gc
from contextlib import contextmanager
from collections.abc import Iterator

_ONE_COMMAND = False  # cli.run: this process runs one command, then exits


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while a queue is read and planned.

    Reading and planning allocate a few small objects per item, none of them in a
    reference cycle (a 100,000-item Synapse listing leaves nothing for gc.collect()),
    and each allocation burst triggers full collections that walk every live item: at
    large queues that was a large share of planning (BENCHMARKS.md, "cycle collector").
    Only a retried request leaves a little cyclic garbage (its exception's traceback),
    freed by a later full collection (_age_all); the previous setting is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _age_all()
            gc.enable()


def _age_all() -> None:
    """Move every tracked object to the oldest generation without walking any.

    What was allocated while paused (a spec, a listing, a plan) lives on; left young,
    all of it was walked by the first collection after re-enabling: 0.1-0.2 s of a
    plan of 20,000 entries (BENCHMARKS.md). gc.freeze() then gc.unfreeze() puts it in
    the oldest generation, which full collections still visit, so cyclic garbage (a
    retried request's traceback) is still freed in a long-running process. If objects
    were frozen on purpose (settle, in a one-command process), they stay frozen and the
    rest joins them, as sources.py does after reading a table."""
    if gc.get_freeze_count():
        gc.freeze()
        return
    gc.freeze()
    gc.unfreeze()


@contextmanager
def one_command() -> Iterator[None]:
    """Around the command of the `reconciler` entry point (cli.run), whose process
    exits after it: see freeze_if_exiting."""
    global _ONE_COMMAND
    _ONE_COMMAND = True
    try:
        yield
    finally:
        _ONE_COMMAND = False


@contextmanager
def going_on() -> Iterator[None]:
    """Around a command that runs until stopped (`watch`), inside the entry point's
    one_command: its cycles are not the last work of the process, so nothing they
    build may be frozen (settle, freeze_if_exiting)."""
    global _ONE_COMMAND
    was, _ONE_COMMAND = _ONE_COMMAND, False
    try:
        yield
    finally:
        _ONE_COMMAND = was


def settle() -> None:
    """Put what is alive (a table's rows just read, a few million small objects in no
    cycle) out of the way of the collections to come. In a process that exits after
    its command it is frozen: the first collections would otherwise walk it all, which
    cost more than reading the table (BENCHMARKS.md "Table sources"). In a process
    that goes on (`watch`, the Python API, tests) it only joins the oldest generation:
    frozen objects are never collected, so every table read by a long-running watch
    would keep the cyclic garbage alive at that moment for good."""
    if _ONE_COMMAND:
        gc.freeze()
    else:
        _age_all()


def freeze_if_exiting() -> None:
    """gc.freeze() everything alive when the process exits after this command: a
    command's heavy work done, the first full collection after it would walk all it
    built (a spec and a plan: 1.1 s at 100,000 entries) for nothing, the process being
    about to end (cli.run freezes at exit for the same reason). Frozen objects are
    still freed by reference counting. In a process that goes on (tests, the Python
    API, `watch`), nothing is frozen: full collections stay free to run."""
    if _ONE_COMMAND:
        gc.freeze()


def keep_until_exit(*objects: object) -> None:
    """Leave `objects` (a spec and its plan: millions of small objects) unfreed when
    the process exits after this command: freeing them one by one as the command
    returns cost 0.2 s of a 100,000-entry plan (BENCHMARKS.md "Fourth round"), for
    memory the process is about to give back whole. They are held by an unreachable
    cycle, which freeze_if_exiting freezes with everything else, so neither reference
    counting nor the collections at exit ever free them. Nothing here holds a file or
    a connection, whose closing must not wait for the process to end. In a process
    that goes on (tests, the Python API, `watch`) this does nothing."""
    if _ONE_COMMAND:
        box: list = [objects]
        box.append(box)
