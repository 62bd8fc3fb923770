"""Table (CSV, TSV) and JSON sources of `include:` (reconciler/sources.py, docs/spec.md).

Bad input goes through the CLI against a live Synapse sandbox: exit 1, exactly the
located messages on stderr, nothing on stdout, not one request sent.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cli_helpers import run_cli
from reconciler import sources
from reconciler.errors import UserErrors
from reconciler.model import Setting, Source
from reconciler.spec import load_spec

HEADER = "submission_id,score_status,auc,team,rank,final\n"
SPEC = """version: 1
provider: {{type: synapse, endpoint: "{url}"}}
queues:
  - id: "9615000"
    safety: {{max_change_percent: 100}}
    include:
      - table: {table}
        id: submission_id
        status: score_status
        locked: final
        tags:
          auc: {{column: auc, type: float}}
          team: team
          rank: {{column: rank, type: integer}}
"""


def write_spec(root: Path, url: str, table: str = "scores/round-3.csv", extra: str = "") -> Path:
    spec = root / "spec.yaml"
    spec.write_text(SPEC.format(url=url, table=table) + extra)
    return spec


def write_table(root: Path, content: str | bytes, name: str = "scores/round-3.csv") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def refused(
    sandbox,
    root: Path,
    content: str | bytes | None,
    *,
    name: str = "scores/round-3.csv",
    table: str | None = None,
    command: tuple[str, ...] = ("plan",),
) -> list[str]:
    """The error lines of a run that must be refused before anything is sent."""
    if content is not None:
        write_table(root, content, name)
    spec = write_spec(root, sandbox.url, table or name)
    result = run_cli(*command, spec, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert (result.code, result.out) == (1, ""), result
    assert "Traceback" not in result.err
    assert sandbox.request_log() == []
    return [line.removeprefix("error: ") for line in result.err.splitlines()]


def source_spec(root: Path, entry: str) -> Path:
    """A local spec whose one queue includes the source `entry` (a YAML flow mapping)."""
    spec = root / "spec.yaml"
    spec.write_text(f"version: 1\nqueues:\n  - id: q\n    include:\n      - {entry}\n")
    return spec


def located(root: Path, lines: list[str]) -> list[str]:
    """The lines with the table's absolute path written relative to `root`."""
    return [line.replace(f"{root}/scores/", "scores/") for line in lines]


# ------------------------------------------------------------------ rows as entries
def test_rows_are_explicit_entries_with_typed_values_and_cell_sources(tmp_path):
    write_table(tmp_path, HEADER + '9700001,SCORED,1,"=HYPERLINK(""http://x"")",2,true\n9700002,,0.5,,,false\n')
    spec = load_spec(write_spec(tmp_path, "http://127.0.0.1:1"))
    (queue,) = spec.queues
    first, second = queue.submissions["9700001"], queue.submissions["9700002"]
    csv_path = str(tmp_path / "scores/round-3.csv")
    assert first.tags["auc"] == Setting((1.0,), Source(csv_path, 2, None, None, "auc"))
    assert isinstance(first.tags["auc"].value[0], float)  # declared float: `1` is 1.0
    assert first.tags["rank"].value == (2,) and isinstance(first.tags["rank"].value[0], int)
    assert first.tags["team"].value == ('=HYPERLINK("http://x")',)  # a formula is text, never evaluated
    assert first.status == Setting("SCORED", Source(csv_path, 2, None, None, "score_status"))
    assert first.locked.value is True and second.locked.value is False
    assert second.status is None and set(second.tags) == {"auc"}  # empty cells set nothing
    assert str(first.tags["auc"].source) == f"{csv_path}:2 (auc)"
    assert csv_path in spec.files


def test_empty_delete_removes_the_tag_of_an_empty_cell(tmp_path):
    write_table(tmp_path, HEADER + "9700002,,0.5,,,\n")
    spec = load_spec(write_spec(tmp_path, "http://127.0.0.1:1").parent / "spec.yaml")
    assert "team" not in spec.queues[0].submissions["9700002"].tags
    path = write_spec(tmp_path, "http://127.0.0.1:1")
    path.write_text(
        path.read_text().replace("        id: submission_id\n", "        id: submission_id\n        empty: delete\n")
    )
    entry = load_spec(path).queues[0].submissions["9700002"]
    assert entry.tags["team"].value is None and entry.tags["rank"].value is None
    assert entry.status is None and entry.locked is None  # a status or lock is never deleted


