"""The safe YAML reader: YAML 1.2 core scalars, positions, and refusals with file:line:col."""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone

import pytest

from reconciler.errors import Located
from reconciler import yamlload
from reconciler.yamlload import MAX_BYTES, MAX_DEPTH, read_yaml

UTC = timezone.utc


@pytest.fixture(autouse=True)
def both_parsers(yaml_parser):
    """Every test here runs on libyaml's parser and on the pure-Python fallback."""


@pytest.fixture
def load(tmp_path):
    def load(text: str | bytes):
        path = tmp_path / "f.yaml"
        if isinstance(text, str):
            text = text.encode("utf-8")
        path.write_bytes(text)
        return read_yaml(path, "f.yaml")

    return load


@pytest.fixture
def fails(load):
    def fails(text: str | bytes) -> str:
        with pytest.raises(Located) as caught:
            load(text)
        return str(caught.value)

    return fails


def value(load, text: str):
    return load(f"v: {text}\n").data["v"]


# ----------------------------------------------------------------------- scalars
@pytest.mark.parametrize("text", ["true", "True", "TRUE"])
def test_only_core_spellings_of_true_are_booleans(load, text):
    assert value(load, text) is True


@pytest.mark.parametrize("text", ["false", "False", "FALSE"])
def test_only_core_spellings_of_false_are_booleans(load, text):
    assert value(load, text) is False


@pytest.mark.parametrize("text", ["yes", "no", "NO", "on", "off", "y", "n", "Yes", "tRUE"])
def test_yaml11_booleans_stay_strings(load, text):
    assert value(load, text) == text


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_null_spellings(load, text):
    assert value(load, text) is None


@pytest.mark.parametrize(
    "text, expected",
    [("12", 12), ("-3", -3), ("+5", 5), ("007", 7), ("0o17", 15), ("0x1F", 31), ("0", 0)],
)
def test_integers(load, text, expected):
    got = value(load, text)
    assert type(got) is int and got == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.5", 0.5),
        ("-1.25", -1.25),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("+.inf", math.inf),
        (".Inf", math.inf),
        ("-.INF", -math.inf),
    ],
)
def test_floats(load, text, expected):
    got = value(load, text)
    assert type(got) is float and got == expected


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan(load, text):
    assert math.isnan(value(load, text))


@pytest.mark.parametrize("text", ["0o8", "0x", "1_000", "1,5", "12abc", "0b101", ".inf.", "-.nan", "2024-1-1"])
def test_near_numbers_stay_strings(load, text):
    assert value(load, text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01t10:00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01 10:00:00.5", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T10:00:00.1234567+02:00", datetime(2024, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2024-01-01 10:00:00 -05", datetime(2024, 1, 1, 15, tzinfo=UTC)),
        ("2024-1-2T3:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware_utc_datetimes(load, text, expected):
    got = value(load, text)
    assert got == expected and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ['"2024-01-01"', "'true'", '"12"', "'null'", '"~"'])
def test_quoted_scalars_are_strings(load, text):
    assert value(load, text) == text[1:-1]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("!!str 12", "12"),
        ("!!str true", "true"),
        ('!!int "12"', 12),
        ("!!float 1", 1.0),
        ('!!bool "false"', False),
        ('!!null ""', None),
        ("!!timestamp 2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        ("!!seq [1]", [1]),
        ("!!map {a: 1}", {"a": 1}),
    ],
)
def test_standard_tags_are_honoured(load, text, expected):
    got = value(load, text)
    assert got == expected and type(got) is type(expected)


def test_block_scalars_are_strings(load):
    assert load("v: |\n  line 1\n  true\nw: >-\n  folded\n  text\n").data == {"v": "line 1\ntrue\n", "w": "folded text"}


# ------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    "text, message",
    [
        (
            "v: !!python/object/apply:os.system [ls]\n",
            "f.yaml:1:4: tag '!!python/object/apply:os.system' is not allowed (only the standard YAML tags)",
        ),
        (
            "v: !!python/name:os.system\n",
            "f.yaml:1:4: tag '!!python/name:os.system' is not allowed (only the standard YAML tags)",
        ),
        ("v: !foo bar\n", "f.yaml:1:4: tag '!foo' is not allowed (only the standard YAML tags)"),
        ("v: !foo {a: 1}\n", "f.yaml:1:4: tag '!foo' is not allowed (only the standard YAML tags)"),
        ("v: !foo [1]\n", "f.yaml:1:4: tag '!foo' is not allowed (only the standard YAML tags)"),
        ("v: !!binary aGk=\n", "f.yaml:1:4: tag '!!binary' is not allowed (only the standard YAML tags)"),
        ("v: !!set {a, b}\n", "f.yaml:1:4: tag '!!set' is not allowed (only the standard YAML tags)"),
        ("v: !!omap [a: 1]\n", "f.yaml:1:4: tag '!!omap' is not allowed (only the standard YAML tags)"),
        ("v: !!int twelve\n", "f.yaml:1:4: not a valid !!int value"),
        ("v: !!float abc\n", "f.yaml:1:4: not a valid !!float value"),
        ("v: !!bool yes\n", "f.yaml:1:4: not a valid !!bool value"),
        ("v: !!null x\n", "f.yaml:1:4: not a valid !!null value"),
        ("v: 2024-02-30\n", "f.yaml:1:4: invalid date or time (quote it to keep it as text)"),
        ("v: !!timestamp soon\n", "f.yaml:1:4: invalid date or time (quote it to keep it as text)"),
    ],
)
def test_unsafe_or_unknown_tags_and_bad_tagged_values_fail(fails, text, message):
    assert fails(text) == message


