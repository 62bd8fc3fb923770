"""Spec loading and validation: every bad spec fails with exact messages at exact places.

BAD_SPECS is the manifest of the corpus in tests/specs/bad/: each file (or directory
with a spec.yaml) and every error line it must produce, paths relative to that folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import run_cli

from reconciler.errors import Located, UserError, UserErrors
from reconciler.model import (
    Assignment,
    Match,
    ProviderConfig,
    Rule,
    Safety,
    Setting,
    Source,
    TagCondition,
)
from reconciler.spec import load_spec, spec_schema
from reconciler.yamlload import MAX_BYTES

SPECS = Path(__file__).parent / "specs"
BAD = SPECS / "bad"
GOOD = SPECS / "good"
DOCS = Path(__file__).parent.parent / "docs" / "spec.md"

BAD_SPECS = {
    "bad-endpoint.yaml": [
        "bad-endpoint.yaml:2:37: expected an http:// or https:// URL",
    ],
    "bad-safety-percent.yaml": [
        "bad-safety-percent.yaml:4:34: must be at most 100, got 150",
        "bad-safety-percent.yaml:4:52: must be at least 0, got -1",
    ],
    "bad-safety-type.yaml": [
        "bad-safety-type.yaml:4:34: expected a number, got string",
        "bad-safety-type.yaml:4:54: expected an integer, got number",
    ],
    "bad-tag-policy.yaml": [
        "bad-tag-policy.yaml:4:20: expected 'merge' or 'exact', got 'mrege': did you mean 'merge'?",
    ],
    "billion-laughs.yaml": [
        "billion-laughs.yaml:12:14: alias expansion exceeds 100000 nodes",
    ],
    "comments-only.yaml": [
        "comments-only.yaml: file is empty (no YAML document)",
    ],
    "control-character.yaml": [
        "control-character.yaml:5:30: character U+0007 is not allowed in YAML",
    ],
    "custom-tag.yaml": [
        "custom-tag.yaml:5:27: tag '!upper' is not allowed (only the standard YAML tags)",
    ],
    "default-rule-name-taken.yaml": [
        "default-rule-name-taken.yaml:8:9: this unnamed rule's default name 'rule-2' is already used at line 5, column 15; give it a name",
    ],
    "duplicate-id-quoted-and-unquoted.yaml": [
        "duplicate-id-quoted-and-unquoted.yaml:6:7: duplicate key '9700001' (first defined at line 5, column 7)",
    ],
    "duplicate-key-nested.yaml": [
        "duplicate-key-nested.yaml:5:33: duplicate key 'status' (first defined at line 5, column 19)",
    ],
    "duplicate-key-top-level.yaml": [
        "duplicate-key-top-level.yaml:4:1: duplicate key 'version' (first defined at line 1, column 1)",
    ],
    "duplicate-queue-id.yaml": [
        "duplicate-queue-id.yaml:4:9: duplicate queue id '9615000' (first defined at line 3, column 9)",
    ],
    "duplicate-rule-name.yaml": [
        "duplicate-rule-name.yaml:8:15: duplicate rule name 'lock' (first defined at line 5, column 15)",
    ],
    "empty-list-tag-value.yaml": [
        "empty-list-tag-value.yaml:5:37: an empty list is not a tag value (use null to delete the key)",
    ],
    "empty.yaml": [
        "empty.yaml: file is empty (no YAML document)",
    ],
    "ignore-without-exact.yaml": [
        "ignore-without-exact.yaml:4:27: 'ignore' is only allowed with policy: exact",
    ],
    "ignore-without-policy.yaml": [
        "ignore-without-policy.yaml:5:7: 'ignore' is only allowed with policy: exact",
    ],
    "invalid-date.yaml": [
        "invalid-date.yaml:5:31: invalid date or time (quote it to keep it as text)",
    ],
    "leading-zero-id.yaml": [
        "leading-zero-id.yaml:3:9: quote '0615000': unquoted, it reads as the number 615000",
    ],
    "leading-zero-key.yaml": [
        "leading-zero-key.yaml:5:7: quote '0700001': unquoted, it reads as the number 700001",
    ],
    "many-errors.yaml": [
        "many-errors.yaml:4:20: expected 'merge' or 'exact', got 'mrege': did you mean 'merge'?",
        "many-errors.yaml:5:34: must be at most 100, got 150",
        "many-errors.yaml:7:17: unknown field 'staus': did you mean 'status'? (allowed: ids, item, locked, status, tags)",
        "many-errors.yaml:8:23: expected true or false, got string 'yes' (only true and false are booleans)",
    ],
    "mapping-tag-value.yaml": [
        "mapping-tag-value.yaml:5:33: expected a scalar, a list of scalars or null, got mapping",
        "mapping-tag-value.yaml:5:56: expected a string, number, boolean or timestamp, got mapping",
    ],
    "merge-key.yaml": [
        "merge-key.yaml:6:9: merge keys ('<<') are not supported (YAML 1.2); alias a whole mapping instead",
    ],
    "missing-queue-id.yaml": [
        "missing-queue-id.yaml:3:5: missing required field 'id'",
    ],
    "missing-version.yaml": [
        "missing-version.yaml:1:1: missing required field 'version'",
    ],
    "nesting-too-deep.yaml": [
        "nesting-too-deep.yaml:5:120: nesting deeper than 100 levels",
    ],
    "no-queues.yaml": [
        "no-queues.yaml:2:9: must not be empty",
    ],
    "non-text-key.yaml": [
        "non-text-key.yaml:5:26: a key must be text, got boolean (quote it)",
    ],
    "non-utf8.yaml": [
        "non-utf8.yaml:5:36: not valid UTF-8 (byte 0xe9)",
    ],
    "null-where-condition.yaml": [
        "null-where-condition.yaml:5:31: expected a tag value or a condition ({exists: true|false}, {gt: 0.5} ...), got null",
        "null-where-condition.yaml:5:44: unknown field 'exist': did you mean 'exists'? (allowed: between, eq, exists, ge, gt, in, le, lt, matches, ne, not_in)",
    ],
    "provider-without-type.yaml": [
        "provider-without-type.yaml:2:11: missing required field 'type'",
    ],
    "python-tag.yaml": [
        "python-tag.yaml:4:18: tag '!!python/object/apply:os.system' is not allowed (only the standard YAML tags)",
    ],
    "recursive-alias.yaml": [
        "recursive-alias.yaml:4:12: an alias refers to a node that contains it",
    ],
    "rule-empty-set.yaml": [
        "rule-empty-set.yaml:7:14: must not be empty (give at least one of: status, tags, locked)",
    ],
    "rule-without-where.yaml": [
        "rule-without-where.yaml:5:9: missing required field 'where'",
    ],
    "secret-keys-anywhere.yaml": [
        "secret-keys-anywhere.yaml:4:5: secrets do not belong in a spec: remove 'Password' (use SYNAPSE_AUTH_TOKEN)",
        "secret-keys-anywhere.yaml:6:19: secrets do not belong in a spec: remove 'auth_token' (use SYNAPSE_AUTH_TOKEN)",
    ],
    "synapse-bad-ids.yaml": [
        "synapse-bad-ids.yaml:4:5: queue id 'syn9615000' is not a Synapse evaluation id (digits only)",
        "synapse-bad-ids.yaml:6:34: submission id 'syn9700002' is not a Synapse id (digits only)",
        "synapse-bad-ids.yaml:9:7: submission id '97-3' is not a Synapse id (digits only)",
    ],
    "synapse-bad-status.yaml": [
        "synapse-bad-status.yaml:6:37: status 'DONE' is not a Synapse submission status (one of: ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED)",
        "synapse-bad-status.yaml:7:15: status 'FINISHED' is not a Synapse submission status (one of: ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED)",
        "synapse-bad-status.yaml:9:19: status 'scored' is not a Synapse submission status: did you mean 'SCORED'? (one of: ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED)",
    ],
    "synapse-bad-tag-key.yaml": [
        "synapse-bad-tag-key.yaml:6:26: tag key 'team name' is not allowed on Synapse (letters, digits, ',', '_' and '.' only)",
        "synapse-bad-tag-key.yaml:6:45: tag key '_AccessRequirementIds' is reserved by Synapse",
    ],
    "synapse-lock-annotation-as-tag.yaml": [
        "synapse-lock-annotation-as-tag.yaml:7:24: 'frozen' is the lock annotation of this queue; use `locked:`",
        "synapse-lock-annotation-as-tag.yaml:8:22: 'frozen' is the lock annotation of this queue; use `locked:`",
    ],
    "synapse-mixed-list-types.yaml": [
        "synapse-mixed-list-types.yaml:6:26: tag 'scores' mixes float and integer values; Synapse stores one type per key (write floats as 1.0, quote strings)",
        "synapse-mixed-list-types.yaml:6:44: tag 'flags' mixes boolean and string values; Synapse stores one type per key (write floats as 1.0, quote strings)",
    ],
    "synapse-too-long-strings.yaml": [
        "synapse-too-long-strings.yaml:6:26: tag 'note' has 501 characters of text; Synapse allows at most 500 across a key's values",
    ],
    "synapse-too-many-tag-keys.yaml": [
        "synapse-too-many-tag-keys.yaml:7:9: up to 101 tag keys on one submission (counting every rule's keys and the lock annotation); Synapse allows at most 100",
    ],
    "synapse-too-many-values.yaml": [
        "synapse-too-many-values.yaml:6:26: tag 'ranks' has 101 values; Synapse allows at most 100",
    ],
    "syntax-error.yaml": [
        "syntax-error.yaml:5:1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence at line 4, column 12)",
    ],
    "tab-indentation.yaml": [
        "tab-indentation.yaml:5:1: tab character where YAML expects spaces (indent with spaces only)",
    ],
    "timestamp-as-status.yaml": [
        "timestamp-as-status.yaml:5:27: expected a string, got timestamp (quote it to keep it as text)",
    ],
    "token-key.yaml": [
        "token-key.yaml:4:3: secrets do not belong in a spec: remove 'token' (use SYNAPSE_AUTH_TOKEN)",
    ],
    "two-documents.yaml": [
        "two-documents.yaml:4:1: a second YAML document ('---') in the file; only one is allowed",
    ],
    "unknown-nested-key.yaml": [
        "unknown-nested-key.yaml:5:17: unknown field 'staus': did you mean 'status'? (allowed: ids, item, locked, status, tags)",
    ],
    "unknown-provider-option.yaml": [
        "unknown-provider-option.yaml:2:25: unknown field 'endpoint' (allowed: path, seed, type)",
    ],
    "unknown-provider-type.yaml": [
        "unknown-provider-type.yaml:2:18: expected 'datamaker', 'local', 'omics', 'supervisely', 'synapse' or 'workflow-results', got 'aws'",
    ],
    "unknown-top-level-key.yaml": [
        "unknown-top-level-key.yaml:2:1: unknown field 'queus': did you mean 'queues'? (allowed: provider, queues, version)",
    ],
    "wrong-type-list-for-mapping.yaml": [
        "wrong-type-list-for-mapping.yaml:5:7: expected a mapping, got list",
    ],
    "wrong-type-string-for-list.yaml": [
        "wrong-type-string-for-list.yaml:4:14: expected a list, got string (write `include: [scores/*.yaml]`)",
    ],
    "wrong-version.yaml": [
        "wrong-version.yaml:1:10: unsupported version (this reconciler reads version 1)",
    ],
    "yaml11-boolean.yaml": [
        "yaml11-boolean.yaml:5:27: expected true or false, got string 'yes' (only true and false are booleans)",
    ],
    "include-absolute/spec.yaml": [
        "include-absolute/spec.yaml:4:15: include '/etc/*.yaml' leaves the spec's directory",
    ],
    "include-bad-file/spec.yaml": [
        "include-bad-file/scores/round-1.yaml:2:1: unknown field 'queues' (allowed: submissions, version)",
        "include-bad-file/scores/round-1.yaml:4:45: an empty list is not a tag value (use null to delete the key)",
        "include-bad-file/scores/round-1.yaml:5:15: secrets do not belong in a spec: remove 'secret' (use SYNAPSE_AUTH_TOKEN)",
    ],
    "include-broken-yaml/spec.yaml": [
        "include-broken-yaml/scores/round-1.yaml:3:1: expected ',' or '}', but got '<stream end>' (while parsing a flow mapping at line 2, column 14)",
        "include-broken-yaml/scores/round-2.yaml:2:1: tab character where YAML expects spaces (indent with spaces only)",
    ],
    "include-dotdot/spec.yaml": [
        "include-dotdot/spec.yaml:4:15: include '../shared/*.yaml' leaves the spec's directory",
    ],
    "include-duplicate-id/spec.yaml": [
        "include-duplicate-id/scores/round-2.yaml:2:3: submission '9700001' is already defined at include-duplicate-id/spec.yaml:5:7",
        "include-duplicate-id/scores/round-2.yaml:3:3: submission '9700003' is already defined at include-duplicate-id/scores/round-1.yaml:3:3",
    ],
    "include-itself/spec.yaml": [
        "include-itself/spec.yaml:4:15: include '*.yaml' matches the spec file itself",
    ],
    "include-matches-nothing/spec.yaml": [
        "include-matches-nothing/spec.yaml:4:15: include 'scores/*.yaml' matches no files",
        "include-matches-nothing/spec.yaml:4:30: include 'round-[0-9].yaml' matches no files",
    ],
    "include-synapse-problem/spec.yaml": [
        "include-synapse-problem/scores/round-1.yaml:4:5: status 'DONE' is not a Synapse submission status (one of: ACCEPTED, CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED)",
        "include-synapse-problem/scores/round-1.yaml:5:12: tag key 'bad key' is not allowed on Synapse (letters, digits, ',', '_' and '.' only)",
    ],
}


def errors_of(path: str | Path) -> list[str]:
    with pytest.raises(UserError) as caught:
        load_spec(path)
    error = caught.value
    return [str(e) for e in error.errors] if isinstance(error, UserErrors) else [str(error)]


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_bad_spec_fails_with_exact_messages_and_positions(name, monkeypatch):
    monkeypatch.chdir(BAD)
    assert errors_of(name) == BAD_SPECS[name]


def test_every_bad_fixture_is_in_the_manifest():
    on_disk = {p.name for p in BAD.glob("*.yaml")} | {f"{p.parent.name}/spec.yaml" for p in BAD.glob("*/spec.yaml")}
    assert on_disk == set(BAD_SPECS)


def test_every_error_is_located():
    for name in BAD_SPECS:
        with pytest.raises(UserError) as caught:
            load_spec(BAD / name)
        error = caught.value
        for each in error.errors if isinstance(error, UserErrors) else [error]:
            assert isinstance(each, Located)


def test_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"version: 1\n" + b"#" * MAX_BYTES)
    assert errors_of(path) == [f"{path}: file is larger than 8 MiB"]


def test_missing_file_is_a_user_error(tmp_path):
    assert errors_of(tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}: cannot read file: No such file or directory"
    ]


def test_include_through_a_symlink_out_of_the_tree_is_refused(tmp_path, tmp_spec):
    outside = tmp_path / "outside.yaml"
    outside.write_text('submissions:\n  "9700009": {status: OPEN}\n')
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "9615000"
            include: [scores/*.yaml]
        """,
        name="repo/spec.yaml",
    )
    (spec.parent / "scores").mkdir()
    os.symlink(outside, spec.parent / "scores" / "evil.yaml")
    assert errors_of(spec) == [
        f"{spec}:4:15: include 'scores/*.yaml' leaves the spec's directory ('scores/evil.yaml' resolves outside it)"
    ]