def test_timestamps_and_tsv_by_extension(tmp_path):
    write_table(tmp_path, "id\twhen\n9700001\t2026-12-05T10:00:00Z\n9700002\t2026-12-05\n", "scores/t.tsv")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    include:\n      - table: scores/t.tsv\n"
        "        id: id\n        tags: {when: {type: timestamp}}\n"
    )
    entries = load_spec(spec).queues[0].submissions
    assert entries["9700001"].tags["when"].value == (datetime(2026, 12, 5, 10, tzinfo=timezone.utc),)
    assert entries["9700002"].tags["when"].value == (datetime(2026, 12, 5, tzinfo=timezone.utc),)


def test_a_utf8_bom_is_accepted_and_positions_count_without_it(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, "\ufeff" + HEADER + "9700001,SCORED,n/a,owls,1,false\n")
    assert located(tmp_path, lines) == ["scores/round-3.csv:2:16: column 'auc': expected a float, got 'n/a'"]


def test_the_plan_names_the_cell_in_every_format(tmp_path, monkeypatch):
    (tmp_path / "live.yaml").write_text(
        "queues:\n- id: q\n  items:\n  - {id: '1', status: RECEIVED, tags: {auc: 0.5}, locked: true}\n"
    )
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nprovider: {type: local, path: .reconciler/state.db, seed: live.yaml}\nqueues:\n"
        "  - id: q\n    include:\n      - table: scores/round-3.csv\n        id: id\n"
        "        tags: {auc: {type: float}}\n"
    )
    write_table(tmp_path, "id,auc\n\n1,0.91\n")
    monkeypatch.chdir(tmp_path)
    text = run_cli("plan", "spec.yaml", "--no-color")
    assert "tags.auc: 0.5 → 0.91    # scores/round-3.csv:3 (auc)" in text.out
    markdown = run_cli("plan", "spec.yaml", "--format", "markdown")
    assert "`scores/round-3.csv:3 (auc)`" in markdown.out
    data = json.loads(run_cli("plan", "spec.yaml", "--format", "json").out)
    assert data["queues"][0]["changes"][0]["sources"] == [
        {"field": "tags.auc", "file": "scores/round-3.csv", "line": 3, "rule": None, "cell": "auc"}
    ]
    github = run_cli("plan", "spec.yaml", "--format", "github", env={"GITHUB_STEP_SUMMARY": None})
    assert (
        "::error file=scores/round-3.csv,line=3,title=blocked change::" in github.out
    )  # the blocked change, on its row
    # blocked (the item is locked): `plan -o` does not save a failing plan (issue 27), its
    # JSON document is the same file
    assert run_cli("plan", "spec.yaml", "-o", "plan.json").code == 1
    (tmp_path / "plan.json").write_text(run_cli("plan", "spec.yaml", "--format", "json").out)
    shown = run_cli("show", "plan.json", "--no-color")
    assert "# scores/round-3.csv:3 (auc)" in shown.out


def test_cell_errors_are_github_annotations_on_the_table_line(sandbox, tmp_path, monkeypatch):
    write_table(tmp_path, HEADER + "9700001,SCORED,n/a,owls,1,false\n")
    spec = write_spec(tmp_path, sandbox.url)
    monkeypatch.chdir(tmp_path)
    result = run_cli("plan", "--format", "github", spec.name, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        "::error file=scores/round-3.csv,line=2,col=16::column 'auc': expected a float, got 'n/a'"
    )