def test_duplicate_key_names_both_positions(fails):
    assert fails("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n") == (
        "f.yaml:5:3: duplicate key 'c' (first defined at line 3, column 3)"
    )


def test_duplicate_key_in_flow_mapping(fails):
    assert fails("a: {x: 1, y: 2, x: 3}\n") == "f.yaml:1:17: duplicate key 'x' (first defined at line 1, column 5)"


def test_duplicate_key_of_equal_values_with_different_spelling(fails):
    assert fails("1: a\n0x1: b\n") == "f.yaml:2:1: duplicate key '1' (first defined at line 1, column 1)"


def test_merge_keys_are_refused_but_a_quoted_merge_text_is_a_key(load, fails):
    assert fails("a: &x {b: 1}\nc:\n  <<: *x\n") == (
        "f.yaml:3:3: merge keys ('<<') are not supported (YAML 1.2); alias a whole mapping instead"
    )
    assert load('"<<": 1\n').data == {"<<": 1}


def test_collection_keys_are_refused(fails):
    assert fails("? [a, b]\n: 1\n") == "f.yaml:1:3: a mapping key must be a scalar, not a list or mapping"


def test_tab_indentation_is_located(fails):
    assert fails("a:\n\tb: 1\n") == "f.yaml:2:1: tab character where YAML expects spaces (indent with spaces only)"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "a: [1, 2\n",
            "f.yaml:2:1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 1, column 4)",
        ),
        (
            "a: b: c\n",
            "f.yaml:1:5: unexpected ':' (a value holding ': ' must be quoted, and a key must not be indented deeper than the keys beside it)",
        ),
        ("a: 'x\n", "f.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at line 1, column 4)"),
        ("a: *nope\n", "f.yaml:1:4: found undefined alias 'nope'"),
        ("a: 1\n---\nb: 2\n", "f.yaml:2:1: a second YAML document ('---') in the file; only one is allowed"),
        (
            "a: 1\n- b\n",
            "f.yaml:2:1: bad indentation: this line does not line up with the mapping that starts at line 1, column 1 (the keys of one mapping, and the items of one list, start in the same column)",
        ),
    ],
)
def test_syntax_errors_are_located_one_based(fails, text, message):
    assert fails(text) == message


def test_billion_laughs_fails_fast(fails):
    lines = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    start = time.monotonic()
    message = fails("\n".join(lines) + "\n")
    assert time.monotonic() - start < 1
    assert message == "f.yaml:5:4: alias expansion exceeds 100000 nodes"  # e: 111,111 nodes


def test_moderate_alias_reuse_is_expanded(load):
    doc = load("base: &b {status: OPEN, tags: [x]}\ncopy: *b\n")
    assert doc.data["copy"] == {"status": "OPEN", "tags": ["x"]}
    assert doc.data["copy"] is not doc.data["base"]
    assert doc.position(("copy", "tags", 0)) == (1, 32)  # where the anchored value is written


def test_recursive_alias_is_refused(fails):
    assert fails("a: &a [1, *a]\n") == "f.yaml:1:4: an alias refers to a node that contains it"