def test_include_through_a_symlink_inside_the_tree_is_fine(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "9615000"
            include: [scores/*.yaml]
        """
    )
    (spec.parent / "data").mkdir()
    (spec.parent / "data" / "r1.yaml").write_text('submissions:\n  "9700009": {status: OPEN}\n')
    (spec.parent / "scores").mkdir()
    os.symlink(spec.parent / "data" / "r1.yaml", spec.parent / "scores" / "r1.yaml")
    assert list(load_spec(spec).queues[0].submissions) == ["9700009"]


INCLUDE_SCORES_RECURSIVELY = """\
    version: 1
    queues:
      - id: "9615000"
        include: ["scores/**/*.yaml"]
    """


def test_recursive_include_through_two_links_to_the_spec_directory_is_refused_in_one_line(tmp_spec):
    # Python's recursive glob followed these links for ever (issue 29, item 13).
    spec = tmp_spec(INCLUDE_SCORES_RECURSIVELY)
    (spec.parent / "scores").mkdir()
    (spec.parent / "scores" / "r1.yaml").write_text('submissions:\n  "9700009": {status: OPEN}\n')
    os.symlink(spec.parent, spec.parent / "scores" / "a")
    os.symlink(spec.parent, spec.parent / "scores" / "b")
    result = run_cli("validate", spec)
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"error: {spec}:4:15: include 'scores/**/*.yaml' loops: 'scores/a' links back to '.', "
        "which the walk is already in"
    ]


def test_recursive_include_refuses_a_directory_link_out_of_the_tree(tmp_path, tmp_spec):
    spec = tmp_spec(INCLUDE_SCORES_RECURSIVELY, name="repo/spec.yaml")
    (tmp_path / "elsewhere").mkdir()
    (spec.parent / "scores").mkdir()
    os.symlink(tmp_path / "elsewhere", spec.parent / "scores" / "ext")
    assert errors_of(spec) == [
        f"{spec}:4:15: include 'scores/**/*.yaml' leaves the spec's directory ('scores/ext' resolves outside it)"
    ]


def test_recursive_include_follows_a_directory_link_inside_the_tree(tmp_spec):
    spec = tmp_spec(INCLUDE_SCORES_RECURSIVELY)
    (spec.parent / "data" / "deep").mkdir(parents=True)
    (spec.parent / "data" / "deep" / "r1.yaml").write_text('submissions:\n  "9700009": {status: OPEN}\n')
    (spec.parent / "scores").mkdir()
    os.symlink(spec.parent / "data", spec.parent / "scores" / "data")
    assert list(load_spec(spec).queues[0].submissions) == ["9700009"]


def test_a_recursive_walk_is_bounded(tmp_spec, monkeypatch):
    from reconciler import treeglob

    monkeypatch.setattr(treeglob, "MAX_DIRECTORIES", 5)
    spec = tmp_spec(INCLUDE_SCORES_RECURSIVELY)
    for n in range(6):
        (spec.parent / "scores" / f"d{n}").mkdir(parents=True)
    assert errors_of(spec) == [f"{spec}:4:15: include 'scores/**/*.yaml' walks more than 5 directories"]


@pytest.mark.parametrize(
    "pattern",
    [
        "**/*.yaml",
        "scores/**/*.yaml",
        "scores/*.yaml",
        "*/r?.yaml",
        "scores/**",
        "**/.hid*/*.yaml",
        "scores/[ab]*/*.yaml",
        "scores/a/r1.yaml",
        ".hidden/*.yaml",
        "**/r1.yaml",
    ],
)
def test_the_tree_walk_matches_what_glob_matches_in_a_tree_without_links(tmp_path, pattern):
    import glob

    from reconciler import treeglob

    for name in (
        "scores/r1.yaml",
        "scores/a/r1.yaml",
        "scores/a/b/r2.yaml",
        "scores/b/r3.yml",
        ".hidden/r1.yaml",
        "scores/.hidden/r4.yaml",
        "top.yaml",
        "scores/a/.dot.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")

    def files(paths: list[str]) -> list[str]:  # includes read files only
        return sorted(p for p in paths if (tmp_path / p).is_file())

    assert files(treeglob.expand(str(tmp_path), pattern)) == files(
        glob.glob(pattern, root_dir=tmp_path, recursive=True)
    )


# ------------------------------------------------------------------------ secrets
SECRET_CASES = {
    "top level": "token: DO-NOT-ECHO\nversion: 1\nqueues: [{id: '1'}]\n",
    "provider": "version: 1\nprovider: {type: synapse, AuthToken: DO-NOT-ECHO}\nqueues: [{id: '1'}]\n",
    "list value": "version: 1\nqueues: [{id: '1', password: [DO-NOT-ECHO, {x: 1}]}]\n",
    "submission key": "version: 1\nqueues: [{id: '1', submissions: {'2': {secret: DO-NOT-ECHO}}}]\n",
    "rule key": "version: 1\nqueues: [{id: '1', rules: [{name: r, where: {}, set: {token: [DO-NOT-ECHO]}}]}]\n",
    "bad timestamp": "version: 1\nqueues: [{id: '1'}]\nauth_token: 2024-13-45\n",
    "duplicate": "version: 1\nqueues: [{id: '1'}]\ntoken: DO-NOT-ECHO\ntoken: DO-NOT-ECHO\n",
    "bad tag": "version: 1\nqueues: [{id: '1'}]\nsecret: !!int DO-NOT-ECHO\n",
}


@pytest.mark.parametrize("case", sorted(SECRET_CASES))
def test_secret_values_are_never_echoed(case, tmp_spec):
    spec = tmp_spec(SECRET_CASES[case])
    text = "\n".join(errors_of(spec))
    assert "DO-NOT-ECHO" not in text and "2024-13-45" not in text


def test_secret_key_is_named_with_its_position(tmp_spec):
    spec = tmp_spec(SECRET_CASES["provider"])
    assert errors_of(spec) == [
        f"{spec}:2:27: secrets do not belong in a spec: remove 'AuthToken' (use SYNAPSE_AUTH_TOKEN)"
    ]


def test_tag_names_that_look_like_secrets_are_data_and_load(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        provider: {type: local}
        queues:
          - id: "9615000"
            submissions:
              "9700001": {tags: {token: abc, Password: [1, 2], AUTH_TOKEN: true}}
            rules:
              - name: r
                where: {tags: {secret: {exists: true}}}
                set: {tags: {authtoken: 1.5}}
        """
    )
    queue = load_spec(spec).queues[0]
    tags = queue.submissions["9700001"].tags
    assert {key: setting.value for key, setting in tags.items()} == {
        "token": ("abc",),
        "Password": (1, 2),
        "AUTH_TOKEN": (True,),
    }
    assert list(queue.rules[0].where.tags) == ["secret"]
    assert list(queue.rules[0].set.tags) == ["authtoken"]


def test_a_bad_value_of_a_tag_named_like_a_secret_is_still_reported(tmp_spec):
    spec = tmp_spec('version: 1\nqueues: [{id: "1", submissions: {"2": {tags: {token: []}}}}]\n')
    assert errors_of(spec) == [f"{spec}:2:54: an empty list is not a tag value (use null to delete the key)"]


def test_a_secret_named_queue_tag_policy_key_is_still_refused(tmp_spec):
    spec = tmp_spec('version: 1\nqueues: [{id: "1", tags: {policy: merge, token: DO-NOT-ECHO}}]\n')
    assert errors_of(spec) == [f"{spec}:2:42: secrets do not belong in a spec: remove 'token' (use SYNAPSE_AUTH_TOKEN)"]


def test_secrets_in_the_corpus_are_never_echoed():
    for name in ("token-key.yaml", "secret-keys-anywhere.yaml", "include-bad-file/spec.yaml"):
        assert "DO-NOT-ECHO" not in "\n".join(errors_of(BAD / name))


# -------------------------------------------------------------------- good specs
def test_full_spec_converts_every_field(monkeypatch):
    monkeypatch.chdir(GOOD)
    spec = load_spec("full.yaml")
    f = "full.yaml"
    assert spec.provider == ProviderConfig(
        "local", {"path": "state/store.db", "seed": "live.yaml"}, str(GOOD), Source(f, 3)
    )
    first, second = spec.queues
    assert (first.id, first.source, first.tag_policy, first.ignore, first.lock_key) == (
        "9615000",
        Source(f, 5),
        "exact",
        ("pipeline_*", "qc.?"),
        "locked",
    )
    assert first.safety == Safety(max_change_percent=25.0, max_changes=40)
    accept, unnamed = first.rules
    assert accept == Rule(
        name="accept-validated",
        where=Match(statuses=frozenset({"VALIDATED"}), locked=False),
        set=Assignment(status=Setting("ACCEPTED", Source(f, 12, "accept-validated"))),
        source=Source(f, 10, "accept-validated"),
    )
    assert unnamed.name == "rule-2" and unnamed.source == Source(f, 13, "rule-2")
    assert unnamed.where == Match(
        statuses=frozenset({"ACCEPTED", "SCORED"}),
        ids=frozenset({"9700001", "9700002"}),
        tags={
            "team": TagCondition(equals=("owls",)),
            "score": TagCondition(exists=False),
            "ranks": TagCondition(equals=(1, 2)),
        },
    )
    assert unnamed.set == Assignment(
        locked=Setting(True, Source(f, 19, "rule-2")),
        tags={
            "needs_scoring": Setting((True,), Source(f, 18, "rule-2")),
            "stale": Setting(None, Source(f, 18, "rule-2")),
        },
    )
    assert first.submissions == {
        "9700003": Assignment(
            status=Setting("SCORED", Source(f, 21)),
            locked=Setting(True, Source(f, 21)),
            tags={"score": Setting((0.91,), Source(f, 21)), "rank": Setting((1,), Source(f, 21))},
        ),
        "9700004": Assignment(
            tags={
                "reviewed_on": Setting((datetime(2024, 3, 1, tzinfo=timezone.utc),), Source(f, 24)),
                "seen_at": Setting((datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=timezone.utc),), Source(f, 25)),
                "reviewers": Setting(("ana", "bo"), Source(f, 26)),
            }
        ),
        "9700005": Assignment(
            tags={
                "flagged": Setting((True,), Source(f, 27)),
                "reviewed": Setting((True,), Source(f, 27)),
            }
        ),
    }
    assert second.id == "9615001" and second.rules == () and second.submissions == {}
    assert (second.tag_policy, second.lock_key, second.safety) == ("merge", "locked", Safety())
    assert spec.files == (f,)
    assert spec.digest == hashlib.sha256((GOOD / f).read_bytes()).hexdigest()


