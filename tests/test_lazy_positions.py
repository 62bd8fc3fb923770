"""Positions are found when something names them, not while loading (issue 21 part 2).

A valid spec's `validate` names no position, so a JSON include's positions are never
searched for, and the sources of its settings are located on first use; what a plan or
a message names is still at its exact file:line:column.
"""

from __future__ import annotations

import gc
import json
import pickle

import pytest

from reconciler import jsonload, yamlload
from reconciler.errors import UserErrors
from reconciler.model import Source
from reconciler.spec import load_spec
from reconciler.yamlload import MAX_DEPTH, read_yaml

from gc_helpers import cyclic_garbage

SPEC = 'version: 1\nqueues:\n  - id: "9615000"\n    include: [scores.json]\n'


@pytest.fixture
def position_passes(monkeypatch):
    """How many times a JSON file's positions were searched for (one pass finds all)."""
    calls = []
    real = jsonload.all_positions

    def counted(text: str, **options):
        calls.append(len(text))
        return real(text, **options)

    monkeypatch.setattr(yamlload, "all_positions", counted)
    return calls


def write(tmp_path, entries: dict) -> None:
    lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items())
    (tmp_path / "scores.json").write_text('{"submissions": {\n' + lines + "\n}}\n")
    (tmp_path / "spec.yaml").write_text(SPEC)


def test_a_valid_json_include_is_loaded_without_searching_positions(tmp_path, position_passes):
    write(tmp_path, {str(9700001 + i): {"status": "SCORED", "tags": {"score": i / 10}} for i in range(50)})
    spec = load_spec(tmp_path / "spec.yaml")
    assert len(spec.queues[0].submissions) == 50
    assert position_passes == []
    # a plan names an entry's source: found then, once for the whole file, at its line
    entry = spec.queues[0].submissions["9700042"]
    assert str(entry.status.source) == f"{tmp_path / 'scores.json'}:{42 + 1}"
    assert entry.status.source.column == 25
    assert str(entry.tags["score"].source) == f"{tmp_path / 'scores.json'}:{42 + 1}"
    assert len(position_passes) == 1


def test_an_error_in_a_json_include_is_still_located(tmp_path):
    entries = {str(9700001 + i): {"status": "SCORED"} for i in range(20)}
    entries["9700011"] = {"status": "SCORED", "tags": {"score": {"nested": 1}}}
    write(tmp_path, entries)
    with pytest.raises(UserErrors) as caught:
        load_spec(tmp_path / "spec.yaml")
    assert [(p.line, p.column) for p in caught.value.errors] == [(12, 53)]


def test_a_lazy_source_is_the_source_it_locates():
    asked = []

    def locate(at):
        asked.append(at)
        return 17, 5

    lazy = Source.later("scores.json", "accept", locate, ("submissions", "1"))
    assert asked == []
    eager = Source("scores.json", 17, "accept", 5)
    assert lazy == eager and hash(lazy) == hash(eager)
    assert (lazy.line, lazy.column, str(lazy), lazy.to_json()) == (
        17,
        5,
        "scores.json:17 (rule accept)",
        eager.to_json(),
    )
    assert asked == [("submissions", "1")]  # once
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert repr(lazy) == repr(eager)
    with pytest.raises(AttributeError):
        lazy.line = 3  # type: ignore[misc]
    assert Source("a", 1, column=1) == Source("a", 1, column=2)  # plans name the line only


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1])
def test_json_nesting_is_bounded_as_on_the_yaml_path(tmp_path, monkeypatch, depth):
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' + "[" * depth + "1" + "]" * depth + "}\n")

    def outcome():
        try:
            doc = read_yaml(path, "deep.json")
        except Exception as exc:
            return str(exc)
        return doc.data, doc.position(("a",) + (0,) * depth)

    json_path = outcome()
    monkeypatch.setattr(yamlload, "READ_JSON", False)
    assert json_path == outcome()


@pytest.mark.parametrize("key", ["k" * 499, "k" * 1000, 'k\\"' * 400, 'k\\"' * 200, "\\u00e9" * 300 + "k" * 999])
def test_a_long_json_key_reads_as_on_the_yaml_path(tmp_path, monkeypatch, key):
    """The JSON path looks for a key over YAML's limit only where a quick search says
    a long string may be; the outcome is the YAML path's either way."""
    path = tmp_path / "long.json"
    path.write_text('{"a": 1,\n "' + key + '": 2}\n')

    def outcome():
        try:
            doc = read_yaml(path, "long.json")
        except Exception as exc:  # the outcome compared is the message
            return str(exc)
        return doc.data, sorted(doc._values.items()) if hasattr(doc._values, "items") else None

    json_path = outcome()
    monkeypatch.setattr(yamlload, "READ_JSON", False)
    assert json_path == outcome()