def test_nesting_depth_is_bounded(fails):
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    assert fails(deep + "\n") == f"f.yaml:1:{MAX_DEPTH + 1}: nesting deeper than {MAX_DEPTH} levels"


def test_nesting_depth_through_aliases_is_bounded(fails):
    lines = ["a: &a " + "[" * 60 + "]" * 60, "b: &b " + "[" * 50 + "*a" + "]" * 50]
    # reported at the first list of b that ends up more than 100 levels deep
    assert fails("\n".join(lines) + "\n") == f"f.yaml:2:16: aliases nest deeper than {MAX_DEPTH} levels"


def test_file_size_is_capped(fails):
    assert fails(b"a: 1\n" + b" " * MAX_BYTES) == "f.yaml: file is larger than 8 MiB"


@pytest.mark.parametrize("text", [b"", b"\n\n", b"# only a comment\n", b"---\n"])
def test_empty_file_is_an_error(load, fails, text):
    if text == b"---\n":
        assert load(text).data is None  # an explicit empty document is a document
        return
    assert fails(text) == "f.yaml: file is empty (no YAML document)"


def test_non_utf8_byte_is_located_by_characters(fails):
    assert fails("a: 1\nb: café ".encode() + b"\xff\n") == "f.yaml:2:9: not valid UTF-8 (byte 0xff)"


def test_utf16_file_is_refused_as_non_utf8(fails):
    assert fails("a: 1\n".encode("utf-16")) == "f.yaml:1:1: not valid UTF-8 (byte 0xff)"


def test_utf8_bom_is_accepted(load):
    assert load(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}


def test_control_characters_are_located(fails):
    assert fails("a: 1\nb: x\x00y\n") == "f.yaml:2:5: character U+0000 is not allowed in YAML"


def test_unreadable_path_is_a_located_error(tmp_path):
    with pytest.raises(Located) as caught:
        read_yaml(tmp_path, "dir")
    assert str(caught.value) == "dir: cannot read file: Is a directory"


# ---------------------------------------------------------------------- positions
def test_positions_of_values_and_keys(load):
    doc = load("a:\n  b: [1, {c: x}]\n  d:\n    - e\n")
    assert doc.position(()) == (1, 1)
    assert doc.position(("a",)) == (2, 3)
    assert doc.position(("a", "b")) == (2, 6)
    assert doc.position(("a", "b", 1, "c")) == (2, 14)
    assert doc.key_position(("a", "b", 1, "c")) == (2, 11)
    assert doc.key_position(("a", "d")) == (3, 3)
    assert doc.position(("a", "d", 0)) == (4, 7)
    assert doc.key_position(("a", "d", 0)) == (4, 7)  # list items have no key


def test_unknown_path_falls_back_to_nearest_ancestor(load):
    doc = load("a:\n  b: {c: 1}\n")
    assert doc.position(("a", "b", "zzz", 3)) == (2, 6)
    assert doc.key_position(("a", "zzz")) == (2, 3)
    assert doc.position(("nope",)) == (1, 1)


def test_positions_count_characters_not_bytes(load):
    doc = load("é: {ü: 1}\n")
    assert doc.position(("é", "ü")) == (1, 8)


def test_integer_keys_and_values_keep_their_source_text_when_not_plain_decimal(load):
    doc = load("007: 0x1F\n8: 9\n")
    assert doc.data == {7: 31, 8: 9}
    assert doc.int_text((7,), key=True) == "007"
    assert doc.int_text((7,)) == "0x1F"
    assert doc.int_text((8,), key=True) is None and doc.int_text((8,)) is None


def test_error_helper_locates_messages(load):
    doc = load("a:\n  b: 1\n")
    assert str(doc.error(("a", "b"), "bad")) == "f.yaml:2:6: bad"
    assert str(doc.error(("a", "b"), "bad", key=True)) == "f.yaml:2:3: bad"


def test_raw_bytes_are_kept_for_digests(load):
    assert load("a: 1\n").raw == b"a: 1\n"


def test_plain_types_only(load):
    doc = load("a: [1, 2.5, x, true, null, 2024-01-01, {b: c}]\n")
    kinds = {type(v) for v in doc.data["a"]}
    assert kinds == {int, float, str, bool, type(None), datetime, dict}