def test_labels_carry_the_line_of_each_label(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "1"
            submissions:
              "2":
                tags:
                  - reviewed
                  - flagged
        """
    )
    tags = load_spec(spec).queues[0].submissions["2"].tags
    assert tags == {
        "reviewed": Setting((True,), Source(str(spec), 7)),
        "flagged": Setting((True,), Source(str(spec), 8)),
    }


def test_default_provider_is_local_next_to_the_spec(tmp_spec):
    spec = tmp_spec("version: 1\nqueues: [{id: '1'}]\n")
    assert load_spec(str(spec)).provider == ProviderConfig("local", {}, str(spec.parent), None)


def test_includes_are_read_once_in_sorted_order_and_digested(monkeypatch):
    monkeypatch.chdir(GOOD)
    spec = load_spec(Path("includes/spec.yaml"))
    assert spec.files == (
        "includes/spec.yaml",
        "includes/scores/round-1.yaml",
        "includes/scores/round-2.yaml",
        "includes/scores/extra/late.yaml",
    )
    assert spec.digest == hashlib.sha256(b"".join(Path(p).read_bytes() for p in spec.files)).hexdigest()
    main, other = spec.queues
    assert list(main.submissions) == ["9700001", "9700011", "9700012", "9700013"]
    assert main.submissions["9700011"].status == Setting("SCORED", Source("includes/scores/round-1.yaml", 4))
    assert list(other.submissions) == ["9700011"]


def test_digest_changes_when_an_included_file_changes(tmp_path):
    import shutil

    shutil.copytree(GOOD / "includes", tmp_path / "includes")
    before = load_spec(tmp_path / "includes" / "spec.yaml").digest
    late = tmp_path / "includes" / "scores" / "extra" / "late.yaml"
    late.write_text(late.read_text().replace("late", "later"))
    assert load_spec(tmp_path / "includes" / "spec.yaml").digest != before


def test_unquoted_integer_ids_become_text(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: 9615000
            rules: [{where: {ids: [9700001, "9700002"]}, set: {locked: true}}]
            submissions: {9700003: {locked: true}}
        """
    )
    (queue,) = load_spec(spec).queues
    assert queue.id == "9615000"
    assert queue.rules[0].where.ids == frozenset({"9700001", "9700002"})
    assert list(queue.submissions) == ["9700003"]


