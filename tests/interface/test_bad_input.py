"""Bad input through the CLI: exit 1, exactly the expected located messages on stderr, no
traceback (an escaping exception would fail the test itself), nothing on stdout, and not
one request sent to the service the input names.

Two corpora: the malformed specs of tests/specs/bad/ with the messages test_spec.BAD_SPECS
lists for them, and the malformed plan files of tests/inputs/plans/ with PLAN_ERRORS below.
Every run has a live sandbox to send requests to: a valid synapse spec pointing at it is
named first on the command line (and each bad spec with `provider: {type: synapse}` is
pointed at it too), and each plan file records the sandbox's URL as its endpoint (the
corpus writes `@ENDPOINT@` and an `@`-filled checksum, both filled in per run).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest

from cli_helpers import Result, run_cli
from reconciler import http, planfile
from reconciler.planfile import MAX_PLAN_BYTES, _checksum
from reconciler.yamlload import MAX_BYTES
from test_spec import BAD, BAD_SPECS

PLANS = Path(__file__).resolve().parents[1] / "inputs" / "plans"
SEAL = "sha256:" + "@" * 64
SYNAPSE = "{type: synapse}"
GOOD_SYNAPSE = """version: 1
provider: {{type: synapse, endpoint: "{url}"}}
queues:
  - id: "9615000"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: accept, where: {{status: RECEIVED}}, set: {{status: ACCEPTED}}}}
"""
ITEMS = ("9700001", "9700002", "9700003")


@pytest.fixture
def live(make_sandbox):
    """A sandbox holding queue 9615000 with the three items the plan corpus changes."""
    return make_sandbox(synthetic=[("9615000", 3)])


def env(sandbox) -> dict[str, str]:
    return {"SYNAPSE_AUTH_TOKEN": sandbox.token}


def assert_refused(result: Result, expected: list[str], sandbox) -> None:
    assert (result.code, result.err, result.out) == (1, "".join(f"error: {m}\n" for m in expected), "")
    assert "Traceback" not in result.err
    assert sandbox.request_log() == []


# ------------------------------------------------------------------------ specs
def pointed_at(name: str, url: str, root: Path) -> Path:
    """A copy of one corpus entry under `root` whose synapse provider targets the sandbox.

    Only the rewritten lines change length, and no expected message is located on one
    (checked), so BAD_SPECS's positions hold for the copy."""
    source, target = BAD / name.split("/")[0], root / name.split("/")[0]
    shutil.copytree(source, target) if source.is_dir() else shutil.copy(source, target)
    for path in [p for p in root.rglob("*") if p.is_file()]:
        lines = path.read_bytes().split(b"\n")
        for n, line in enumerate(lines, 1):
            if SYNAPSE.encode() in line:
                assert not any(m.startswith(f"{path.relative_to(root).as_posix()}:{n}:") for m in BAD_SPECS[name])
                lines[n - 1] = line.replace(SYNAPSE.encode(), f'{{type: synapse, endpoint: "{url}"}}'.encode())
        path.write_bytes(b"\n".join(lines))
    return target if source.is_file() else root / name


SPEC_COMMANDS = [("validate",), ("plan",), ("apply", "--auto-approve")]


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
@pytest.mark.parametrize("command", SPEC_COMMANDS, ids=lambda c: c[0])
def test_bad_spec_is_refused_with_exact_messages_before_anything_is_sent(sandbox, tmp_path, monkeypatch, name, command):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_SYNAPSE.format(url=sandbox.url))
    root = tmp_path / "bad"
    root.mkdir()
    spec = pointed_at(name, sandbox.url, root)
    monkeypatch.chdir(root)
    files = sorted(root.rglob("*"))
    result = run_cli(*command, good, spec.relative_to(root), env=env(sandbox))
    assert_refused(result, BAD_SPECS[name], sandbox)
    assert sorted(root.rglob("*")) == files  # no local store, no plan file, nothing written


def test_a_good_spec_alone_does_reach_the_sandbox(sandbox, tmp_path):
    """The control for the test above: without the bad spec, the same run sends requests."""
    sandbox.store.create_queue("9615000")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD_SYNAPSE.format(url=sandbox.url))
    assert run_cli("plan", good, env=env(sandbox)).code == 0
    assert len(sandbox.request_log()) == 1