# ------------------------------------------------- the two parser paths agree
def _outcome(path, use_libyaml: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(yamlload, "USE_LIBYAML", use_libyaml)
    try:
        doc = read_yaml(path, "f.yaml")
    except Located as error:
        return ("error", str(error))
    return (
        "data",
        repr(doc.data),
        sorted(doc._values.items(), key=repr),
        sorted(doc._keys.items(), key=repr),
        sorted(doc._int_texts.items(), key=repr),
    )


@pytest.mark.parametrize(
    "text",
    ["&a '0': &a []\n", "{&a k: 1, &a j: 2}\n", "a: &x 1\nb: [&y 2]\n", "&r {a: 1}\n"],
    ids=["value-anchor-twice", "key-anchor-twice", "anchors-unused", "root-anchor"],
)
def test_an_anchor_reads_the_same_on_both_paths(tmp_path, monkeypatch, text):
    """An anchor without an alias once took libyaml's streaming path, which never
    looked at anchors: a duplicate anchor was data there and an error on the pure-Python
    path (found by the comparison below)."""
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    assert _outcome(path, True, monkeypatch) == _outcome(path, False, monkeypatch)


@pytest.mark.slow
def test_libyaml_and_pure_python_paths_give_the_same_data_positions_and_errors(tmp_path, monkeypatch, yaml_parser):
    """Random documents, dumped in block and flow style and then mangled (characters
    dropped, swapped, tabs, anchors): both paths return the same data and positions, or
    the same located error."""
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    if yaml_parser != "libyaml":
        pytest.skip("compares the two paths once")
    path = tmp_path / "f.yaml"
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10**20),
        st.floats(allow_nan=False),
        st.sampled_from(["yes", "NO", "0o17", "0x1F", "007", "2024-01-01", "~", "1e3", ".inf", "<<", "a: b"]),
        st.text(max_size=6),
    )
    documents = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(0, 9), inner, max_size=4)
        ),
        max_leaves=20,
    )
    edits = st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.sampled_from(
                [
                    "",
                    "\t",
                    ":",
                    "&a ",
                    "*a",
                    "- ",
                    "\n  ",
                    "!!int ",
                    "{",
                    "]",
                    "\x00",
                    "'",
                    '"',
                    "#",
                    "? ",
                    "---\n",
                    "...\n",
                    "%YAML 1.1\n",
                    "|",
                    ">-",
                    "\r",
                    "\ufeff",
                    "\x85",
                    "\u2028",
                    "\\",
                    "\x7f",
                    ",",
                    "é",
                ]
            ),
        ),
        max_size=3,
    )

    @settings(
        max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(documents, st.booleans(), edits)
    def check(data, flow, changes):
        text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
        for at, insert in changes:
            at %= len(text) + 1
            text = text[:at] + insert + text[at + (0 if insert else 1) :]
        path.write_text(text, encoding="utf-8")
        assert _outcome(path, True, monkeypatch) == _outcome(path, False, monkeypatch), text

    check()


@pytest.mark.slow
def test_json_files_read_with_the_json_module_give_what_the_yaml_path_gives(tmp_path, monkeypatch, yaml_parser):
    """A JSON file (JSON is YAML) is read with the json module, positions found by one
    pass over its tokens: the same data, positions or error as reading it as YAML."""
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    path = tmp_path / "f.yaml"
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**20), 10**20),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["yes", "2024-01-01", "0x1F", "<<", "a: b", "\\/", "\u2028", "é", "\x85"]),
    )
    documents = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=25,
    )
    layouts = st.sampled_from(
        [
            {},
            {"indent": 1},
            {"indent": 2, "ensure_ascii": False},
            {"separators": (",", ":")},
            {"indent": "\t"},
            {"indent": 0, "ensure_ascii": False},
        ]
    )
    edits = st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.sampled_from(
                ["", "\n", "\r", "\r\n", '"', ":", ",", "{", "]", "-0", "1e400", "\x7f", "\\ud83d", '"a": 1, ']
            ),
        ),
        max_size=2,
    )

    @settings(
        max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(documents, layouts, edits)
    def check(data, layout, changes):
        text = json.dumps(data, **layout)
        for at, insert in changes:
            at %= len(text) + 1
            text = text[:at] + insert + text[at + (0 if insert else 1) :]
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        monkeypatch.setattr(yamlload, "READ_JSON", True)
        fast = _outcome(path, yamlload.USE_LIBYAML, monkeypatch)
        monkeypatch.setattr(yamlload, "READ_JSON", False)
        assert fast == _outcome(path, yamlload.USE_LIBYAML, monkeypatch), text

    check()