def test_anchors_and_aliases_are_expanded_with_the_anchor_position(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "1"
            rules:
              - {name: a, where: {status: X}, set: &accept {status: ACCEPTED}}
              - {name: b, where: {status: Y}, set: *accept}
        """
    )
    _a, b = load_spec(spec).queues[0].rules
    assert b.set.status == Setting("ACCEPTED", Source(str(spec), 5, "b"))


def test_where_status_value_and_list_are_the_same_match(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "1"
            rules:
              - {where: {status: OPEN}, set: {locked: true}}
              - {where: {status: [OPEN]}, set: {locked: true}}
        """
    )
    one, two = load_spec(spec).queues[0].rules
    assert one.where == two.where == Match(statuses=frozenset({"OPEN"}))


def test_local_provider_accepts_any_status_and_tag_key(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "queue one"
            submissions: {"item-1": {status: DONE, tags: {"team name": [1, 2.5, x]}}}
        """
    )
    assert load_spec(spec).queues[0].submissions["item-1"].status.value == "DONE"


def test_synapse_spec_with_a_bad_status_fails_at_the_status(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        provider: {type: synapse}
        queues:
          - id: "9615000"
            submissions:
              "9700001":
                status: DONE
        """
    )
    assert errors_of(spec) == [
        f"{spec}:7:9: status 'DONE' is not a Synapse submission status (one of: ACCEPTED, "
        "CLOSED, EVALUATION_IN_PROGRESS, INVALID, OPEN, RECEIVED, REJECTED, SCORED, VALIDATED)"
    ]