@pytest.mark.parametrize("command", SPEC_COMMANDS, ids=lambda c: c[0])
def test_a_huge_spec_is_refused_unparsed(sandbox, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    text = GOOD_SYNAPSE.format(url=sandbox.url)
    Path("huge.yaml").write_text(text + "#" * (MAX_BYTES + 1 - len(text)) + "\n")
    result = run_cli(*command, "huge.yaml", env=env(sandbox))
    assert_refused(result, ["huge.yaml: file is larger than 8 MiB"], sandbox)


# -------------------------------------------------------------------- plan files
# Problems with the file itself: refused by `apply` and `show` alike.
PLAN_ERRORS = {
    "bad-lock-value.json": "12:338: queues[0].changes[0].lock: expected 'lock', 'unlock' or null, got 'yes'",
    "bad-timestamp.json": "12:55: queues[0].changes[0].after.tags.score: not a valid tag value: month must be in 1..12",
    "base-empty.json": "12:66: queues[0].changes[0].base: must be the object the change was computed "
    'from, with the change\'s id "9700001" and etag "etag-9700001"',
    "base-not-object.json": "12:66: queues[0].changes[0].base: expected a mapping, got list",
    "base-of-another-item.json": "12:66: queues[0].changes[0].base: must be the object the change was "
    'computed from, with the change\'s id "9700001" and etag "etag-9700001"',
    "base-of-another-version.json": "12:66: queues[0].changes[0].base: must be the object the change was "
    'computed from, with the change\'s id "9700001" and etag "etag-9700001"',
    "before-after-mismatch.json": "12:18: queues[0].changes[0].after: before and after must name the same "
    "fields (status in only one)",
    "comment.json": "2:3: not valid JSON: Expecting property name enclosed in double quotes",
    "deep-nesting.json": "plan file nests too deeply",
    "duplicate-item.json": "13:321: queues[0].changes[1].id: item 9700001 appears twice in queue 9615000",
    "duplicate-key.json": '12:39: duplicate key "status"',
    "duplicate-queue.json": "31:13: queues[1].id: queue 9615000 appears twice",
    "duplicate-top-level-key.json": '5:3: duplicate key "format_version"',
    "empty-tag-key.json": "12:47: queues[0].changes[0].after.tags: key '': must not be empty",
    "empty.json": "1:1: not valid JSON: Expecting value",
    "etag-not-string.json": "12:301: queues[0].changes[0].etag: expected a string, got integer",
    "format-version-string.json": '4:21: unsupported plan format_version "1" (this reconciler reads 1)',
    "huge-number.json": "17:21: number 1e999 is out of range",
    "malformed-checksum.json": "2:15: checksum: expected sha256: and 64 lowercase hexadecimal digits",
    "max-changes-text.json": "21:24: queues[0].safety.max_changes: expected an integer or null, got string",
    "misspelt-change-field.json": "12:294: queues[0].changes[0]: unknown field 'etga': did you mean 'etag'? "
    "(allowed: after, base, before, blocked, drift, etag, id, lock, refused, relock, "
    "sources)",
    "missing-checksum.json": "1:1: missing required field 'checksum'",
    "missing-queues.json": "1:1: missing required field 'queues'",
    "nan.json": '12:55: NaN is not valid JSON (a plan file writes it as {"float": "nan"} etc.)',
    "negative-items-seen.json": "17:21: queues[0].items_seen: must be at least 0, got -1",
    "not-utf8.json": "12:411: plan file is not UTF-8 text (invalid byte 0xff)",
    "provider-not-object.json": "5:15: provider: expected a mapping, got string",
    "single-quotes.json": "4:3: not valid JSON: Expecting property name enclosed in double quotes",
    "source-for-unchanged-field.json": "12:493: queues[0].changes[0].sources[2].field: source for locked "
    "names a field the change does not change",
    "status-not-string.json": "12:28: queues[0].changes[0].after.status: expected a string, got list",
    "summary-mismatch.json": '27:14: summary: summary does not match the changes (they give {"blocked": 0, '
    '"change": 3, "items_seen": 3, "lock": 0, "unlock": 0})',
    "tag-value-mapping.json": "12:55: queues[0].changes[0].after.tags.score: expected a scalar (a string, number, "
    'boolean, {"timestamp": "<ISO 8601>"} or {"float": "nan"|"inf"|"-inf"}), got mapping',
    "tampered.json": "2:15: plan file was modified after it was written (checksum mismatch)",
    "too-many-digits.json": "17:21: number has too many digits",
    "top-level-array.json": "1:1: expected a mapping, got list",
    "top-level-string.json": "1:1: expected a mapping, got string",
    "trailing-comma.json": "23:7: not valid JSON: Expecting property name enclosed in double quotes",
    "trailing-garbage.json": "36:1: not valid JSON: Extra data",
    "truncated.json": "13:321: not valid JSON: Unterminated string",
    "unknown-change-field.json": "12:316: queues[0].changes[0]: unknown field 'force': did you mean 'before'? "
    "(allowed: after, base, before, blocked, drift, etag, id, lock, refused, relock, "
    "sources)",
    "unknown-provider.json": '7:13: provider.type: unknown provider type "ftp" (known: datamaker, local, omics, supervisely, synapse, workflow-results)',
    "unknown-top-level-field.json": "2:3: unknown field 'apply_to' (allowed: checksum, created_at, evaluated_at, "
    "format_version, problems, provider, queues, spec_digest, summary, tool_version, "
    "warnings)",
    "whitespace-only.json": "3:1: not valid JSON: Expecting value",
    "wrong-format-version.json": "4:21: unsupported plan format_version 2 (this reconciler reads 1)",
}
_PLAIN_HTTP = (
    "uses plain http://, which is only allowed for a loopback address (127.0.0.1, ::1, localhost); use https://"
)
# A well-formed file whose recorded endpoint apply must not send to (the token would go
# in clear text, or to a place no plan could have been made against). `show` prints it.
ENDPOINT_ERRORS = {
    "credentials-in-endpoint.json": "plan file: endpoint must not contain credentials (user:password@)",
    "empty-endpoint.json": "plan file: endpoint '' must be an https:// URL",
    "ftp-endpoint.json": "plan file: endpoint 'ftp://127.0.0.1/repo/v1' must be an https:// URL",
    "http-lookalike-host.json": f"plan file: endpoint 'http://127.0.0.1.nip.io/repo/v1' {_PLAIN_HTTP}",
    "local-type-with-url.json": "plan file: local endpoint must start with 'local:', got '{url}'",
    "non-loopback-http.json": f"plan file: endpoint 'http://10.255.255.1/repo/v1' {_PLAIN_HTTP}",
}


def plan_copy(name: str, url: str, directory: Path) -> Path:
    """The corpus file with the sandbox as its endpoint, sealed with a matching checksum
    where it holds the `@` placeholder and parses (elsewhere it fails before the check)."""
    raw = (PLANS / name).read_bytes().replace(b"@ENDPOINT@", url.encode())
    if SEAL.encode() in raw:
        with contextlib.suppress(ValueError):
            raw = raw.replace(SEAL.encode(), _checksum(json.loads(raw)).encode())
    target = directory / name
    target.write_bytes(raw)
    return target


def test_every_plan_corpus_file_has_its_expected_outcome():
    named = set(PLAN_ERRORS) | set(ENDPOINT_ERRORS) | {"valid.json", "unknown-queue.json"}
    assert {p.name for p in PLANS.iterdir()} == named
    assert len(PLAN_ERRORS) + len(ENDPOINT_ERRORS) + len(BAD_SPECS) >= 40


@pytest.mark.parametrize("name", sorted(PLAN_ERRORS))
@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("show",)], ids=lambda c: c[0])
def test_bad_plan_file_is_refused_with_an_exact_message_before_anything_is_sent(
    live, tmp_path, monkeypatch, name, command
):
    monkeypatch.chdir(tmp_path)
    plan_copy(name, live.url, tmp_path)
    message = PLAN_ERRORS[name]
    where = f"{name}:" if re.match(r"\d+:\d+: ", message) else f"{name}: "
    assert_refused(run_cli(*command, name, env=env(live)), [where + message], live)


