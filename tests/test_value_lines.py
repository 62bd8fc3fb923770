"""A JSON include's lines without its positions pass (jsonload.value_lines, issue 21
part 2, BENCHMARKS.md "Fourth round"): a plan's `# scores.json:17` comments need the
line only, found by one walk with json's C scanner; the column, which messages need,
still comes from the positions pass, exact, when asked."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import yamlload
from reconciler.jsonload import _LINE_CAP, all_positions, value_lines
from reconciler.model import Source
from reconciler.spec import load_spec, locate_sources

from test_lazy_positions import position_passes  # noqa: F401  # a fixture


def _inside(lines: dict, path: tuple) -> int | None:
    """The line value_lines gives `path`: that of the one-line value holding it."""
    for depth in range(1, len(path) + 1):
        if path[:depth] in lines:
            return lines[path[:depth]]
    return None


def _check(text: str) -> dict:
    """Every line value_lines gives is all_positions' line, for the value itself and
    for everything inside it; and every recorded value does lie on one line."""
    values = all_positions(text, with_keys=False)[0]
    lines = value_lines(text)
    assert lines is not None, text
    for path, line in lines.items():
        assert values[path][0] == line, (text, path)
    for path, (line, _) in values.items():
        found = _inside(lines, path)
        assert found is None or found == line, (text, path)
    return lines


def _layout(value, rng: random.Random, depth: int = 0) -> str:
    """`value` as JSON, each container inline or spread over lines at random, with odd
    spacing (tabs, CRLF, space before colons and commas)."""
    space = ["", " ", "  ", "\t", "\n", "\r\n", " \n  "]
    if isinstance(value, dict | list):
        spread = rng.random() < 0.5
        gap = (lambda: rng.choice(space)) if spread else (lambda: rng.choice(["", " "]))
        sep = ("\n" + "  " * (depth + 1)) if spread else ""
        if isinstance(value, dict):
            parts = [
                f"{sep}{json.dumps(k, ensure_ascii=rng.random() < 0.5)}{gap()}:{gap()}{_layout(v, rng, depth + 1)}"
                for k, v in value.items()
            ]
            return "{" + (gap() + ",").join(parts) + gap() + "}"
        parts = [f"{sep}{_layout(v, rng, depth + 1)}" for v in value]
        return "[" + (gap() + ",").join(parts) + gap() + "]"
    return json.dumps(value, ensure_ascii=rng.random() < 0.5)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(['a"b', "\\", "{", "}\n", "[", ",", ":", "\u2028", "é", "😀", "\t"]),
)
_KEYS = st.one_of(st.text(max_size=6), st.sampled_from(['"', "\\", "\n", "é", "😀", "{", "a:b", ""]))
_DOCUMENTS = st.dictionaries(
    _KEYS,
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
        max_leaves=20,
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_DOCUMENTS, st.randoms(use_true_random=False))
def test_every_line_found_by_the_walk_is_the_positions_pass_line(document, rng):
    _check(_layout(document, rng))


def test_an_include_one_entry_a_line_has_each_entry_on_its_line():
    entries = {str(9700001 + i): {"status": "SCORED", "tags": {"score": i / 7, "rank": i}} for i in range(40)}
    text = '{"submissions": {\n' + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items())
    lines = _check(text + "\n}}\n")
    assert lines == {("submissions", k): i + 2 for i, k in enumerate(entries)}


def test_odd_layouts_give_the_positions_pass_lines():
    for text in [
        '{"a": 1, "b": [1, "x", [2, {"c": null}], {}], "d": {"e": "f:g,h"}}',
        '{\n "a"\n :\n [\n1\n,\n"z"\n]\n, "b" : {"c": {}}, "d": [], "e\\"f": "\\"}\\",:"}',
        '  \r\n{"é": {"ü": ["\\u00e9", {"": 0}]},\r\n "k\\n": {"x": [1,\n2]}, "s": "\\u2028}"}  ',
        '{"a": {\n"b": {"c": 1, "d": [\n]}, "e": {}\n}, "f"\t:\t{ }\n}',
        '{"long": [' + ", ".join(["1"] * (_LINE_CAP // 3)) + '],\n "next": {"a": 1}}',
    ]:
        _check(text)


def test_a_container_over_a_long_line_that_goes_on_gives_up_the_walk():
    """A container tried on a line over _LINE_CAP is scanned whole; spread over lines,
    the walk stops (the positions pass locates that file), never scanning a big value
    twice per level."""
    text = '{"a": [' + ", ".join(["1"] * _LINE_CAP) + ",\n 2]}"
    assert value_lines(text) is None
    assert value_lines('["not", "a mapping"]') is None


def _spec(tmp_path, text: str) -> None:
    (tmp_path / "scores.json").write_text(text)
    (tmp_path / "spec.yaml").write_text('version: 1\nqueues:\n  - id: "9615000"\n    include: [scores.json]\n')


def test_a_plan_finds_lines_without_the_positions_pass_and_columns_exactly(tmp_path, position_passes):  # noqa: F811
    """locate_sources (before a plan reads live state) runs no positions pass for an
    include whose entries each lie on one line; a column asked later is the positions
    pass's (once for the file), as on the YAML path."""
    _spec(
        tmp_path,
        '{"submissions": {\n  "1": {"status": "SCORED", "tags": {"score": 0.5}},\n'
        '  "2":   {"tags": {"score": 1, "note": "a\\"b"}, "status": "X"},\n'
        '  "3": {"status":\n "Y", "tags": {"rank":\n 2}}}}\n',
    )
    spec = load_spec(tmp_path / "spec.yaml")
    locate_sources(spec)
    subs = spec.queues[0].submissions
    assert position_passes == []  # entry 3, spread over lines, is walked into
    lines = {
        (i, name): setting.source.line
        for i, entry in subs.items()
        for name, setting in [("status", entry.status), *entry.tags.items()]
    }
    assert position_passes == []
    assert lines == {
        ("1", "status"): 2,
        ("1", "score"): 2,
        ("2", "status"): 3,
        ("2", "score"): 3,
        ("2", "note"): 3,
        ("3", "status"): 5,
        ("3", "rank"): 6,
    }
    columns = {(i, name): s.source.column for (i, name), s in _settings(subs).items()}
    assert len(position_passes) == 1
    yamlload.READ_JSON = False
    try:
        expected = {
            (i, name): (s.source.line, s.source.column)
            for (i, name), s in _settings(load_spec(tmp_path / "spec.yaml").queues[0].submissions).items()
        }
    finally:
        yamlload.READ_JSON = True
    assert {k: (lines[k], c) for k, c in columns.items()} == expected