def test_a_row_wins_over_a_rule_as_an_explicit_entry_does(tmp_path, monkeypatch):
    (tmp_path / "live.yaml").write_text(
        "queues:\n- id: q\n  items:\n  - {id: '1', status: RECEIVED, tags: {}, locked: false}\n"
        "  - {id: '2', status: RECEIVED, tags: {}, locked: false}\n"
    )
    (tmp_path / "spec.yaml").write_text(
        "version: 1\nprovider: {type: local, path: .reconciler/state.db, seed: live.yaml}\nqueues:\n"
        "  - id: q\n    safety: {max_change_percent: 100}\n"
        "    rules: [{name: accept, where: {status: RECEIVED}, set: {status: ACCEPTED}}]\n"
        "    include: [{table: scores/round-3.csv, id: id, status: status}]\n"
    )
    write_table(tmp_path, "id,status\n1,SCORED\n2,\n")
    monkeypatch.chdir(tmp_path)
    data = json.loads(run_cli("plan", "spec.yaml", "--format", "json").out)
    changes = {c["id"]: (c["after"]["status"], c["sources"][0]) for c in data["queues"][0]["changes"]}
    assert changes == {
        "1": ("SCORED", {"field": "status", "file": "scores/round-3.csv", "line": 2, "rule": None, "cell": "status"}),
        "2": ("ACCEPTED", {"field": "status", "file": "spec.yaml", "line": 6, "rule": "accept"}),  # empty: skipped
    }


# ------------------------------------------------------------- one place per id
def test_an_id_in_two_rows_is_an_error_naming_both(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER + "9700001,SCORED,1,a,1,false\n9700001,SCORED,2,b,1,false\n")
    assert located(tmp_path, lines) == [
        "scores/round-3.csv:3:1: column 'submission_id': submission '9700001' is already defined at "
        "scores/round-3.csv:2:1"
    ]


