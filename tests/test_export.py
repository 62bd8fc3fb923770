"""`reconciler export`: live state as a spec that plans to no changes."""

from __future__ import annotations

import pytest

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli
from reconciler.export import export_spec, unstatable_tags
from reconciler.model import Item, ProviderConfig, QueueSpec, Source, same_tag_value, to_scalar
from reconciler.spec import load_spec

NASTY_STRINGS = [
    "NO",
    "yes",
    "on",
    "1.0",
    "0o17",
    "0x1F",
    "1_000",
    "2024-01-01",
    "",
    " lead",
    "a: b",
    "#x",
    "null",
    "~",
    "true",
    ".inf",
    "- x",
    "multi\nline",
    "émoji ✓",
    "[1]",
    "{a: 1}",
    "1e5",
    "+.5",
    "-1",
    "2024-01-01 10:00:00",
    "trailing ",
    "\ttab",
    "nel\x85x",
    "ls\u2028x",
    "'q'",
    '"dq"',
    "&anchor",
    "*alias",
    "!tag",
    "%dir",
    "@at",
    "`tick",
    "|",
    ">",
    "? q",
    "---",
    "...",
    "a #b",
    "\\",
    "\x00nul",
    "\ud800",
    "x" * 300,
]
NASTY_VALUES = [(v,) for v in NASTY_STRINGS] + [
    (1,),
    (-7,),
    (2**62,),
    (0.5,),
    (1.0,),
    (-0.0,),
    (1e300,),
    (1e-300,),
    (math.inf,),
    (-math.inf,),
    (math.nan,),
    (True,),
    (False,),
    (datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=timezone.utc),),
    (datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),),
    (1, 2),
    ("NO", 1, 1.0, True),
    ("", ""),
]
NASTY_KEYS = [
    "NO",
    "1",
    "1.0",
    "true",
    "null",
    "~",
    "a: b",
    "#x",
    " lead",
    "-",
    "?",
    "key.with.dots",
    "2024-01-01",
    "x" * 100,
    "token",
    "authtoken",
    "auth_token",
    "password",
    "secret",
    "sessionToken",
    "api_key",
    "Token",
    "PASSWORD",
]  # tag names are data


def round_trip(tmp_path: Path, tags: dict) -> dict:
    """Export one item with these tags, read the text back with the spec loader."""
    item = Item(id="9700001", etag="e", status="SCORED", tags=tags, locked=True)
    queue = QueueSpec(id="9615000", source=Source("spec.yaml", 1))
    text = export_spec(ProviderConfig("local", {"path": "state.db"}, str(tmp_path)), [(queue, [item])], str(tmp_path))
    path = tmp_path / "exported.yaml"
    path.write_text(text, encoding="utf-8")
    entry = load_spec(path).queues[0].submissions["9700001"]
    assert entry.locked.value is True and entry.status.value == "SCORED"
    return {key: setting.value for key, setting in entry.tags.items()}


def assert_same_tags(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert same_tag_value(got[key], value), (key, value, got[key])


def test_nasty_values_and_keys_read_back_as_the_same_typed_values(tmp_path):
    tags = {f"k{i}": value for i, value in enumerate(NASTY_VALUES)}
    tags.update({key: ("v",) for key in NASTY_KEYS})
    assert_same_tags(round_trip(tmp_path, tags), tags)


scalars = st.one_of(
    st.text(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)).map(
        to_scalar
    ),
)
tag_values = st.one_of(scalars.map(lambda v: (v,)), st.lists(scalars, min_size=2, max_size=3).map(tuple))
tag_keys = st.text(min_size=1).filter(str.isprintable)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(st.dictionaries(tag_keys, tag_values, max_size=4))
def test_any_typed_tags_read_back_as_the_same_values(tmp_path_factory, tags):
    assert_same_tags(round_trip(tmp_path_factory.mktemp("export"), tags), tags)


def test_header_names_the_schema_and_entries_are_sorted(tmp_path):
    items = [Item(id=i, etag="e", status="RECEIVED") for i in ("9700010", "a1", "9700002", "100")]
    text = export_spec(
        ProviderConfig("synapse", {"endpoint": "http://127.0.0.1:1/repo/v1"}, str(tmp_path)),
        [(QueueSpec(id="9615000", source=Source("s", 1)), items)],
        str(tmp_path),
    )
    assert text.splitlines()[0] == "# yaml-language-server: $schema=spec.schema.json"
    assert "provider: {type: synapse, endpoint: 'http://127.0.0.1:1/repo/v1'}" in text
    positions = [
        text.index(f'"{i}"') if i.isdigit() else text.index(f"{i}:") for i in ("100", "9700002", "9700010", "a1")
    ]
    assert positions == sorted(positions)


def test_empty_list_tags_are_left_out_with_a_warning(tmp_path):
    item = Item(id="9700001", etag="e", status="SCORED", tags={"empty": (), "kept": ("x",)})
    queues = [(QueueSpec(id="9615000", source=Source("s", 1)), [item])]
    assert unstatable_tags(queues) == [
        "queue 9615000: submission 9700001: tag 'empty' is an empty list, which a spec cannot "
        "state; left out of the export"
    ]
    assert round_trip(tmp_path, {"empty": (), "kept": ("x",)}) == {"kept": ("x",)}