def test_good_synapse_spec_loads_offline():
    spec = load_spec(GOOD / "synapse.yaml")
    assert spec.provider.options == {"endpoint": "http://127.0.0.1:8080/repo/v1"}
    assert spec.queues[0].lock_key == "reconciler.locked"


def test_errors_of_several_files_are_sorted_by_file_then_position(tmp_spec):
    spec = tmp_spec(
        """\
        version: 1
        queues:
          - id: "1"
            include: [more.yaml]
            bogus: 1
        """
    )
    tmp_spec('submissions:\n  "2": {locked: maybe}\nextra: 1\n', name="more.yaml")
    # the include file is only read once the spec itself is valid
    assert errors_of(spec) == [
        f"{spec}:5:5: unknown field 'bogus' (allowed: id, include, lock, rules, safety, submissions, tags)"
    ]
    spec.write_text(spec.read_text().replace("    bogus: 1\n", ""))
    more = spec.parent / "more.yaml"
    assert errors_of(spec) == [
        f"{more}:2:17: expected true or false, got string",
        f"{more}:3:1: unknown field 'extra' (allowed: submissions, version)",
    ]


# ------------------------------------------------------------------------ schema
def _walk(schema, path=()):
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            yield from _walk(value, path + (key,))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            yield from _walk(value, path + (i,))


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(spec_schema())
    assert spec_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _constraint_only(path: tuple) -> bool:
    """Subschemas that only test values (`if`, `dependentSchemas`) describe no fields."""
    return "if" in path or "dependentSchemas" in path


