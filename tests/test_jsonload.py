"""The strict, located JSON reader plan files are read with (reconciler/jsonload.py);
tests/test_planfile.py checks the same refusals through load_plan."""

from __future__ import annotations

import pytest

from reconciler.errors import Located
from reconciler.jsonload import _line_col, _offset_of, all_positions, located, parse, path_text


def error_of(text: str | bytes) -> str:
    with pytest.raises(Located) as exc:
        parse(text, "f.json")
    return str(exc.value)


def test_parse_gives_the_document_and_its_text_without_a_byte_order_mark():
    assert parse(b'\xef\xbb\xbf{"a": [1, 2.5, null]}', "f.json") == ({"a": [1, 2.5, None]}, '{"a": [1, 2.5, null]}')


def test_a_key_repeated_in_a_nested_mapping_is_located_where_it_repeats():
    text = '[{"a": 1}, {"b": {"c": 1,\n  "c": 2}}]'
    assert error_of(text) == 'f.json:2:3: duplicate key "c"'


def test_the_same_key_in_sibling_mappings_is_no_duplicate():
    assert parse('[{"a": 1}, {"a": 2}]', "f.json")[0] == [{"a": 1}, {"a": 2}]


def test_a_non_finite_number_is_located():
    assert error_of('{"x": [1,\n Infinity]}') == (
        'f.json:2:2: Infinity is not valid JSON (a plan file writes it as {"float": "nan"} etc.)'
    )


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("queues", 0, "changes", 3, "etag"), "queues[0].changes[3].etag"),
        (("tags", "a.b"), 'tags["a.b"]'),
        ((0, "x"), "[0].x"),
        ((), ""),
    ],
)
def test_a_path_is_written_as_people_write_json_paths(path, text):
    assert path_text(path) == text


def test_an_error_at_a_path_names_its_line_column_and_path_even_minified():
    text = '{"a":[{"b":1},{"b":2}]}'
    error = located("f.json", text, ("a", 1, "b"), "must be a string")
    assert (error.line, error.column) == (1, 20)  # the value 2
    assert str(error) == "f.json:1:20: a[1].b: must be a string"


def test_an_error_at_a_path_the_document_lacks_has_no_position():
    error = located("f.json", '{"a": 1}', ("b",), "is required", name_path=False)
    assert (error.line, error.column, str(error)) == (None, None, "f.json: is required")


_ODD_LAYOUTS = [
    '{"a": 1, "b": [1, "x", [2, {"c": null}], {}], "d": {"e": "f:g,h"}}',
    '{\n "a"\n :\n [\n1\n,\n"z"\n]\n, "b" : {"c": {}}, "d": [], "e\\"f": "\\"}\\",:"}',
    '[[], [[1, 2], {"k": [true, false]}], "s", -1.5e3]',
    '  \r\n{"é": {"ü": ["\\u00e9", {"": 0}]}}  ',
    '"just a string"',
    "7",
]


@pytest.mark.parametrize("text", _ODD_LAYOUTS)
def test_every_position_found_in_one_pass_is_where_the_slow_reader_finds_it(text):
    """all_positions (one regex pass, commas skipped as space, a mapping entry one
    token) against _offset_of, which walks to each path with the json module's own
    scanner: the same line and column for every value, and every key just before it."""
    values, keys = all_positions(text)
    assert () in values
    for path, at in values.items():
        assert at == _line_col(text, _offset_of(text, path)), path
    assert keys.keys() == {p for p in values if p and isinstance(p[-1], str)}
    for path, (line, column) in keys.items():
        assert (line, column) <= values[path]
        assert text.splitlines()[line - 1][column - 1] == '"'