def seed(tmp_path, items):
    (tmp_path / "live.json").write_text(json.dumps({"queues": [{"id": "9615000", "items": items}]}))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        'version: 1\nprovider: {type: local, path: state.db, seed: live.json}\nqueues:\n  - id: "9615000"\n'
    )
    return spec


def test_exported_spec_plans_to_no_changes_with_nasty_values(tmp_path):
    items = [
        {"id": str(9700001 + i), "status": "SCORED", "tags": {"v": value}, "locked": i % 2 == 0}
        for i, value in enumerate(NASTY_STRINGS)
    ]
    items.append(
        {
            "id": "9800001",
            "status": "RECEIVED",
            "tags": {"f": 1.0, "i": 1, "b": False, "lst": [1, 2], "big": 1e300, "neg": -0.5},
        }
    )
    items.append({"id": "9800002", "status": "ACCEPTED", "tags": {}})
    spec = seed(tmp_path, items)
    out = tmp_path / "sub" / "exported.yaml"
    out.parent.mkdir()
    result = run_cli("export", spec, "-o", out)
    assert result.code == 0, result.err
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    again = run_cli("plan", out, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_exported_entries_are_sorted_and_minimal(tmp_path):
    spec = seed(
        tmp_path,
        [
            {"id": "9700010", "status": "SCORED", "tags": {}, "locked": False},
            {"id": "9700002", "status": "RECEIVED", "tags": {"a": "x"}, "locked": True},
        ],
    )
    result = run_cli("export", spec, "-o", "-")
    assert result.code == 0
    body = result.out
    assert body.index("9700002") < body.index("9700010")
    assert "locked: false" not in body and "tags: {}" not in body
    assert "locked: true" in body


def test_exported_timestamps_round_trip(tmp_path):
    spec = tmp_path / "spec.yaml"
    (tmp_path / "live.yaml").write_text(
        "queues:\n- id: '9615000'\n  items:\n  - {id: '9700001', status: SCORED, tags: {when: 2024-05-01T10:00:00Z}}\n"
    )
    spec.write_text(
        'version: 1\nprovider: {type: local, path: state.db, seed: live.yaml}\nqueues:\n  - id: "9615000"\n'
    )
    out = tmp_path / "exported.yaml"
    assert run_cli("export", spec, "-o", out).code == 0
    assert run_cli("plan", out, "--detailed-exitcode").code == 0


def test_export_on_the_synapse_sandbox_round_trips(make_sandbox, tmp_path):
    """Typed annotations (DOUBLE, LONG, BOOLEAN, TIMESTAMP_MS, lists) and strings that look
    like other types come back as the same values, so the exported spec plans to nothing."""
    sandbox = make_sandbox(synthetic=[("9615000", 5)])
    strings = {f"s{i}": value for i, value in enumerate(NASTY_STRINGS) if value not in ("\ud800",)}
    tags = ", ".join(f"{key}: {json.dumps(value)}" for key, value in strings.items())
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{sandbox.url}"}}\n'
        'queues:\n  - id: "9615000"\n    safety: {max_change_percent: 100}\n    submissions:\n'
        '      "9700001": {status: SCORED, tags: {score: 0.5, whole: 1.0, rank: 3, ok: false, '
        'when: 2024-05-01T10:00:00.250Z, n: [1, 2], names: ["NO", "1.0"], note: "NO"}}\n'
        '      "9700002": {locked: true}\n'
        f'      "9700003": {{tags: {{{tags}}}}}\n'
    )
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    applied = run_cli("apply", spec, "--auto-approve", env=env)
    assert applied.code == 0, applied.out + applied.err
    out = tmp_path / "exported.yaml"
    exported = run_cli("export", spec, "-o", out, env=env)
    assert exported.code == 0, exported.err
    assert exported.err == f"Wrote 5 submission(s) of 1 queue(s) to {out}.\n"
    planned = run_cli("plan", out, "--detailed-exitcode", env=env)
    assert planned.code == 0, planned.out + planned.err
    entries = load_spec(out).queues[0].submissions
    assert entries["9700002"].locked.value is True and "9700001" in entries
    when = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert entries["9700001"].tags["when"].value == (when,)
    assert_same_tags({k: v.value for k, v in entries["9700003"].tags.items()}, {k: (v,) for k, v in strings.items()})