def test_every_schema_property_has_a_description():
    for path, node in _walk(spec_schema()):
        if path and path[-1] == "properties" and not _constraint_only(path):
            for name, prop in node.items():
                assert "description" in prop, path + (name,)


def test_every_schema_object_with_fields_is_closed():
    closed_by_branches = ("$defs", "provider")  # its local/synapse branches are closed
    for path, node in _walk(spec_schema()):
        if "properties" in node and not _constraint_only(path) and path != closed_by_branches:
            assert node.get("additionalProperties") is False, path


# -------------------------------------------------------------------------- docs
def _doc_blocks() -> list[tuple[str, str]]:
    """(yaml, text following it) for each ```yaml block of docs/spec.md."""
    text = DOCS.read_text()
    return re.findall(r"```yaml\n(.*?)```\s*(?:```text\n(.*?)```)?", text, re.S)


def test_docs_have_examples():
    assert len(_doc_blocks()) >= 10


def test_every_yaml_example_in_the_docs_loads_as_documented(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, body in re.findall(r"```(?:csv|tsv|json) file=(\S+)\n(.*?)```", DOCS.read_text(), re.S):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text(body)  # the table and JSON files the examples include
    blocks = _doc_blocks()
    for body, _ in blocks:
        if body.startswith("# file: "):
            target = Path(body.splitlines()[0][len("# file: ") :])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
    checked = 0
    for body, expected in blocks:
        if body.startswith("# file: "):
            continue
        Path("spec.yaml").write_text(body)
        if body.startswith("# invalid"):
            assert errors_of("spec.yaml") == expected.strip().splitlines()
        else:
            load_spec("spec.yaml")
        checked += 1
    assert checked >= 9


# ----------------------------------------------------------------------- fuzzing
FIELDS = [
    "version",
    "provider",
    "type",
    "local",
    "synapse",
    "path",
    "seed",
    "endpoint",
    "queues",
    "id",
    "tags",
    "policy",
    "merge",
    "exact",
    "ignore",
    "lock",
    "annotation",
    "safety",
    "max_change_percent",
    "max_changes",
    "rules",
    "name",
    "where",
    "status",
    "ids",
    "exists",
    "locked",
    "set",
    "submissions",
    "include",
    "9700001",
    "OPEN",
]


def _spec_like():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 10**20),
        st.floats(allow_nan=True),
        st.sampled_from(FIELDS),
        st.text(max_size=5),
        st.datetimes(timezones=st.just(timezone.utc)),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.integers(0, 9)), inner, max_size=5),
        ),
        max_leaves=30,
    )


