"""collector_paused: what a pause allocated is aged, not walked, when it ends."""

from __future__ import annotations

import gc

import pytest

from reconciler.gcpause import collector_paused

from gc_helpers import cyclic_garbage


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector_on():
    """The collector on (nothing is frozen: conftest's autouse `nothing_frozen`)."""
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
            gc.freeze()  # as gcpause.settle does after a command reads a table
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0
        assert not _in_generation(rows[0], 2)
    finally:
        gc.unfreeze()


def _local_spec(tmp_path):
    (tmp_path / "live.yaml").write_text(
        'queues:\n  - id: "9615000"\n    items:\n      - {id: "1", status: VALIDATED}\n'
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: local, path: state.db, seed: live.yaml}\n"
        'queues:\n  - id: "9615000"\n    submissions:\n      "1": {status: SCORED}\n'
    )
    return spec


def test_a_plan_in_a_process_that_goes_on_freezes_nothing(tmp_path, collector_on):
    from reconciler.cli import main

    assert gc.get_freeze_count() == 0
    assert main(["-q", "plan", str(_local_spec(tmp_path))]) == 0
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_plan_about_to_exit_freezes_what_it_built(tmp_path, collector_on, monkeypatch):
    """Under `reconciler` (cli.run), the one command done: no full collection over
    the spec and the plan on the way out."""
    from reconciler import gcpause
    from reconciler.cli import main

    monkeypatch.setattr(gcpause, "_ONE_COMMAND", True)
    full = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(gc.get_freeze_count())

    gc.callbacks.append(count)
    try:
        assert main(["-q", "plan", str(_local_spec(tmp_path))]) == 0
        assert gc.get_freeze_count() > 0
        garbage = [[Node()] for _ in range(100_000)]  # young objects: collections run
        assert garbage and all(frozen > 0 for frozen in full)  # any full one walks no spec
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()


def test_reading_a_yaml_file_leaves_no_cyclic_garbage(tmp_path):
    """With the collector paused through a command (and what it built frozen), a
    cycle would keep what it reaches until the process ends: the builder of a YAML
    file's data holds every position of it."""
    from reconciler.yamlload import _Builder, read_yaml

    path = tmp_path / "scores.yaml"
    path.write_text("submissions:\n" + "".join(f'  "{i}": {{status: SCORED}}\n' for i in range(50)))
    with cyclic_garbage() as garbage:
        doc = read_yaml(path, "scores.yaml")
        assert len(doc.data["submissions"]) == 50
        del doc
        gc.collect()
        assert [o for o in garbage if isinstance(o, _Builder)] == []


def _table_spec(tmp_path):
    (tmp_path / "scores.csv").write_text("id,status,score\n1,SCORED,0.5\n2,SCORED,0.7\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    include:\n"
        "      - {table: scores.csv, id: id, status: status, tags: {score: {type: float}}}\n"
    )
    return spec


def test_a_table_read_in_a_process_that_goes_on_freezes_nothing(tmp_path, collector_on):
    """`watch` and the Python API read tables again and again: frozen objects are never
    collected, so freezing there would keep each read's cyclic garbage for good."""
    from reconciler.spec import load_spec

    spec = load_spec(_table_spec(tmp_path))
    assert len(spec.queues[0].submissions) == 2
    assert gc.get_freeze_count() == 0


def test_a_table_read_by_a_command_about_to_exit_is_frozen(tmp_path, collector_on, monkeypatch):
    from reconciler import gcpause
    from reconciler.spec import load_spec

    monkeypatch.setattr(gcpause, "_ONE_COMMAND", True)
    try:
        load_spec(_table_spec(tmp_path))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_table_read_by_watch_under_the_console_script_is_not_frozen(tmp_path, collector_on, monkeypatch):
    """`reconciler watch` runs inside cli.run's one_command but goes on: its cycles
    re-read tables, and nothing they build may be frozen for good."""
    from reconciler import gcpause
    from reconciler.spec import load_spec

    monkeypatch.setattr(gcpause, "_ONE_COMMAND", True)
    with gcpause.going_on():
        load_spec(_table_spec(tmp_path))
        assert gc.get_freeze_count() == 0
    assert gcpause._ONE_COMMAND


def test_what_a_command_about_to_exit_keeps_is_never_freed(collector_on, monkeypatch):
    """keep_until_exit: a plan's spec and result are not freed one object at a time as
    the one command returns (0.2 s at 100,000 entries), nor by a collection once
    frozen (freeze_if_exiting, cli.run); the process exits with them."""
    import weakref

    from reconciler import gcpause

    monkeypatch.setattr(gcpause, "_ONE_COMMAND", True)
    kept = Node()
    alive = weakref.ref(kept)
    try:
        gcpause.keep_until_exit(kept)
        del kept
        assert alive() is not None  # not by reference counting
        gc.freeze()
        gc.collect()
        assert alive() is not None  # nor by the collections at exit
    finally:
        gc.unfreeze()
    gc.collect()
    assert alive() is None  # unfrozen (this process goes on), the cycle holding it is garbage


def test_a_process_that_goes_on_keeps_nothing_until_exit():
    import weakref

    from reconciler.gcpause import keep_until_exit

    kept = Node()
    alive = weakref.ref(kept)
    keep_until_exit(kept)
    del kept
    assert alive() is None