@pytest.mark.parametrize("name", sorted(ENDPOINT_ERRORS))
def test_a_plan_file_for_a_forbidden_endpoint_is_refused_before_anything_is_sent(live, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    plan_copy(name, live.url, tmp_path)
    result = run_cli("apply", name, "--auto-approve", env=env(live))
    assert_refused(result, [ENDPOINT_ERRORS[name].format(url=live.url)], live)
    shown = run_cli("show", name, env=env(live))  # printing it sends nothing either
    assert shown.code == 0 and "Plan: 3 to change" in shown.out
    assert live.request_log() == []


def test_the_valid_plan_file_does_reach_the_sandbox(live, tmp_path, monkeypatch):
    """The control for the tests above: the corpus's endpoint really is the sandbox. Its
    etags are made up, so the first write is refused (412); its bases' managed fields
    (status, tags, lock) are the sandbox items' own, so only unmanaged fields differ and
    each change is rebased onto the item as re-read and written (issue 20 item 8)."""
    monkeypatch.chdir(tmp_path)
    plan_copy("valid.json", live.url, tmp_path)
    result = run_cli("apply", "valid.json", "--auto-approve", env=env(live))
    assert result.code == 0 and "3 applied, 0 unchanged, 0 stale" in result.out
    sent = live.request_log()
    assert sent[0]["path"] == "/repo/v1/evaluation/9615000/statusBatch" and sent[0]["status"] == 412
    assert sent[-1]["path"] == "/repo/v1/evaluation/9615000/statusBatch" and sent[-1]["status"] == 200


def test_a_plan_file_for_a_queue_the_service_lacks_fails_its_one_write_and_changes_nothing(live, tmp_path, monkeypatch):
    """Which queues exist only the service knows, and applying a plan file reads
    nothing first: the one batch is refused whole and reported; nothing is written."""
    monkeypatch.chdir(tmp_path)
    plan_copy("unknown-queue.json", live.url, tmp_path)
    before = [live.store.get(i) for i in ITEMS]
    result = run_cli("apply", "unknown-queue.json", "--auto-approve", env=env(live))
    assert (result.code, result.err) == (1, "")
    refusal = (
        "evaluation 9999999: statusBatch failed (HTTP 400): Specified Evaluation ID does not "
        "match submissions in the batch."
    )
    # identical failures are folded into the first and a count (issue 27)
    assert f"  queue 9999999, item {ITEMS[0]}: {refusal}\n  … and 2 more with the same reason\n" in result.out
    assert result.out.endswith("Apply complete: 0 applied, 0 unchanged, 0 stale, 0 blocked, 3 failed, 0 skipped.\n")
    assert [(e["method"], e["path"], e["status"]) for e in live.request_log()] == [
        ("PUT", "/repo/v1/evaluation/9999999/statusBatch", 400)
    ]
    assert [live.store.get(i) for i in ITEMS] == before


@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("show",)], ids=lambda c: c[0])
def test_a_huge_plan_file_is_refused_unparsed(live, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    with open("huge.json", "wb") as fh:  # sparse: costs no disk, only the read
        fh.write(b"{")
        fh.truncate(MAX_PLAN_BYTES + 1)
    message = (
        "huge.json: plan file is larger than 200 MiB, the most a plan file may be; "
        "make smaller plans with `reconciler plan --only ID…`"
    )
    assert_refused(run_cli(*command, "huge.json", env=env(live)), [message], live)


@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("show",)], ids=lambda c: c[0])
def test_a_huge_plan_file_is_read_only_up_to_one_byte_past_the_cap(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    with open("huge.json", "wb") as fh:  # sparse: 8 GiB that reading whole would hold in memory
        fh.truncate(8 * 1024**3)
    given: list[int] = []
    real_load_plan = planfile.load_plan

    def load_plan(data: bytes, display: str):
        given.append(len(data))
        return real_load_plan(data, display)

    monkeypatch.setattr(planfile, "load_plan", load_plan)
    result = run_cli(*command, "huge.json", env={"SYNAPSE_AUTH_TOKEN": None})
    assert (result.code, result.out) == (1, "")
    assert result.err == (
        "error: huge.json: plan file is larger than 200 MiB, the most a plan file may be; "
        "make smaller plans with `reconciler plan --only ID…`\n"
    )
    assert given == [MAX_PLAN_BYTES + 1]


def test_a_plan_file_applies_only_to_the_endpoint_it_records(make_sandbox, tmp_path, monkeypatch):
    """A plan made against sandbox A, applied while only sandbox B runs, sends nothing to
    B: the endpoint is the file's, not the environment's (docs/plan-file.md)."""
    monkeypatch.setattr(http, "MAX_BACKOFF", 0.0)  # retries to the dead endpoint, at once
    a = make_sandbox(synthetic=[("9615000", 3)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD_SYNAPSE.format(url=a.url))
    plan = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan, env=env(a)).code == 0
    b = make_sandbox(synthetic=[("9615000", 3)])  # started first, so it cannot reuse A's port
    a.stop()
    before = [b.store.get(i) for i in ITEMS]
    result = run_cli("apply", plan, "--auto-approve", env=env(b))
    assert result.code == 1 and "Traceback" not in result.err
    assert (
        f"statusBatch got no connection (connection refused at {a.url}; is the server running, "
        "on that port?); it was not written"
    ) in result.out
    assert b.request_log() == []
    assert [b.store.get(i) for i in ITEMS] == before
