"""collector_paused: what a pause allocated is aged, not walked, when it ends."""
from __future__ import annotations

import gc

import pytest

from reconciler.gcpause import collector_paused


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_what_a_pause_built_goes_to_the_oldest_generation(collector_on):
    with collector_paused():
        kept = [Node() for _ in range(1000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing left frozen for good
    assert _in_generation(kept[-1], 2)  # not young: the next young collection skips it
    assert gc.get_count()[0] < 100


def test_cyclic_garbage_made_while_paused_is_still_freed(collector_on):
    with collector_paused():
        a, b = Node(), Node()
        a.other, b.other = b, a
        probe = id(a)
        del a, b
    gc.collect()
    assert all(id(o) != probe for o in gc.get_objects(generation=2))


def test_objects_frozen_on_purpose_stay_frozen(collector_on):
    try:
        with collector_paused():
            rows = [Node() for _ in range(10)]
            gc.freeze()  # as sources._settle does after reading a table
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0
        assert not _in_generation(rows[0], 2)
    finally:
        gc.unfreeze()
