"""The command line as a demanding user finds it: flags that say what they do, errors
that name the fix, output that says what it is about (one test per complaint)."""

from __future__ import annotations

from cli_helpers import live_item, run_cli


# ------------------------------------------------------------------------ --only
def test_only_an_id_no_queue_has_is_an_error_naming_it(example):
    result = run_cli("plan", example, "--only", "123", "--detailed-exitcode")
    assert result.code == 1, result.out
    assert "error: --only 123: no queue in the spec has an item with this id" in result.err
    assert "No changes" not in result.out


def test_only_accepts_comma_separated_ids(example):
    result = run_cli("plan", example, "--only", "9700003,9700004", "--detailed-exitcode")
    assert result.code == 2, result.err
    assert "9700003" in result.out and "9700004" in result.out and "9700005" not in result.out


def test_only_names_every_id_that_matches_nothing(example):
    result = run_cli("plan", example, "--only", "9700003, 1", "--only", "2")
    assert result.code == 1
    assert "error: --only 1, 2: no queue in the spec has an item with these ids" in result.err


# ------------------------------------------------------------------------- -o
import json  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402


@pytest.mark.parametrize("argv", [["-out=plan.json"], ["-o=plan.json"], ["-o", "ut=plan.json"]])
def test_an_out_value_that_is_a_mistyped_flag_is_refused(example, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    result = run_cli("plan", example, *argv)
    assert result.code == 1
    assert "--out=plan.json" in result.err and "Traceback" not in result.err
    assert sorted(os.listdir(tmp_path)) == ["challenge"]  # no `ut=plan.json`, no `=plan.json`


def test_export_refuses_a_mistyped_out_value_too(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("export", example, "-o=current.yaml")
    assert result.code == 1 and "--out=current.yaml" in result.err
    assert sorted(os.listdir(tmp_path)) == ["challenge"]


def test_plan_out_dash_writes_the_plan_file_to_stdout_and_the_report_to_stderr(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("plan", example, "-o", "-")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["format_version"] == 1 and document["summary"]["change"] > 0
    assert "Plan:" in result.err and "9700003" in result.err
    assert not (tmp_path / "-").exists()


def test_plan_out_dash_with_json_format_prints_the_document_once(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("plan", example, "-o", "-", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["format_version"] == 1
    assert not (tmp_path / "-").exists()


# ------------------------------------------------------------- global options


@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "-vv", "--no-color"])
def test_global_options_work_after_the_subcommand_too(example, flag):
    result = run_cli("plan", example, flag)
    assert result.code == 0, result.err
    assert "Plan:" in result.out


def test_quiet_after_the_subcommand_silences_notes(example, tmp_path):
    saved = tmp_path / "plan.json"
    assert "Saved the plan" in run_cli("plan", example, "-o", saved).err
    assert run_cli("plan", example, "-o", saved, "-q").err == ""


@pytest.mark.parametrize(
    ("tty", "env", "no_color", "expected"),
    [
        (True, {}, False, True),
        (False, {}, False, False),
        (True, {"NO_COLOR": "1"}, False, False),
        (True, {"TERM": "dumb"}, False, False),
        (True, {"TERM": "xterm-256color"}, True, False),
    ],
)
def test_colour_only_on_a_terminal_that_wants_it(tty, env, no_color, expected):
    from reconciler.commands.options import color_wanted

    assert color_wanted(tty, env, no_color) is expected


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("-auto-approve", "--auto-approve"),
        ("-detailed-exitcode", "--detailed-exitcode"),
        ("-force", "--force"),
    ],
)
def test_terraform_single_dash_spellings_get_a_did_you_mean(example, typed, meant):
    command = "apply" if typed == "-auto-approve" else "plan"
    result = run_cli(command, example, typed)
    assert result.code == 1
    assert f"did you mean `{meant}`?" in result.err
    assert "No such option: -a" not in result.err and "No such option: -d" not in result.err


# ------------------------------------------------------------------------ docs
# (the apply prompt, its help, apply --only and a stale saved plan: tests/commands/test_apply.py)
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_docs_stand_on_their_own():
    """No pointer to files outside the repository (the design notes, the service facts)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "BENCHMARKS.md"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for needle in ("shared/", "DESIGN §", "REST-FACTS", "CLIENT-FACTS"):
            assert needle not in text, f"{page.name} refers to {needle}"
    helps = [run_cli(*cmd, "--help").out for cmd in ([], ["plan"], ["apply"], ["show"], ["export"], ["validate"])]
    assert not any("DESIGN" in h or "shared/" in h for h in helps)


# ------------------------------------------------------------ counts and legend
import re  # noqa: E402


def test_plan_counts_add_up_to_the_items_listed_and_the_markers_are_explained(example):
    out = run_cli("plan", example).out
    marked = [line for line in out.splitlines() if re.match(r"  [~+\-!] \S", line)]
    summary = re.search(r"Plan: (\d+) to change \(including 2 locks\), (\d+) blocked", out)
    assert summary, out
    assert int(summary.group(1)) + int(summary.group(2)) == len(marked) == 11
    assert "Markers: ~ change · + change that locks · - change that unlocks · ! blocked" in out
    docs = (ROOT / "docs" / "semantics.md").read_text() + (ROOT / "README.md").read_text()
    assert "| `+` |" in docs and "| `!` |" in docs


# ---------------------------------------------------- which service, made when
def test_plan_and_show_say_which_service_and_tool_made_the_plan(example, tmp_path):
    from reconciler import __version__

    store = example.parent / ".reconciler" / "state.db"
    planned = run_cli("plan", example, "-o", tmp_path / "plan.json")
    assert planned.out.splitlines()[0] == f"Plan for local at local:{store} (reconciler {__version__})"
    doc = json.loads((tmp_path / "plan.json").read_text())
    created, evaluated = doc["created_at"], doc["evaluated_at"]
    # a saved plan names the clock its conditions were evaluated on (issue 23)
    saved = f"Plan for local at local:{store} (evaluated at {evaluated}, saved {created} by reconciler {__version__})"
    assert run_cli("show", tmp_path / "plan.json").out.splitlines()[0] == saved
    assert f"`{saved}`" in run_cli("show", tmp_path / "plan.json", "--format", "markdown").out
    assert f"local:{store}" in run_cli("plan", example, "--format", "markdown").out


# --------------------------------------------------------------- failing plans
def safety_failing(example):
    example.write_text(example.read_text().replace("max_change_percent: 50", "max_change_percent: 10"))
    return example


def test_a_failing_plan_says_so_in_the_pr_comment(example):
    result = run_cli("plan", safety_failing(example), "--format", "markdown")
    assert result.code == 1
    assert "**This plan fails** (exit 1; `apply` refuses it):" in result.out
    assert "more than max_change_percent 10%" in result.out


def test_a_failing_plan_says_so_in_the_annotations(example):
    result = run_cli("plan", safety_failing(example), "--format", "github")
    assert result.code == 1
    assert "::error title=reconciler plan::the plan fails: queue 9615000: 9 of 20" in result.out
    assert "::notice" not in result.out


def test_show_of_a_failing_plan_fails_as_plan_does(example, tmp_path):
    saved = tmp_path / "plan.json"
    assert run_cli("plan", safety_failing(example), "--force", "-o", saved).code == 0
    for fmt in ("github", "text", "markdown", "json"):
        shown = run_cli("show", saved, "--format", fmt)
        assert shown.code == 1, fmt
        assert "max_change_percent 10%" in shown.err
    github = run_cli("show", saved, "--format", "github").out
    assert "::error title=reconciler plan::the plan fails:" in github
    assert "::error title=safety limit::" in github and "::notice" not in github


# ------------------------------------------------------- entries not in the queue
def with_missing_entry(example):
    """Adds an entry for 1234, which the queue does not have, at spec.yaml line 32."""
    text = example.read_text().replace('      "9700004": {', '      "1234": {status: SCORED}\n      "9700004": {')
    example.write_text(text)
    assert text.splitlines()[31].strip().startswith('"1234"')
    return example


MISSING = (
    "queue 9615000: submission 1234 is not in the queue (a mistyped id?); reconciler "
    "cannot create items, so this entry does nothing"
)
AT = ":32:24"  # the entry's first field


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_an_entry_not_in_the_queue_is_a_located_error_even_with_quiet(example, quiet):
    """Updated for issue 27: such an entry was a warning and the plan exited 0."""
    result = run_cli("plan", with_missing_entry(example), "--detailed-exitcode", *quiet)
    assert result.code == 1
    assert f"error: {example}{AT}: {MISSING}" in result.err.splitlines()
    assert "--allow-missing" in result.err


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_allow_missing_makes_an_entry_not_in_the_queue_a_located_warning(example, quiet):
    result = run_cli("plan", with_missing_entry(example), "--allow-missing", *quiet)
    assert result.code == 0
    assert f"warning: {example}{AT}: {MISSING}" in result.err.splitlines()


def test_an_entry_not_in_the_queue_is_in_every_format(example, tmp_path):
    spec = with_missing_entry(example)
    markdown = run_cli("plan", spec, "--format", "markdown").out
    assert "**Errors:**" in markdown and f"`{spec}{AT}: {MISSING}`" in markdown
    assert "**This plan fails**" in markdown
    github = run_cli("plan", spec, "--format", "github").out
    assert f"::error file={spec},line=32,col=24,title=not in the queue::{MISSING}" in github.splitlines()
    allowed = run_cli("plan", spec, "--format", "github", "--allow-missing").out
    assert f"::warning file={spec},line=32,col=24,title=not in the queue::{MISSING}" in allowed.splitlines()
    document = json.loads(run_cli("plan", spec, "--format", "json").out)
    assert document["warnings"] == [{"message": MISSING, "file": str(spec), "line": 32, "column": 24}]
    saved = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", saved, "--allow-missing").code == 0
    shown = run_cli("show", saved, "--format", "markdown")
    assert shown.code == 1 and f"`{spec}{AT}: {MISSING}`" in shown.out


def test_an_entry_not_in_the_queue_fails_the_plan_and_apply_refuses_unless_allowed(example):
    spec = with_missing_entry(example)
    refused = run_cli("apply", spec, "--auto-approve")
    assert refused.code == 1 and "Nothing was applied" in refused.err
    assert run_cli("plan", spec, "--allow-missing", "--detailed-exitcode").code == 2
    assert run_cli("apply", spec, "--allow-missing", "--auto-approve").code == 0


def test_never_matches_the_spec_while_entries_were_ignored(example):
    spec = with_missing_entry(example)
    assert run_cli("apply", spec, "--allow-missing", "--auto-approve").code == 0
    result = run_cli("plan", spec, "--allow-missing", "--detailed-exitcode")
    assert result.code == 0
    assert "matches the spec" not in result.out
    assert "1 spec entry for submissions not in their queue did nothing" in result.out


def test_fail_on_missing_is_gone_replaced_by_allow_missing(example):
    result = run_cli("plan", example, "--fail-on-missing")
    assert result.code == 1 and "--fail-on-missing" in result.err


# ----------------------------------------------------------- a stopped server
import logging  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from local_app import Scripted, json_response, serve  # noqa: E402
from reconciler.http import make_session  # noqa: E402


def refusing_url() -> tuple[socket.socket, str]:
    """A port that is bound but not listening: every connect is refused at once."""
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    return bound, f"http://127.0.0.1:{bound.getsockname()[1]}/repo/v1"


def test_a_stopped_server_fails_fast_naming_the_url(tmp_spec):
    bound, url = refusing_url()
    with bound:
        spec = tmp_spec(f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\nqueues:\n  - id: "9615000"\n')
        started = time.monotonic()
        result = run_cli("plan", spec, env={"SYNAPSE_AUTH_TOKEN": "t0ken-for-test"})
        elapsed = time.monotonic() - started
    assert result.code == 1 and elapsed < 3.0, (elapsed, result.err)
    assert result.err == f"error: cannot connect to {url}: connection refused; is the server running, on that port?\n"


def test_the_first_retry_note_says_the_earlier_retry_did_not_wait(caplog):
    def respond(request):
        if len(app.seen) <= 2:
            return json_response({"reason": "down"}, 503)
        return json_response({"results": [], "totalNumberOfResults": 0})

    app = Scripted(respond)
    with serve(app) as url, caplog.at_level(logging.WARNING, logger="reconciler"):
        session = make_session(token="t0ken-for-test", retries=3, backoff=0.6, timeout=(2.0, 5.0), user_agent="t/1")
        assert session.get(f"{url}/x").status_code == 200
    (note,) = [r.getMessage() for r in caplog.records]
    assert note.startswith("GET /repo/v1/x: HTTP 503; retry 2 of 3 in ")
    assert note.endswith(" s (retry 1 was immediate)")


# ---------------------------------------------------------- export's schema line
def test_export_writes_the_schema_its_first_line_points_at(example, tmp_path):
    out = tmp_path / "adopted" / "current.yaml"
    out.parent.mkdir()
    result = run_cli("export", example, "-o", out)
    assert result.code == 0, result.err
    first = out.read_text().splitlines()[0]
    target = first.removeprefix("# yaml-language-server: $schema=")
    schema = out.parent / target
    assert schema.read_text() == run_cli("schema").out
    schema.write_text("{}")  # an outdated copy is brought up to date with --force (issue 27)
    assert run_cli("export", example, "-o", out, "--force").code == 0
    assert schema.read_text() == run_cli("schema").out


# ------------------------------------------------------------ mixed-up file kinds
def test_planning_a_plan_file_says_which_commands_take_it(example, tmp_path):
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    for command in ("plan", "validate", "export"):
        args = [command, saved] + (["-o", "-"] if command == "export" else [])
        result = run_cli(*args)
        assert result.code == 1
        assert result.err == (
            f"error: {saved} is a plan file, not a spec: print it with "
            f"`reconciler show {saved}` or apply it with `reconciler apply {saved}`\n"
        )


def test_showing_a_spec_says_to_plan_it(example):
    result = run_cli("show", example)
    assert result.code == 1
    assert result.err == (
        f"error: {example} is a spec, not a plan file: plan it with "
        f"`reconciler plan {example}` (add `-o plan.json` to save the plan)\n"
    )


def test_validating_an_include_file_says_to_validate_the_spec_that_includes_it(example):
    include = example.parent / "scores" / "round-2.yaml"
    for command in ("validate", "plan"):
        result = run_cli(command, include)
        assert result.code == 1
        assert result.err == (
            f"error: {include} is an include file (only `submissions:`): "
            f"{command} the spec that lists it under `include:`\n"
        )


# ------------------------------------------------------------ errors name the fix
def validate_text(tmp_spec, text: str):
    spec = tmp_spec(text)
    return spec, run_cli("validate", spec)


def test_a_misspelt_field_is_one_error_with_did_you_mean(tmp_spec):
    spec, result = validate_text(
        tmp_spec,
        """\
        version: 1
        queues:
          - id: "1"
            rules:
              - name: a
                wehre: {status: VALIDATED}
                set: {status: ACCEPTED}
        """,
    )
    assert result.code == 1
    assert result.err == (
        f"error: {spec}:6:9: unknown field 'wehre': did you mean 'where'? (allowed: name, rank, set, where)\n"
    )


def test_a_status_in_the_wrong_case_suggests_the_right_one(tmp_spec):
    spec, result = validate_text(
        tmp_spec,
        """\
        version: 1
        provider: {type: synapse}
        queues:
          - id: "1"
            submissions:
              "9": {status: scored}
        """,
    )
    assert result.code == 1
    assert result.err.startswith(
        f"error: {spec}:6:13: status 'scored' is not a Synapse submission "
        "status: did you mean 'SCORED'? (one of: ACCEPTED, "
    )


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [
        ('version: 1\nqueues:\n  - id: "1"\n    submissions:\n      "9": {status: SCORED}\n     tags: {a: 1}\n', 6, 6),
        ('version: 1\nqueues:\n  - id: "1"\n  tags: {policy: merge}\n', 4, 3),
    ],
)
def test_bad_indentation_is_said_in_plain_words(tmp_spec, text, line, col):
    spec, result = validate_text(tmp_spec, text)
    assert result.code == 1
    assert result.err.startswith(f"error: {spec}:{line}:{col}: bad indentation: ")
    assert "<block" not in result.err and "'?'" not in result.err
    assert "line 3, column" in result.err  # where the enclosing block starts


def test_a_string_where_a_list_belongs_shows_the_list_to_write(tmp_spec):
    spec, result = validate_text(tmp_spec, 'version: 1\nqueues:\n  - id: "1"\n    include: scores/*.yaml\n')
    assert result.code == 1
    assert result.err == f"error: {spec}:4:14: expected a list, got string (write `include: [scores/*.yaml]`)\n"


# ------------------------------------------------- --replace: change a locked item
def with_locked_correction(example):
    """9700002 is locked in the seed (score 0.37); the spec corrects its score."""
    text = example.read_text().replace(
        '      "9700004": {', '      "9700002": {tags: {score: 0.4}}\n      "9700004": {'
    )
    example.write_text(text)
    return example


def test_replace_turns_a_blocked_change_into_one_marked_change_that_keeps_the_lock(example):
    spec = with_locked_correction(example)
    assert run_cli("plan", spec).code == 1  # blocked without --replace
    planned = run_cli("plan", spec, "--replace", "9700002", "--detailed-exitcode")
    assert planned.code == 2, planned.err
    assert "  ! 9700002  LOCKED: changed under --replace; stays locked" in planned.out
    assert "including 2 locks, 1 under --replace" in planned.out
    applied = run_cli("apply", spec, "--replace", "9700002", "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    record = live_item(example, "9700002")
    assert record.locked and record.tags["score"] == (0.4,)
    assert run_cli("plan", spec, "--detailed-exitcode").code == 0


def test_replace_is_carried_in_the_plan_file(example, tmp_path):
    spec = with_locked_correction(example)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", spec, "--replace", "9700002", "-o", saved).code == 0
    (change,) = [c for q in json.loads(saved.read_text())["queues"] for c in q["changes"] if c["id"] == "9700002"]
    assert change["relock"] is True and change["blocked"] is False and change["lock"] is None
    shown = run_cli("show", saved, "--format", "markdown")
    assert shown.code == 0 and "`9700002` **locked; changed under --replace**" in shown.out
    assert run_cli("apply", saved, "--auto-approve").code == 0
    record = live_item(example, "9700002")
    assert record.locked and record.tags["score"] == (0.4,)


def test_replace_of_an_item_that_is_not_blocked_is_an_error(example):
    result = run_cli("plan", with_locked_correction(example), "--replace", "9700005,9700002")
    assert result.code == 1
    assert "error: --replace 9700005: no change to this id is blocked by a lock" in result.err


def test_replace_refuses_a_plan_file(example, tmp_path):
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    result = run_cli("apply", saved, "--replace", "9700002", "--auto-approve")
    assert result.code == 1 and "plan --replace" in result.err


def test_replace_on_synapse_writes_the_change_and_keeps_the_lock_annotation(make_sandbox, tmp_path):
    import requests

    from conftest import SANDBOX_TOKEN

    sb = make_sandbox(synthetic=[("9615000", 3)])
    env = {"SYNAPSE_AUTH_TOKEN": SANDBOX_TOKEN}
    head = (
        f'version: 1\nprovider: {{type: synapse, endpoint: "{sb.url}"}}\nqueues:\n  - id: "9615000"\n    submissions:\n'
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(head + '      "9700001": {locked: true}\n')
    assert run_cli("apply", spec, "--auto-approve", env=env).code == 0
    spec.write_text(head + '      "9700001": {status: SCORED, tags: {score: 0.9}, locked: true}\n')
    # the entry that locks the item states other values than it holds: drift, not written
    drifted = run_cli("plan", spec, "--detailed-exitcode", env=env)
    assert drifted.code == 2 and "≠ 9700001  DRIFT" in drifted.out, drifted.out + drifted.err
    applied = run_cli("apply", spec, "--replace", "9700001", "--auto-approve", env=env)
    assert applied.code == 0, applied.out + applied.err
    status = requests.get(
        f"{sb.url}/evaluation/submission/9700001/status",
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        timeout=10,
    ).json()
    assert status["status"] == "SCORED"
    annotations = status["submissionAnnotations"]["annotations"]
    assert annotations["locked"]["value"] == ["true"] and annotations["score"]["value"] == ["0.9"]
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 0


def test_a_plan_file_change_both_relocked_and_blocked_is_refused(example, tmp_path):
    from reconciler.planfile import _checksum

    spec = with_locked_correction(example)
    saved = tmp_path / "plan.json"
    assert run_cli("plan", spec, "--replace", "9700002", "-o", saved).code == 0
    doc = json.loads(saved.read_text())
    (change,) = [c for q in doc["queues"] for c in q["changes"] if c.get("relock")]
    change["blocked"] = True
    doc["summary"]["change"] -= 1
    doc["summary"]["blocked"] += 1
    doc["checksum"] = _checksum(doc)
    saved.write_text(json.dumps(doc, indent=2))
    result = run_cli("show", saved)
    assert result.code == 1
    assert "a relocked change (`--replace`) is neither blocked nor a lock change" in result.err