def _settings(subs) -> dict:
    return {(i, n): s for i, e in subs.items() for n, s in [("status", e.status), *e.tags.items()]}


def test_an_include_of_one_line_entries_is_located_without_a_pass(tmp_path, position_passes):  # noqa: F811
    entries = {str(9700001 + i): {"status": "SCORED", "tags": {"score": i / 10}} for i in range(30)}
    _spec(
        tmp_path,
        '{"submissions": {\n'
        + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in entries.items())
        + "\n}}\n",
    )
    spec = load_spec(tmp_path / "spec.yaml")
    locate_sources(spec)
    entry = spec.queues[0].submissions["9700030"]
    assert (str(entry.status.source), str(entry.tags["score"].source)) == (f"{tmp_path / 'scores.json'}:31",) * 2
    assert position_passes == []
    assert (entry.status.source.line, entry.status.source.column) == (31, 25)
    assert entry.tags["score"].source.column == 53
    assert len(position_passes) == 1


def test_a_source_told_its_line_first_finds_its_column_when_asked():
    asked = []

    def column_of(at):
        asked.append(("column", at))
        return 17, 5

    def locate(at):
        asked.append(("line", at))
        return 17, column_of

    lazy = Source.later("scores.json", "accept", locate, ("submissions", "1"))
    assert (lazy.line, str(lazy)) == (17, "scores.json:17 (rule accept)")
    assert asked == [("line", ("submissions", "1"))]
    assert lazy == Source("scores.json", 17, "accept", 5)
    assert lazy.column == 5 and lazy.column == 5
    assert asked == [("line", ("submissions", "1")), ("column", ("submissions", "1"))]
    # asked for its column first: both from `locate`, then the column function
    other = Source.later("scores.json", None, locate, ("x",))
    assert other.column == 5 and other.line == 17