def _queue_like():
    from hypothesis import strategies as st

    any_value = _spec_like()
    scalar = st.one_of(st.integers(), st.floats(), st.booleans(), st.sampled_from(["a", "b c"]))
    tags = st.one_of(
        st.dictionaries(st.sampled_from(["k", "bad key", "locked"]), st.one_of(scalar, st.lists(scalar, max_size=2))),
        st.lists(st.sampled_from(["x", "y"]), max_size=2),
    )
    fields = {"status": st.sampled_from(["OPEN", "DONE"]), "tags": tags, "locked": st.booleans()}
    assignment = st.fixed_dictionaries({}, optional={k: st.one_of(v, any_value) for k, v in fields.items()})
    where = st.fixed_dictionaries(
        {},
        optional={
            "status": st.one_of(fields["status"], st.lists(fields["status"]), any_value),
            "ids": st.one_of(st.lists(st.sampled_from(["1", 2, "x"]), min_size=1), any_value),
            "tags": st.one_of(
                st.dictionaries(st.sampled_from(["k", "j"]), st.one_of(scalar, st.just({"exists": True}))), any_value
            ),
            "locked": st.one_of(st.booleans(), any_value),
        },
    )
    rule = st.fixed_dictionaries(
        {"where": where, "set": assignment}, optional={"name": st.sampled_from(["a", "b", "rule-2"])}
    )
    return st.fixed_dictionaries(
        {"id": st.sampled_from(["1", 2, "x"])},
        optional={
            "tags": st.fixed_dictionaries(
                {},
                optional={
                    "policy": st.sampled_from(["merge", "exact"]),
                    "ignore": st.lists(st.text(min_size=1), max_size=2),
                },
            ),
            "lock": any_value,
            "safety": any_value,
            "rules": st.lists(rule, max_size=3),
            "submissions": st.dictionaries(st.sampled_from(["9700001", 9700002, "x"]), assignment, max_size=3),
        },
    )


@pytest.mark.slow
def test_any_yaml_either_loads_or_fails_with_located_user_errors(tmp_path, yaml_parser):
    """Whatever the file holds, the loader returns a Spec or located user errors: any
    other exception would be a bug (a traceback for the user)."""
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    spec = tmp_path / "spec.yaml"
    outcomes = {"loaded": 0, "refused": 0}

    @settings(
        max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        st.fixed_dictionaries(
            {
                "version": st.just(1),
                "provider": st.sampled_from([{"type": "local"}, {"type": "synapse"}]),
                "queues": st.lists(_queue_like(), min_size=1, max_size=2),
            }
        )
        | _spec_like()
    )
    def check(data):
        spec.write_text(yaml.safe_dump(data))
        try:
            load_spec(spec)
            outcomes["loaded"] += 1
        except UserErrors as error:
            assert error.errors and all(isinstance(e, Located) for e in error.errors)
            outcomes["refused"] += 1
        except Located:
            outcomes["refused"] += 1

    check()
    assert outcomes["loaded"] >= 10 and outcomes["refused"] >= 10