def test_an_id_in_a_yaml_entry_and_a_row_is_an_error_naming_both(sandbox, tmp_path):
    write_table(tmp_path, HEADER + "9700001,SCORED,1,a,1,false\n")
    spec = write_spec(tmp_path, sandbox.url)
    spec.write_text(spec.read_text() + '    submissions:\n      "9700001": {status: SCORED}\n')
    result = run_cli("plan", spec, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 1 and sandbox.request_log() == []
    assert result.err == (
        f"error: {tmp_path}/scores/round-3.csv:2:1: column 'submission_id': submission "
        f"'9700001' is already defined at {spec}:16:7\n"
    )


def test_an_id_in_a_table_and_a_json_source_is_an_error_naming_both(tmp_path):
    write_table(tmp_path, "id,auc\n9700001,0.5\n")
    write_table(tmp_path, '{"id": "9700001", "auc": 0.7}', "results/9700001/results.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    include:\n"
        "      - {table: scores/round-3.csv, id: id, tags: {auc: {type: float}}}\n"
        "      - {json: results/*/results.json, id: id, tags: {auc: {type: float}}}\n"
    )
    with pytest.raises(UserErrors) as caught:
        load_spec(spec)
    assert str(caught.value) == (
        f"{tmp_path}/results/9700001/results.json:1:8: submission '9700001' is "
        f"already defined at {tmp_path}/scores/round-3.csv:2:1"
    )


# ----------------------------------------------------------------- cell checks
def test_a_wrong_type_is_located_at_its_cell_naming_the_column(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER + "9700001,SCORED,0.5,owls,1.5,yes\n")
    assert located(tmp_path, lines) == [
        "scores/round-3.csv:2:25: column 'rank': expected an integer, got '1.5'",
        "scores/round-3.csv:2:29: column 'final': expected true or false, got 'yes'",
    ]


def test_synapse_checks_each_cell_at_its_place(sandbox, tmp_path):
    lines = refused(
        sandbox, tmp_path, HEADER + "9700001,SCROED,0.5,owls,99999999999999999999,false\nabc,SCORED,0.5,owls,1,false\n"
    )
    assert located(tmp_path, lines)[:2] == [
        "scores/round-3.csv:2:9: column 'score_status': status 'SCROED' is not a Synapse submission status: "
        "did you mean 'SCORED'? (one of: ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, "
        "REJECTED, SCORED, VALIDATED)",
        "scores/round-3.csv:2:25: column 'rank': tag 'rank' has an integer outside Synapse's 64-bit range",
    ]
    assert located(tmp_path, lines)[2].startswith("scores/round-3.csv:3:1: column 'submission_id': ")


def test_healthomics_refuses_a_non_text_tag_at_its_cell(tmp_path):
    write_table(tmp_path, "id,auc\n1234567,0.5\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: omics, region: us-east-1}\nqueues:\n  - id: all\n"
        "    include:\n      - {table: scores/round-3.csv, id: id, tags: {auc: {type: float}}}\n"
    )
    with pytest.raises(UserErrors) as caught:
        load_spec(spec)
    assert str(caught.value) == (
        f"{tmp_path}/scores/round-3.csv:2:9: column 'auc': tag 'auc' must be one string on HealthOmics "
        "(AWS tags are text; quote numbers and booleans, no lists)"
    )


def test_a_declared_column_missing_from_the_header_is_one_error_with_the_closest_name(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, "submission_id,score_status,acu,team,rank,final\n9700001,,,,,\n")
    assert located(tmp_path, lines) == [
        "scores/round-3.csv:1:1: column 'auc' is not in the header: did you mean 'acu'? (columns: "
        "'submission_id', 'score_status', 'acu', 'team', 'rank', 'final')"
    ]


def test_a_wrong_type_in_every_row_prints_one_screenful_and_a_count(sandbox, tmp_path):
    rows = "".join(f"{9700000 + i},SCORED,n/a,owls,1,false\n" for i in range(1000))
    lines = refused(sandbox, tmp_path, HEADER + rows)
    assert len(lines) == sources.MAX_SHOWN + 1
    assert located(tmp_path, lines)[0] == "scores/round-3.csv:2:16: column 'auc': expected a float, got 'n/a'"
    assert located(tmp_path, lines)[-1] == (
        f"scores/round-3.csv: ... and {1000 - sources.MAX_SHOWN} more problem(s) in this file "
        f"(the first {sources.MAX_SHOWN} are shown)"
    )


# ------------------------------------------------------------------- bad files
def test_a_ragged_row_is_refused_at_its_line(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER + "9700001,SCORED,0.5,owls,1\n")
    assert located(tmp_path, lines) == ["scores/round-3.csv:2:1: row has 5 cell(s), the header has 6 column(s)"]


def test_line_numbers_stay_right_after_a_quoted_newline(sandbox, tmp_path):
    lines = refused(
        sandbox, tmp_path, HEADER + '9700001,SCORED,0.5,"two\nlines",1,false\n9700002,SCORED,0.5,"x",1,maybe\n'
    )
    assert located(tmp_path, lines) == ["scores/round-3.csv:4:26: column 'final': expected true or false, got 'maybe'"]


def test_a_quoted_newline_before_the_bad_cell_moves_its_line(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER + '9700001,SCORED,0.5,"two\nlines",1,maybe\n')
    assert located(tmp_path, lines) == ["scores/round-3.csv:3:10: column 'final': expected true or false, got 'maybe'"]


def test_a_delimiter_that_does_not_match_the_extension_is_named(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER.replace(",", "\t") + "9700001\tSCORED\t0.5\towls\t1\tfalse\n")
    assert located(tmp_path, lines) == [
        "scores/round-3.csv:1:1: the header has no commas but has tabs: this looks like TSV, not CSV "
        "(rename the file or write `format: tsv`)"
    ]


def test_duplicate_header_names_are_refused(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER.strip() + ",auc\n")
    assert located(tmp_path, lines) == ["scores/round-3.csv:1:48: duplicate column name 'auc' (also column 3)"]


def test_an_empty_file_and_an_empty_column_name_are_refused(sandbox, tmp_path):
    assert located(tmp_path, refused(sandbox, tmp_path, "")) == [
        "scores/round-3.csv:1:1: the first line must be a header naming the columns (the file is empty)"
    ]
    lines = refused(sandbox, tmp_path, "submission_id,,score_status,auc,team,rank,final\n")
    assert located(tmp_path, lines) == ["scores/round-3.csv:1:15: column 2 has no name"]


def test_non_utf8_bytes_are_refused_at_their_place(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER.encode() + b"9700001,SCORED,0.5,caf\xe9,1,false\n")
    assert located(tmp_path, lines) == ["scores/round-3.csv:2:23: not valid UTF-8 (byte 0xe9)"]


def test_an_unclosed_quote_is_refused_at_its_row(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER + '9700001,SCORED,0.5,owls,1,false\n9700002,"open,1\n')
    assert located(tmp_path, lines) == [
        "scores/round-3.csv:3: not valid CSV: a quoted cell of this row is never closed "
        '(a quote inside a cell is written "")'
    ]


def test_a_huge_file_is_refused_before_it_is_read(sandbox, tmp_path):
    path = write_table(tmp_path, HEADER)
    with open(path, "r+b") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GiB on paper, nothing on disk
    assert located(tmp_path, refused(sandbox, tmp_path, None)) == [
        "scores/round-3.csv: file is 2,048 MiB, larger than the 64 MiB a table or JSON source may be (split it)"
    ]


def test_a_table_outside_the_spec_directory_is_refused(sandbox, tmp_path):
    root = tmp_path / "spec"
    root.mkdir()
    write_table(tmp_path, HEADER, "outside.csv")
    lines = refused(sandbox, root, None, table="../outside.csv")
    assert lines == [f"{root}/spec.yaml:7:16: include '../outside.csv' leaves the spec's directory"]


def test_a_table_through_a_symlink_out_of_the_tree_is_refused(sandbox, tmp_path):
    root = tmp_path / "spec"
    (root / "scores").mkdir(parents=True)
    write_table(tmp_path, HEADER, "outside.csv")
    (root / "scores" / "round-3.csv").symlink_to(tmp_path / "outside.csv")
    lines = refused(sandbox, root, None)
    assert lines == [
        f"{root}/spec.yaml:7:16: include 'scores/round-3.csv' leaves the spec's directory "
        "('scores/round-3.csv' resolves outside it)"
    ]


def test_an_unknown_extension_needs_a_format(sandbox, tmp_path):
    lines = refused(sandbox, tmp_path, HEADER, name="scores/round-3.txt")
    assert lines == [
        f"{tmp_path}/spec.yaml:7:16: cannot tell the format of 'scores/round-3.txt' from its "
        "extension (.csv or .tsv): write `format: csv` or `format: tsv`"
    ]


def test_a_misspelt_source_field_is_a_schema_error(sandbox, tmp_path):
    write_table(tmp_path, HEADER)
    spec = write_spec(tmp_path, sandbox.url)
    spec.write_text(spec.read_text().replace("status: score_status", "staus: score_status"))
    result = run_cli("validate", spec)
    assert result.code == 1
    assert result.err.startswith(f"error: {spec}:9:9: unknown field 'staus': did you mean 'status'?")


# ------------------------------------------------------------------------ JSON
def test_json_results_with_the_id_in_the_path(tmp_path):
    write_table(tmp_path, '{\n  "auc": 0.91,\n  "team": "owls",\n  "rank": 1\n}\n', "results/9700001/results.json")
    write_table(tmp_path, '{"auc": 1, "team": "larks"}', "results/9700002/results.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    include:\n      - json: results/*/results.json\n"
        '        id: {path: "results/{id}/results.json"}\n'
        "        tags: {auc: {type: float}, team: team, rank: rank}\n"
    )
    entries = load_spec(spec).queues[0].submissions
    assert list(entries) == ["9700001", "9700002"]
    first = entries["9700001"]
    assert first.tags["auc"] == Setting(
        (0.91,), Source(f"{tmp_path}/results/9700001/results.json", 2, None, None, "auc")
    )
    assert first.tags["rank"].value == (1,) and first.tags["rank"].source.line == 4  # its JSON type kept
    assert entries["9700002"].tags["auc"].value == (1.0,)


def test_json_list_and_id_mapping_forms(tmp_path):
    write_table(tmp_path, '[{"id": "1", "auc": 0.5},\n {"id": 2, "auc": 0.25}]', "results/list.json")
    write_table(tmp_path, '{"3": {"auc": 0.75}}', "results/map.json")
    spec = source_spec(tmp_path, "{json: results/*.json, id: id, tags: {auc: {type: float}}}")
    entries = load_spec(spec).queues[0].submissions
    assert {k: v.tags["auc"].value for k, v in entries.items()} == {"1": (0.5,), "2": (0.25,), "3": (0.75,)}
    assert entries["2"].tags["auc"].source.line == 2


def test_json_type_errors_are_located_at_the_value(tmp_path):
    write_table(tmp_path, '[{"id": "1", "auc": "n/a"},\n {"id": true}]', "results/list.json")
    spec = source_spec(tmp_path, "{json: results/*.json, id: id, tags: {auc: {type: float}}}")
    with pytest.raises(UserErrors) as caught:
        load_spec(spec)
    assert str(caught.value) == (
        f"{tmp_path}/results/list.json:1:21: key 'auc': expected a number, got the string 'n/a'\n"
        f"{tmp_path}/results/list.json:2:9: key 'id': expected a non-empty id (text or integer), got true"
    )


def test_a_json_file_off_the_id_path_is_refused(tmp_path):
    write_table(tmp_path, '{"auc": 0.5}', "results/x/other.json")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nqueues:\n  - id: q\n    include:\n      - json: results/*/*.json\n"
        '        id: {path: "results/{id}/results.json"}\n'
    )
    with pytest.raises(UserErrors) as caught:
        load_spec(spec)
    assert str(caught.value) == (
        f"{tmp_path}/results/x/other.json: its path does not fit the id path "
        "'results/{id}/results.json', so it names no id"
    )


# --------------------------------------------------------------- schema, digest
def test_the_schema_describes_table_and_json_sources():
    result = run_cli("schema")
    defs = json.loads(result.out)["$defs"]
    assert defs["table_source"]["required"] == ["table", "id"]
    assert defs["table_source"]["properties"]["empty"]["enum"] == ["skip", "delete"]
    assert defs["json_source"]["properties"]["id"]["anyOf"][1]["required"] == ["path"]
    types = defs["table_source"]["properties"]["tags"]["additionalProperties"]["anyOf"][1]
    assert types["properties"]["type"]["enum"] == list(sources.TYPES)


def test_the_spec_digest_covers_the_table(tmp_path):
    """A plan file is tied to the table it was planned from, as to the YAML."""
    table = write_table(tmp_path, HEADER + "9700001,SCORED,0.5,owls,1,false\n")
    spec = write_spec(tmp_path, "http://127.0.0.1:1")
    before = load_spec(spec).digest
    table.write_text(HEADER + "9700001,SCORED,0.6,owls,1,false\n")
    assert load_spec(spec).digest != before


def test_a_tag_named_like_a_secret_is_data_in_a_source(tmp_path):
    write_table(tmp_path, "id,token\n1,abc\n")
    spec = source_spec(tmp_path, "{table: scores/round-3.csv, id: id, tags: {token: token}}")
    assert load_spec(spec).queues[0].submissions["1"].tags["token"].value == ("abc",)


def test_a_format_names_the_delimiter_of_any_extension(tmp_path):
    write_table(tmp_path, "id\tauc\n1\t0.5\n", "scores/out.txt")
    spec = source_spec(tmp_path, "{table: scores/out.txt, format: tsv, id: id, tags: {auc: {type: float}}}")
    assert load_spec(spec).queues[0].submissions["1"].tags["auc"].value == (0.5,)


def test_broken_json_is_refused_at_its_place(tmp_path):
    write_table(tmp_path, '{"id": "1",\n "auc": 0.5,,}', "results/r.json")
    spec = source_spec(tmp_path, "{json: results/*.json, id: id, tags: {auc: {type: float}}}")
    with pytest.raises(UserErrors) as caught:
        load_spec(spec)
    assert (
        str(caught.value)
        == f"{tmp_path}/results/r.json:2:13: not valid JSON: Expecting property name enclosed in double quotes"
    )


def test_service_problems_of_every_row_are_capped_too(sandbox, tmp_path):
    rows = "".join(f"{9700000 + i},SCROED,0.5,owls,1,false\n" for i in range(100))
    lines = refused(sandbox, tmp_path, HEADER + rows)
    assert len(lines) == sources.MAX_SHOWN + 1
    assert lines[-1].endswith(
        f"round-3.csv: ... and {100 - sources.MAX_SHOWN} more problem(s) in this file "
        f"(the first {sources.MAX_SHOWN} are shown)"
    )