def _documents_alive(path) -> int:
    """Documents alive of the file at `path` (other tests' files may be alive too)."""
    from reconciler.yamlload import Document

    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Document and o.file == str(path))


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_once_located_sources_keep_no_file_alive(tmp_path, kind):
    """A plan runs with the spec loaded: its files' data and positions must not stay
    alive through sources waiting to be located (they were a third of a plan's peak
    memory). A YAML file's sources are located while loading, a JSON file's when
    asked for (a plan asks for all first: spec.locate_sources)."""
    entries = {str(9700001 + i): {"status": "SCORED", "tags": {"score": i / 10}} for i in range(30)}
    write(tmp_path, entries)
    if kind == "yaml":
        lines = [f'  "{k}": {{status: SCORED, tags: {{score: {v["tags"]["score"]}}}}}' for k, v in entries.items()]
        (tmp_path / "scores.yaml").write_text("submissions:\n" + "\n".join(lines) + "\n")
        (tmp_path / "spec.yaml").write_text(SPEC.replace("scores.json", "scores.yaml"))
    spec = load_spec(tmp_path / "spec.yaml")
    if kind == "json":
        assert _documents_alive(tmp_path / "scores.json") == 1  # nothing asked yet
        assert spec.queues[0].submissions["9700003"].tags["score"].source.line == 4
        assert _documents_alive(tmp_path / "scores.json") == 1  # others still wait
        for entry in spec.queues[0].submissions.values():
            entry.status.source.locate()
            entry.tags["score"].source.locate()
    assert _documents_alive(tmp_path / f"scores.{kind}") == 0
    status = spec.queues[0].submissions["9700030"].status.source
    assert (status.line, status.column) == ((31, 25) if kind == "json" else (31, 23))


def test_a_plan_locates_sources_before_reading_live_state(tmp_path):
    """plan_spec locates the spec's sources first (spec.locate_sources), so a JSON
    include's positions come and go before the listing and the plan are built."""
    from reconciler.spec import locate_sources

    write(tmp_path, {str(9700001 + i): {"tags": {"score": i / 10}} for i in range(30)})
    spec = load_spec(tmp_path / "spec.yaml")
    assert _documents_alive(tmp_path / "scores.json") == 1
    locate_sources(spec)
    assert _documents_alive(tmp_path / "scores.json") == 0
    assert spec.queues[0].submissions["9700030"].tags["score"].source.line == 31


def test_a_spec_dropped_unlocated_leaves_no_cycle(tmp_path):
    """Sources waiting to be located refer to their file, which lists them weakly: no
    cycle outlives a dropped spec where the collector is paused or objects are frozen
    (gcpause.py)."""
    from reconciler.spec import _File

    write(tmp_path, {str(9700001 + i): {"status": "SCORED"} for i in range(20)})
    with cyclic_garbage() as garbage:
        spec = load_spec(tmp_path / "spec.yaml")
        assert len(spec.queues[0].submissions) == 20
        del spec
        gc.collect()
        assert [o for o in garbage if isinstance(o, _File)] == []


def test_keys_asked_after_the_values_are_found_by_a_second_pass(position_passes):
    """A plan's sources name values only, so their pass skips the keys; a message about a
    key asked later still gets its place, from one more pass (and the values stay)."""
    text = '{"submissions": {\n  "9700001": {"status": "SCORED"},\n  "9700002": {"status": "X"}}}\n'
    positions = yamlload._PositionsPass(text)
    values = positions.found(0)
    assert values[("submissions", "9700002", "status")] == (3, 25)
    assert positions.found(1) == jsonload.all_positions(text)[1]
    assert positions.found(1)[("submissions", "9700002")] == (3, 3)
    assert positions.found(0) is values
    assert len(position_passes) == 2


def _assignments_alive() -> int:
    from reconciler.model import Assignment

    return sum(1 for o in gc.get_objects() if type(o) is Assignment)


def test_a_json_include_s_entries_are_built_when_first_used(tmp_path):
    """`validate` needs a JSON include's ids and count, not its Assignments (a third of
    its time for 20,000 entries); what is built later is what was written, in file order."""
    entries = {str(9700001 + i): {"status": "SCORED", "tags": {"score": i / 10, "rank": i}} for i in range(40)}
    write(tmp_path, entries)
    before = _assignments_alive()
    submissions = load_spec(tmp_path / "spec.yaml").queues[0].submissions
    assert (len(submissions), "9700040" in submissions, list(submissions)) == (40, True, list(entries))
    assert _assignments_alive() == before
    one = submissions["9700007"]
    assert _assignments_alive() == before + 1
    assert submissions["9700007"] is one and submissions.get("9700007") is one
    assert submissions.get("9700999") is None
    built = {k: (a.status.value, {t: s.value for t, s in a.tags.items()}) for k, a in submissions.items()}
    assert built == {k: (v["status"], {t: (x,) for t, x in v["tags"].items()}) for k, v in entries.items()}
    assert _assignments_alive() == before + 40
    assert submissions["9700040"].status.source.line == 41
    # the same entries written as YAML are built while loading, and compare equal
    lines = [f'  "{k}": {json.dumps(v)}' for k, v in entries.items()]
    (tmp_path / "scores.yaml").write_text("submissions:\n" + "\n".join(lines) + "\n")
    (tmp_path / "spec.yaml").write_text(SPEC.replace("scores.json", "scores.yaml"))
    eager = load_spec(tmp_path / "spec.yaml").queues[0].submissions
    assert [(k, a.status.value, a.tags["rank"].value) for k, a in eager.items()] == [
        (k, a.status.value, a.tags["rank"].value) for k, a in submissions.items()
    ]