def test_export_to_stdout_writes_the_spec_alone(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED", "tags": {"a": "NO"}}])
    result = run_cli("export", spec, "-o", "-")
    assert result.code == 0 and result.err == ""
    assert result.out.startswith("# yaml-language-server: $schema=spec.schema.json\n")
    assert "a: 'NO'" in result.out


def test_export_to_an_unwritable_place_is_one_line_and_exit_1(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED"}])
    result = run_cli("export", spec, "-o", tmp_path / "missing" / "out.yaml")
    assert result.code == 1
    assert result.err == (
        f"error: {tmp_path / 'missing' / 'out.yaml'}: cannot write the exported spec: No such file or directory\n"
    )


def test_export_without_an_output_writes_to_stdout(tmp_path):
    """Was test_export_needs_an_output: issue 27 made stdout the default."""
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED"}])
    result = run_cli("export", spec)
    assert result.code == 0 and result.out == run_cli("export", spec, "-o", "-").out
    assert "9700001" in result.out and not (tmp_path / "spec.schema.json").exists()


def test_export_refuses_an_existing_file_without_force(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED"}])
    out = tmp_path / "current.yaml"
    out.write_text("mine\n")
    result = run_cli("export", spec, "-o", out)
    assert result.code == 1 and out.read_text() == "mine\n"
    assert result.err == (
        f"error: {out}: already exists; pass --force to replace it, or export to "
        "another file (or to stdout: leave out -o)\n"
    )
    assert run_cli("export", spec, "-o", out, "--force").code == 0
    assert "9700001" in out.read_text()


def test_export_never_writes_over_its_input_spec_even_with_force(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED"}])
    before = spec.read_text()
    result = run_cli("export", spec, "-o", spec, "--force")
    assert result.code == 1 and "is the spec being exported" in result.err
    assert spec.read_text() == before


def test_export_keeps_a_users_own_spec_schema_json(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "RECEIVED"}])
    mine = tmp_path / "spec.schema.json"
    mine.write_text('{"mine": true}\n')
    result = run_cli("export", spec, "-o", tmp_path / "current.yaml")
    assert result.code == 0 and mine.read_text() == '{"mine": true}\n'
    assert "spec.schema.json exists and differs" in result.err
    (tmp_path / "current.yaml").unlink()
    assert run_cli("export", spec, "-o", tmp_path / "current.yaml", "--force").code == 0
    assert "$defs" in mine.read_text()


def test_an_exported_table_plans_to_no_changes_with_nasty_values(tmp_path):
    items = [
        {"id": str(9700001 + i), "status": "SCORED", "tags": {"v": value, "n": i}, "locked": i % 2 == 0}
        for i, value in enumerate(NASTY_STRINGS)
    ]
    items.append(
        {
            "id": "9800001",
            "status": "RECEIVED",
            "tags": {
                "f": 1.0,
                "i": 1,
                "b": False,
                "lst": [1, 2],
                "big": 1e300,
                "neg": -0.5,
                "status": "x",
                "when": {"timestamp": "2024-05-01T10:00:00.123Z"},
            },
        }
    )
    items.append({"id": "9800002", "status": "ACCEPTED", "tags": {"f": 2, "nan": {"float": "nan"}}})
    items.append({"id": "9800003", "status": "ACCEPTED", "tags": {}})
    spec = seed(tmp_path, items)
    out = tmp_path / "sub" / "exported.yaml"
    (out.parent / "scores").mkdir(parents=True)
    result = run_cli("export", spec, "-o", out, "--table", tmp_path / "sub" / "scores" / "live.csv")
    assert result.code == 0, result.err
    table = (tmp_path / "sub" / "scores" / "live.csv").read_bytes().decode("utf-8")
    assert table.startswith("id,status,locked,b,big,f,i,n,nan,neg,tag:status,v,when\r\n")  # no column of lists
    exported = load_spec(out).queues[0]
    # a list, an empty string, NUL or a lone surrogate, and a value of another type than
    # its column's (f: 2 among floats) keep their item in `submissions:`
    assert set(exported.submissions["9800001"].tags) == {"f", "i", "b", "lst", "big", "neg", "status", "when"}
    assert str(exported.submissions["9800002"].tags["f"].source).startswith(f"{out}:")
    assert str(exported.submissions["9700001"].tags["v"].source) == f"{out.parent}/scores/live.csv:2 (v)"
    again = run_cli("plan", out, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert "No changes" in again.out


def test_an_exported_table_outside_the_spec_folder_is_refused(tmp_path):
    spec = seed(tmp_path, [{"id": "9700001", "status": "SCORED", "tags": {}}])
    (tmp_path / "sub").mkdir()
    result = run_cli("export", spec, "-o", tmp_path / "sub" / "out.yaml", "--table", tmp_path / "out.csv")
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        f"error: --table {tmp_path}/out.csv: the table must be inside the exported spec's "
        f"folder ({tmp_path}/sub), which the spec can include from\n"
    )
    assert not (tmp_path / "sub" / "out.yaml").exists()


def test_export_table_alone_prints_the_spec_that_includes_it(tmp_path, monkeypatch):
    spec = seed(tmp_path, [{"id": "9700001", "status": "SCORED", "tags": {"auc": 0.5}}])
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", spec, "--table", "adopted.csv")
    assert result.code == 0, result.err
    assert "  - table: adopted.csv\n" in result.out and "auc: {column: auc, type: float}" in result.out
    Path("adopted.yaml").write_text(result.out)
    assert "No changes" in run_cli("plan", "adopted.yaml").out