def test_entries_keep_their_order_and_their_first_place_across_files(tmp_path):
    """The spec's own entries first, then each include's; an id written twice is
    still refused at both places, JSON include or not."""
    write(tmp_path, {"9700002": {"status": "SCORED"}, "9700003": {"status": "SCORED"}})
    (tmp_path / "spec.yaml").write_text(SPEC + '    submissions:\n      "9700001": {status: ACCEPTED}\n')
    spec = load_spec(tmp_path / "spec.yaml")
    assert [(k, a.status.value) for k, a in spec.queues[0].submissions.items()] == [
        ("9700001", "ACCEPTED"),
        ("9700002", "SCORED"),
        ("9700003", "SCORED"),
    ]
    (tmp_path / "spec.yaml").write_text(SPEC + '    submissions:\n      "9700003": {status: ACCEPTED}\n')
    with pytest.raises(UserErrors) as caught:
        load_spec(tmp_path / "spec.yaml")
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path / 'scores.json'}:3:3: submission '9700003' is already defined at {tmp_path / 'spec.yaml'}:6:7"
    ]


def test_entries_built_after_the_load_leave_no_cycle(tmp_path):
    """Entries built after the load hand out sources the file does not list: nothing
    links the file back to them (the collector may be paused: gcpause.py)."""
    from reconciler.spec import _File

    write(tmp_path, {str(9700001 + i): {"status": "SCORED", "tags": {"s": 1}} for i in range(20)})
    with cyclic_garbage() as garbage:
        spec = load_spec(tmp_path / "spec.yaml")
        assert spec.queues[0].submissions["9700005"].status.source.line == 6
        assert sum(1 for _ in spec.queues[0].submissions.values()) == 20
        del spec
        gc.collect()
        assert [o for o in garbage if isinstance(o, _File)] == []


def test_entries_built_on_their_line_name_each_value_as_the_yaml_path_does(tmp_path, monkeypatch):
    """An entry written on one line is built with its line found once for all its
    values (spec._unbuilt); each value's column, asked later, is still its own. An entry
    spread over lines takes each value's own position. Both as the YAML path gives them."""
    (tmp_path / "scores.json").write_text(
        '{"submissions": {\n'
        '  "9700001": {"status": "SCORED", "tags": {"score": 0.5, "rank": 1}},\n'
        '  "9700002": {\n    "status": "SCORED",\n    "tags": {"score": 0.25}\n  }\n}}\n'
    )
    (tmp_path / "spec.yaml").write_text(SPEC)

    def places() -> list:
        entries = load_spec(tmp_path / "spec.yaml").queues[0].submissions
        return [
            (item_id, name, setting.source.line, setting.source.column)
            for item_id, entry in entries.items()
            for name, setting in [("status", entry.status), *entry.tags.items()]
        ]

    on_line = []
    real = Source.on_line.__func__

    def counted(cls, *args):
        on_line.append(args[-1])
        return real(cls, *args)

    monkeypatch.setattr(Source, "on_line", classmethod(counted))
    json_path = places()
    assert sorted(path[-1] for path in on_line) == ["rank", "score", "status"]  # the one-line entry's
    assert json_path[:3] == [("9700001", "status", 2, 25), ("9700001", "score", 2, 53), ("9700001", "rank", 2, 66)]
    assert json_path[3:] == [("9700002", "status", 4, 15), ("9700002", "score", 5, 23)]
    monkeypatch.setattr(yamlload, "READ_JSON", False)
    assert places() == json_path


def test_a_file_s_positions_pass_runs_once_for_lines_and_columns_alike(tmp_path, position_passes):
    """A label list spread over lines is located by the positions pass; a one-line
    entry's column, asked later, comes from that same pass, not from another."""
    from reconciler.spec import locate_sources

    (tmp_path / "scores.json").write_text(
        '{"submissions": {\n  "9700001": {"status": "SCORED"},\n  "9700002": {"tags": [\n    "gold"\n  ]}\n}}\n'
    )
    (tmp_path / "spec.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "spec.yaml")
    locate_sources(spec)
    entries = spec.queues[0].submissions
    assert len(position_passes) == 1
    assert (entries["9700002"].tags["gold"].source.line, entries["9700002"].tags["gold"].source.column) == (4, 5)
    assert (entries["9700001"].status.source.line, entries["9700001"].status.source.column) == (2, 25)
    assert len(position_passes) == 1
