"""The omics provider against the HealthOmics fake over loopback: through the engine
(planner, apply) and through the CLI."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

pytest.importorskip("botocore")
import botocore.session
from botocore.config import Config

from aws_env import isolate_aws
from builders import through_plan_file
from cli_helpers import run_cli
from reconciler.apply import apply_plan
from reconciler.errors import ConfigError
from reconciler.model import (
    Assignment,
    Match,
    ProviderConfig,
    QueueSpec,
    Rule,
    Safety,
    Setting,
    Source,
    Spec,
    TagCondition,
)
from reconciler.planfile import dump_plan, load_plan
from reconciler.planner import build_plan
from reconciler.providers.omics import OmicsProvider
from reconciler.sandbox import omics as fake

GROUP = "4242"
KEY = "AKIDSANDBOXTOKEN"
SECRET = "sandbox-secret-never-shown"
SRC = Source("spec.yaml", 1)
FIRST = fake.FIRST_SYNTHETIC_ID
# batch ids of the synthetic run group by status (13 batches: the 11 statuses, then 2 more)
BY_STATUS = {status: str(FIRST + n) for n, status in enumerate(fake.STATUSES)}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    """Credentials for the sandbox and nothing from this machine's AWS setup."""
    isolate_aws(monkeypatch, tmp_path, KEY, SECRET)


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(service="omics", token=KEY, synthetic=[(GROUP, 13), ("77", 3)])


def endpoints(sb) -> dict[str, str]:
    """The provider options of the fake's two hosts (AWS: workflows- and tags-)."""
    return {"endpoint": sb.roots["workflows"], "tags_endpoint": sb.roots["tags"]}


def open_provider(sb, **options) -> OmicsProvider:
    return OmicsProvider.from_config(ProviderConfig("omics", {**endpoints(sb), **options}, "/"))


def botocore_client(sb, host: str = "workflows"):
    """Another client of the fake: one botocore client per AWS host, as with VPC endpoints."""
    return botocore.session.get_session().create_client(
        "omics",
        region_name="us-east-1",
        endpoint_url=sb.roots[host],
        aws_access_key_id=KEY,
        aws_secret_access_key="x",
        config=Config(inject_host_prefix=False),
    )


def queue(queue_id: str = GROUP, rules=(), submissions=None, lock_key: str = "locked") -> QueueSpec:
    return QueueSpec(
        id=queue_id,
        source=SRC,
        rules=tuple(rules),
        submissions=submissions or {},
        lock_key=lock_key,
        safety=Safety(max_change_percent=100),
    )


def entry(status=None, tags=None, locked=None) -> Assignment:
    return Assignment(
        status=None if status is None else Setting(status, SRC),
        locked=None if locked is None else Setting(locked, SRC),
        tags={k: Setting(None if v is None else (v,), SRC) for k, v in (tags or {}).items()},
    )


def cancel_rule(statuses=("PENDING", "SUBMITTING", "INPROGRESS"), tags=None) -> Rule:
    return Rule("cancel-running", Match(statuses=frozenset(statuses)), entry("CANCELLED", tags), SRC)


def spec_of(*queues: QueueSpec) -> Spec:
    return Spec(ProviderConfig("omics", {}, "/"), tuple(queues), ("spec.yaml",), "d" * 64)


def plan_and_apply(provider, spec, rediff=True):
    result = build_plan(spec, provider)
    report = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers() if rediff else None)
    return result, report


def operations(sb) -> list[tuple[str, str, int]]:
    """(operation, batch id or '', status) per request served."""
    out = []
    for e in sb.request_log():
        method, path = e["method"], unquote(e["path"])
        if path == "/runBatch":
            op, target = "ListBatch", ""
        elif path == "/runBatch/cancel":
            op, target = "CancelRunBatch", ""
        elif path.startswith("/runBatch/"):
            op, target = "GetBatch", path.rsplit("/", 1)[1]
        else:
            op = {"POST": "TagResource", "DELETE": "UntagResource", "GET": "ListTagsForResource"}[method]
            target = path.rsplit("/", 1)[1]
        out.append((op, target, e["status"]))
    return out


def live(sb, batch_id: str) -> dict:
    return sb.store.get(fake.COLLECTION, batch_id)["batch"]


def set_live(sb, batch_id: str, **fields) -> None:
    doc = sb.store.get(fake.COLLECTION, batch_id)
    doc["batch"].update(fields)
    sb.store.put(fake.COLLECTION, batch_id, doc)


# ----------------------------------------------------------------- reading
def test_items_are_batches_with_their_tags_lock_and_json_base(sb):
    set_live(sb, BY_STATUS["PENDING"], tags={"owner": "ana", "locked": "true"})
    with open_provider(sb) as p:
        items = {i.id: i for i in p.list_items(queue())}
    assert len(items) == 13
    item = items[BY_STATUS["PENDING"]]
    assert (item.status, item.tags, item.locked) == ("PENDING", {"owner": ("ana",)}, True)
    assert item.base["arn"].endswith(f"runBatch/{item.id}")
    assert item.base["creationTime"].startswith("2025-01-02T12:00:00")
    json.dumps(item.base)  # JSON-safe: times are ISO strings


def test_queue_all_lists_every_batch_of_the_region(sb):
    with open_provider(sb) as p:
        assert len(p.list_items(queue("all"))) == 16
        assert len(p.list_items(queue("77"))) == 3


def test_get_leaves_out_unknown_and_other_run_groups(sb):
    with open_provider(sb) as p:
        got = p.get(queue(), [BY_STATUS["PENDING"], "999", str(FIRST + 13), "not-an-id"])
    assert [i.id for i in got] == [BY_STATUS["PENDING"]]  # FIRST+13 is in run group 77


def test_plan_costs_one_list_per_100_and_one_get_per_batch(make_sandbox):
    sb = make_sandbox(service="omics", token=KEY, synthetic=[(GROUP, 230)])
    with open_provider(sb) as p:
        assert len(p.list_items(queue())) == 230
    counts = Counter(op for op, _, _ in operations(sb))
    assert counts == {"ListBatch": math.ceil(230 / 100), "GetBatch": 230}


# ----------------------------------------------------------------- writing
def test_plan_apply_plan_is_empty_with_cancels_still_stopping(sb):
    sb.service.settle_reads = 1000  # the cancels stay STOPPING throughout
    q = queue(
        rules=[cancel_rule(tags={"cancelled-by": "reconciler"})],
        submissions={BY_STATUS["CREATING"]: entry(tags={"owner": "ana"})},
    )
    with open_provider(sb) as p:
        result, report = plan_and_apply(p, spec_of(q))
        assert {c.item_id for c in result.plan.changes} == {
            BY_STATUS["PENDING"],
            BY_STATUS["SUBMITTING"],
            BY_STATUS["INPROGRESS"],
            BY_STATUS["CREATING"],
            str(FIRST + 12),
        }  # the 13th batch is PENDING again
        assert report.ok and report.count("applied") == 5
        again = build_plan(spec_of(q), p)
    assert not again.plan.has_changes
    assert live(sb, BY_STATUS["PENDING"])["status"] == "STOPPING"
    assert live(sb, BY_STATUS["PENDING"])["tags"] == {"cancelled-by": "reconciler"}
    assert live(sb, BY_STATUS["CREATING"])["tags"] == {"owner": "ana"}


def test_apply_writes_guard_reads_tags_and_cancels_and_nothing_else(sb):
    q = queue(
        submissions={
            BY_STATUS["PENDING"]: entry("CANCELLED", {"a": "1"}),
            BY_STATUS["CREATING"]: entry(tags={"b": "2"}),
        }
    )
    with open_provider(sb) as p:
        result = build_plan(spec_of(q), p)
        before = len(sb.request_log())
        report = apply_plan(result.plan, p, result.queues)
    assert report.ok
    writes = Counter(op for op, _, _ in operations(sb)[before:])
    # per change: 1 GetBatch (guard) + 1 TagResource; + 1 CancelRunBatch for the cancel
    assert writes == {"GetBatch": 2, "TagResource": 2, "CancelRunBatch": 1}


def test_tags_are_set_and_removed_exactly_and_unmanaged_tags_survive(sb):
    batch = BY_STATUS["PROCESSED"]
    set_live(sb, batch, tags={"keep": "theirs", "old": "x", "stage": "1"})
    q = queue(submissions={batch: entry(tags={"old": None, "stage": "2", "new": "y"})})
    with open_provider(sb) as p:
        _, report = plan_and_apply(p, spec_of(q))
        assert report.ok
        assert not build_plan(spec_of(q), p).plan.has_changes
    assert live(sb, batch)["tags"] == {"keep": "theirs", "stage": "2", "new": "y"}
    ops = [(op, status) for op, target, status in operations(sb) if op in ("TagResource", "UntagResource")]
    assert ops == [("UntagResource", 204), ("TagResource", 204)]


def test_more_than_50_tag_keys_go_in_calls_of_50(sb):
    batch = BY_STATUS["FAILED"]
    set_live(sb, batch, tags={f"old{n}": "x" for n in range(45)})
    tags = {f"old{n}": None for n in range(45)} | {f"k{n:02d}": "v" for n in range(50)}
    with open_provider(sb) as p:
        _, report = plan_and_apply(p, spec_of(queue(submissions={batch: entry(tags=tags)})))
    assert report.ok
    assert live(sb, batch)["tags"] == {f"k{n:02d}": "v" for n in range(50)}
    ops = Counter(op for op, _, _ in operations(sb) if op.endswith("Resource"))
    assert ops == {"UntagResource": 1, "TagResource": 1}


def test_lock_is_the_reserved_tag_and_locked_batches_are_blocked(sb):
    batch = BY_STATUS["INPROGRESS"]
    with open_provider(sb) as p:
        q = queue(submissions={batch: entry("CANCELLED", locked=True)}, lock_key="frozen")
        _, report = plan_and_apply(p, spec_of(q))
        assert report.ok
        assert live(sb, batch)["tags"] == {"frozen": "true"}
        # the change landed before its lock: cancel first, then the lock tag
        tail = [op for op, _, _ in operations(sb)][-2:]
        assert tail == ["CancelRunBatch", "TagResource"]
        q2 = queue(submissions={batch: entry(tags={"x": "y"})}, lock_key="frozen")
        plan = build_plan(spec_of(q2), p).plan
    assert [c.blocked for c in plan.changes] == [True]


def test_a_refused_cancel_fails_the_plan_naming_the_batch_and_its_status(sb):
    """A batch still CREATING cannot be cancelled yet: a refusal (a finished one is
    settled otherwise, below)."""
    q = queue(submissions={BY_STATUS["CREATING"]: entry("CANCELLED")})
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    [change] = plan.blocked
    assert change.item_id == BY_STATUS["CREATING"]
    assert "CREATING" in change.refused and "CANCELLED" in change.refused


@pytest.mark.parametrize("status", ["PROCESSED", "FAILED", "RUNS_DELETED"])
def test_a_cancel_for_a_batch_that_finished_is_settled_otherwise_not_a_failure(sb, status):
    batch = BY_STATUS[status]
    q = queue(submissions={batch: entry("CANCELLED", {"note": "x"})})
    with open_provider(sb) as p:
        result = build_plan(spec_of(q), p)
    [change] = result.plan.changes  # the tag still lands; no status field, not blocked
    assert not change.blocked and [f.field for f in change.fields] == ["tags.note"]
    [note] = result.ended
    assert batch in note.message and status in note.message and "settled otherwise" in note.message
    assert "where: {status: [INPROGRESS, PENDING, SUBMITTING]}" in note.message  # the rule form


def test_already_cancelled_or_stopping_batches_converge(sb):
    q = queue(submissions={BY_STATUS["CANCELLED"]: entry("CANCELLED"), BY_STATUS["STOPPING"]: entry("CANCELLED")})
    with open_provider(sb) as p:
        assert not build_plan(spec_of(q), p).plan.has_changes


def test_a_concurrent_tag_change_between_plan_and_apply_is_stale_and_kept(sb, tmp_path):
    batch = BY_STATUS["PENDING"]
    set_live(sb, batch, tags={"owner": "cy"})
    q = queue(submissions={batch: entry("CANCELLED", {"owner": "ana"})})
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    text = dump_plan(plan, tool_version="test", created_at="2025-01-01T00:00:00Z")
    assert KEY not in text and SECRET not in text
    loaded = load_plan(text, "plan.json").plan
    # someone else tags the batch between plan and apply
    c = botocore_client(sb, "tags")
    c.tag_resource(resourceArn=live(sb, batch)["arn"], tags={"owner": "bob", "pipeline": "theirs"})
    with OmicsProvider.for_plan(loaded.endpoint, loaded.provider_options) as p:
        report = apply_plan(loaded, p, {GROUP: q})
    [result] = report.results
    assert result.outcome == "stale" and 'tags.owner: "cy" → "bob"' in result.detail
    assert live(sb, batch)["tags"] == {"owner": "bob", "pipeline": "theirs"}
    assert live(sb, batch)["status"] == "PENDING"  # nothing was written: no cancel either
    assert not [op for op, _, _ in operations(sb) if op == "CancelRunBatch"]


def test_a_conflict_at_cancel_is_reported_once_with_what_landed(sb, monkeypatch):
    batch = BY_STATUS["INPROGRESS"]
    q = queue(submissions={batch: entry("CANCELLED", {"owner": "ana"})})
    with open_provider(sb) as p:
        result = build_plan(spec_of(q), p)
        original = p.get

        def get_then_someone_cancels(queue_spec, ids):
            fresh = original(queue_spec, ids)
            botocore_client(sb).cancel_run_batch(batchId=batch)  # between our guard and our cancel
            return fresh

        monkeypatch.setattr(p, "get", get_then_someone_cancels)
        report = apply_plan(result.plan, p, result.queues)
    [item] = report.results
    assert item.outcome == "failed"
    assert item.detail.startswith("tag owner written; cancel not written: ")
    assert "ConflictException (409)" in item.detail
    cancels = [s for op, _, s in operations(sb) if op == "CancelRunBatch"]
    assert cancels == [202, 409]  # theirs, then ours once: never looped on
    assert live(sb, batch)["tags"] == {"owner": "ana"}


def test_access_denied_stops_the_run_and_shows_no_credentials(sb, monkeypatch):
    q = queue(submissions={BY_STATUS["PENDING"]: entry(tags={"a": "b"})})
    with open_provider(sb) as p:
        result = build_plan(spec_of(q), p)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    with OmicsProvider.for_plan(result.plan.endpoint, result.plan.provider_options) as p:
        assert "AKIAWRONG" not in repr(p)
        report = apply_plan(result.plan, p, result.queues)
    [item] = report.results
    # the guard's re-read is refused: nothing is sent, the batch is skipped (guarded.py)
    assert item.outcome == "skipped" and "AccessDeniedException (403)" in item.detail
    assert not report.ok
    assert "AKIAWRONG" not in item.detail and SECRET not in item.detail


@pytest.mark.slow
def test_throttled_reads_and_writes_converge(make_sandbox):
    sb = make_sandbox(service="omics", token=KEY, synthetic=[(GROUP, 22)], max_concurrent=2)
    q = queue(rules=[cancel_rule(tags={"owner": "ana"})])
    with open_provider(sb) as p:
        _, report = plan_and_apply(p, spec_of(q))
        assert report.ok
        assert not build_plan(spec_of(q), p).plan.has_changes
    statuses = Counter(s for _, _, s in operations(sb))
    assert statuses[429] > 0
    assert sum(1 for op, _, s in operations(sb) if op == "CancelRunBatch" and s == 202) == 6


def test_a_cancel_whose_answer_is_lost_is_re_read_not_re_sent(sb):
    batch = BY_STATUS["SUBMITTING"]
    q = queue(submissions={batch: entry("CANCELLED")})
    with open_provider(sb) as p:
        result = build_plan(spec_of(q), p)
        sb.faults.lose_answers(1, "/runBatch/cancel")  # the cancel lands, its answer is lost
        before = len(sb.request_log())
        report = apply_plan(result.plan, p, result.queues)
    assert [r.outcome for r in report.results] == ["applied"]
    assert [op for op, _, _ in operations(sb)[before:]] == ["GetBatch", "CancelRunBatch", "GetBatch"]


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"fail_rate": 0.2}, id="503s", marks=pytest.mark.slow),  # botocore's backoff
        pytest.param({"drop_rate": 0.15}, id="drops"),
    ],
)
def test_faults_converge_and_no_cancel_is_sent_twice(make_sandbox, faults):
    sb = make_sandbox(service="omics", token=KEY, synthetic=[(GROUP, 33)], random_seed=7, **faults)
    q = queue(rules=[cancel_rule(tags={"owner": "ana"})])
    with open_provider(sb) as p:
        for _ in range(3):  # a run may fail for good on a very unlucky draw; re-runs converge
            result, report = plan_and_apply(p, spec_of(q))
            if report.ok and not result.plan.blocked:
                break
        assert not build_plan(spec_of(q), p).plan.has_changes
    cancels = [s for op, _, s in operations(sb) if op == "CancelRunBatch"]
    landed = sum(1 for s in cancels if s == 202)
    assert landed == 9  # 33 batches: 3 of each cancellable status
    assert 409 not in cancels and 400 not in cancels  # never re-sent after it landed
    key = "dropped" if "drop_rate" in faults else "status"
    assert any(e.get(key) in (True, 503) for e in sb.request_log())  # the faults did happen
    assert all(
        live(sb, str(FIRST + n))["tags"] == {"owner": "ana"}
        for n in range(33)
        if fake.STATUSES[n % 11] in ("PENDING", "SUBMITTING", "INPROGRESS")
    )


# ----------------------------------------------------------------- opening
def test_unknown_option_names_the_known_ones(sb):
    with pytest.raises(ConfigError, match=r"allowed: endpoint, profile, region, tags_endpoint\)$"):
        open_provider(sb, colour="red")


def test_plain_http_is_refused_unless_loopback():
    with pytest.raises(ConfigError, match="http"):
        OmicsProvider.from_config(ProviderConfig("omics", {"endpoint": "http://example.com"}, "/"))
    assert OmicsProvider.endpoint_problem("http://example.com")


def test_endpoint_from_aws_endpoint_url_omics(sb, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_OMICS", sb.root)
    with OmicsProvider.from_config(ProviderConfig("omics", {}, "/")) as p:
        assert p.endpoint == sb.root and len(p.list_items(queue())) == 13


def test_default_endpoints_are_aws_hosts_for_the_region_recorded_as_a_pair():
    """The plan file names the two hosts botocore's prefixes make (workflows-, tags-)."""
    with OmicsProvider.from_config(ProviderConfig("omics", {"region": "eu-west-1"}, "/")) as p:
        assert p.endpoint == "https://workflows-omics.eu-west-1.amazonaws.com"
        assert p.plan_options() == {
            "region": "eu-west-1",
            "tags_endpoint": "https://tags-omics.eu-west-1.amazonaws.com",
        }
    with OmicsProvider.for_plan(p.endpoint, p.plan_options()) as again:
        assert (again.endpoint, again.plan_options()) == (p.endpoint, p.plan_options())


def test_no_region_and_no_credentials_are_one_line_each(sb, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigError, match="no AWS region"):
        open_provider(sb)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match="no AWS credentials"):
        open_provider(sb)


def test_a_profile_from_the_aws_config_files(sb, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "no-aws-credentials").write_text(
        f"[sandbox]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
    )
    with open_provider(sb, profile="sandbox") as p:
        assert len(p.list_items(queue())) == 13
        assert p.plan_options()["profile"] == "sandbox"
    with pytest.raises(ConfigError, match="could not be found"):
        open_provider(sb, profile="nope")


def test_without_botocore_the_error_says_how_to_install(sb, monkeypatch):
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setitem(sys.modules, "botocore.session", None)
    with pytest.raises(ConfigError, match=r"pip install 'evalqueue-reconciler\[omics\]'"):
        open_provider(sb)


# ----------------------------------------------------------------- offline checks
@pytest.mark.parametrize(
    "tags, message",
    [
        ({"n": 1}, "must be one string"),
        ({"n": True}, "must be one string"),
        ({"k" * 129: "v"}, "129 characters; AWS allows 1 to 128"),
        ({"n": "v" * 257}, "257 characters; AWS allows at most 256"),
        ({"aws:owner": "v"}, "begins with `aws:`"),
        ({"locked": "true"}, "lock tag of this queue"),
    ],
)
def test_check_queue_refuses_what_aws_would(tags, message):
    value = {k: Setting(v if isinstance(v, tuple) else (v,), SRC) for k, v in tags.items()}
    q = QueueSpec(id=GROUP, source=SRC, submissions={"1000001": Assignment(tags=value)})
    [problem] = OmicsProvider.check_queue(q)
    assert message in problem.message
    assert problem.path == ("submissions", "1000001", "tags", next(iter(tags)))


def test_check_queue_paths_for_ids_rules_and_where():
    rule = Rule(
        "r",
        Match(ids=frozenset({"x1"}), tags={"n": TagCondition(equals=(3,))}),
        Assignment(tags={"aws:x": Setting(("v",), SRC)}),
        SRC,
    )
    q = QueueSpec(id="rg-1", source=SRC, rules=(rule,), submissions={"abc": Assignment()})
    paths = {p.path for p in OmicsProvider.check_queue(q)}
    assert paths == {
        ("id",),
        ("rules", 0, "where", "ids", "x1"),
        ("rules", 0, "where", "tags", "n"),
        ("rules", 0, "set", "tags", "aws:x"),
        ("submissions", "abc"),
    }


# ----------------------------------------------------------------- the CLI
def write_spec(tmp_path: Path, sb, body: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        f'provider: {{type: omics, endpoint: "{sb.roots["workflows"]}", '
        f'tags_endpoint: "{sb.roots["tags"]}", region: us-east-1}}\n'
        "queues:\n"
        f'  - id: "{GROUP}"\n'
        "    lock: {tag: frozen}\n"
        "    safety: {max_change_percent: 100}\n" + body
    )
    return spec


CANCEL_RUNNING = (
    "    rules:\n"
    "      - name: cancel-running\n"
    "        where: {status: [PENDING, SUBMITTING, INPROGRESS]}\n"
    "        set: {status: CANCELLED, tags: {cancelled-by: reconciler}}\n"
)


def test_cli_plan_apply_plan_is_empty(sb, tmp_path):
    sb.service.settle_reads = 1000  # the cancels are still STOPPING at the second plan
    spec = write_spec(
        tmp_path,
        sb,
        (
            "    rules:\n"
            "      - name: tag-all\n"
            "        where: {}\n"
            "        set: {tags: {project: demo}}\n"
            "    submissions:\n"
            f'      "{BY_STATUS["PENDING"]}": {{status: CANCELLED, locked: true}}\n'
            f'      "{BY_STATUS["INPROGRESS"]}": {{status: CANCELLED, tags: {{project: null}}}}\n'
        ),
    )
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.err
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0, applied.out + applied.err
    again = run_cli("plan", spec, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    for result in (planned, applied, again):
        assert KEY not in result.out + result.err and SECRET not in result.out + result.err
    assert live(sb, BY_STATUS["PENDING"])["status"] == "STOPPING"
    assert live(sb, BY_STATUS["PENDING"])["tags"] == {"project": "demo", "frozen": "true"}
    assert live(sb, BY_STATUS["INPROGRESS"])["tags"] == {}


def test_cli_plan_and_apply_say_once_that_the_service_has_no_etags(sb, tmp_path):
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{FIRST}": {{tags: {{a: b}}}}\n')
    for command in (["plan", spec], ["apply", spec, "--auto-approve"]):
        result = run_cli(*command)
        assert (result.out + result.err).count("no etags") == 1


def test_cli_a_rule_may_match_statuses_it_cannot_set(sb, tmp_path):
    spec = write_spec(tmp_path, sb, CANCEL_RUNNING)
    assert run_cli("validate", spec).code == 0
    assert run_cli("apply", spec, "--auto-approve").code == 0
    assert run_cli("plan", spec, "--detailed-exitcode").code == 0


def test_cli_refused_cancel_fails_the_plan_with_batch_and_status(sb, tmp_path):
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{BY_STATUS["CREATING"]}": {{status: CANCELLED}}\n')
    planned = run_cli("plan", spec)
    assert planned.code == 1
    assert BY_STATUS["CREATING"] in planned.out and "CREATING" in planned.out
    assert not [op for op, _, _ in operations(sb) if op in ("CancelRunBatch", "TagResource")]


def test_cli_a_cancel_entry_whose_batch_finished_is_a_note_once_and_fails_only_under_strict(sb, tmp_path):
    """Issue 27: a cancel entry must not fail forever once its batch finished."""
    batch = BY_STATUS["PROCESSED"]
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{batch}": {{status: CANCELLED}}\n')
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 0, planned.out + planned.err
    notes = [line for line in planned.err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "spec.yaml:8:" in notes[0] and batch in notes[0]
    assert "where: {status: [INPROGRESS, PENDING, SUBMITTING]}" in notes[0]
    applied = run_cli("apply", spec, "--auto-approve")
    assert applied.code == 0 and applied.err.count("note: ") == 1, applied.out + applied.err
    strict = run_cli("plan", spec, "--strict")
    assert strict.code == 1 and "settled otherwise (--strict)" in strict.err
    assert run_cli("apply", spec, "--auto-approve", "--strict").code == 1
    assert not [op for op, _, _ in operations(sb) if op in ("CancelRunBatch", "TagResource")]


def test_cli_plan_file_stale_after_a_concurrent_tag_change(sb, tmp_path):
    batch = BY_STATUS["PENDING"]
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{batch}": {{tags: {{owner: ana}}}}\n')
    planfile = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", planfile).code == 0
    assert KEY not in planfile.read_text() and SECRET not in planfile.read_text()
    botocore_client(sb, "tags").tag_resource(resourceArn=live(sb, batch)["arn"], tags={"owner": "bob"})
    applied = run_cli("apply", planfile, "--auto-approve")
    assert applied.code == 1 and "stale" in applied.out
    assert live(sb, batch)["tags"] == {"owner": "bob"}


@pytest.mark.parametrize("tag, message", [("rank: 1", "must be one string"), ('"aws:x": v', "begins with `aws:`")])
def test_cli_validate_refuses_bad_tags_at_their_line(sb, tmp_path, tag, message):
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{FIRST}": {{tags: {{{tag}}}}}\n')
    result = run_cli("validate", spec)
    assert result.code == 1
    assert "spec.yaml:8:26: " in result.err and message in result.err
    assert not sb.request_log()


def test_cli_validate_refuses_statuses_other_than_cancelled(sb, tmp_path):
    spec = write_spec(tmp_path, sb, f'    submissions:\n      "{FIRST}": {{status: PENDING}}\n')
    result = run_cli("validate", spec)
    assert result.code == 1 and "spec.yaml:8:" in result.err + result.out


# ----------------------------------------------------------------- two hosts (issue 20)
def test_a_non_loopback_endpoint_without_tags_endpoint_is_refused_at_its_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: omics, region: us-east-1,\n"
        '  endpoint: "https://vpce-1.workflows-omics.us-east-1.vpce.amazonaws.com"}\n'
        'queues:\n  - id: "4242"\n'
    )
    result = run_cli("validate", spec)
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert "spec.yaml:3:13:" in result.err
    assert "tags_endpoint" in result.err and "tags-omics" in result.err  # the fix
    assert "another host" in result.err  # the reason


def test_tags_endpoint_without_endpoint_is_refused_at_its_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\nprovider: {type: omics, region: us-east-1,\n"
        '  tags_endpoint: "https://vpce-2.tags-omics.us-east-1.vpce.amazonaws.com"}\n'
        'queues:\n  - id: "4242"\n'
    )
    result = run_cli("validate", spec)
    assert result.code == 1 and "spec.yaml:3:18:" in result.err and "`endpoint`" in result.err


def test_the_endpoint_pair_is_accepted_and_both_are_recorded_in_the_plan_file(sb):
    q = queue(submissions={BY_STATUS["PENDING"]: entry(tags={"a": "b"})})
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    doc = json.loads(dump_plan(plan, tool_version="test", created_at="2025-01-01T00:00:00Z"))
    assert doc["provider"]["endpoint"] == sb.roots["workflows"]
    assert doc["provider"]["options"]["tags_endpoint"] == sb.roots["tags"]
    loaded = load_plan(json.dumps(doc), "plan.json").plan
    with OmicsProvider.for_plan(loaded.endpoint, loaded.provider_options) as p:
        assert apply_plan(loaded, p, {GROUP: q}).ok  # the tag call reached the tags host
    assert live(sb, BY_STATUS["PENDING"])["tags"] == {"a": "b"}


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_OMICS"])
def test_an_endpoint_from_the_environment_alone_does_not_reroute_tag_calls(monkeypatch, variable):
    monkeypatch.setenv(variable, "https://vpce-1.workflows-omics.us-east-1.vpce.amazonaws.com")
    with pytest.raises(ConfigError) as caught:
        OmicsProvider.from_config(ProviderConfig("omics", {}, "/"))
    assert variable in str(caught.value) and "tags_endpoint" in str(caught.value)


def test_a_loopback_endpoint_alone_serves_both_operation_groups(make_sandbox):
    sb = make_sandbox(service="omics", token=KEY, synthetic=[(GROUP, 13)], quirks={"one-host": ""})
    q = queue(submissions={BY_STATUS["PENDING"]: entry(tags={"a": "b"})})
    with OmicsProvider.from_config(ProviderConfig("omics", {"endpoint": sb.root}, "/")) as p:
        _, report = plan_and_apply(p, spec_of(q))
    assert report.ok and live(sb, BY_STATUS["PENDING"])["tags"] == {"a": "b"}


def test_tag_calls_to_a_workflows_only_host_fail_in_one_line_naming_the_fix(sb):
    q = queue(submissions={BY_STATUS["PENDING"]: entry(tags={"a": "b"})})
    with OmicsProvider.from_config(ProviderConfig("omics", {"endpoint": sb.roots["workflows"]}, "/")) as p:
        _, report = plan_and_apply(p, spec_of(q))
    [item] = report.results
    assert item.outcome == "failed" and "UnknownOperationException (404)" in item.detail
    assert "tags_endpoint" in item.detail and "\n" not in item.detail


def test_a_batch_listed_for_its_run_group_is_kept_when_get_batch_omits_the_group(sb):
    """AWS's GetBatch need not repeat defaultRunSetting.runGroupId: ListBatch's filter is
    trusted; only a batch naming another run group is left out."""
    batch = BY_STATUS["PENDING"]
    doc = sb.store.get(fake.COLLECTION, batch)
    del doc["batch"]["defaultRunSetting"]["runGroupId"]
    sb.store.put(fake.COLLECTION, batch, doc)
    q = queue(submissions={batch: entry("CANCELLED", {"a": "b"})})
    with open_provider(sb) as p:
        assert batch in {item.id for item in p.list_items(q)}
        _, report = plan_and_apply(p, spec_of(q))
    assert report.ok and live(sb, batch)["status"] == "STOPPING"


def test_a_profile_from_aws_profile_is_recorded_in_the_plan_file(sb, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "no-aws-credentials").write_text(
        f"[lab]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "lab")
    q = queue(submissions={BY_STATUS["PENDING"]: entry(tags={"a": "b"})})
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    text = dump_plan(plan, tool_version="test", created_at="2025-01-01T00:00:00Z")
    assert json.loads(text)["provider"]["options"]["profile"] == "lab"
    assert KEY not in text and SECRET not in text


# ----------------------------------------------------------------- managed tags only (issue 20)
def test_an_unmanaged_tag_added_between_plan_and_apply_does_not_make_the_batch_stale(sb):
    batch = BY_STATUS["INPROGRESS"]
    q = queue(submissions={batch: entry("CANCELLED", {"reviewed": "yes"})})
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    loaded, queues = through_plan_file(plan)  # a plan file's queue: no rules, its managed tags recorded
    botocore_client(sb, "tags").tag_resource(resourceArn=live(sb, batch)["arn"], tags={"owner": "ops"})
    with OmicsProvider.for_plan(loaded.endpoint, loaded.provider_options) as p:
        report = apply_plan(loaded, p, queues)
    assert [r.outcome for r in report.results] == ["applied"], report
    assert live(sb, batch)["tags"] == {"owner": "ops", "reviewed": "yes"}
    assert live(sb, batch)["status"] == "STOPPING"


def test_under_exact_every_tag_key_is_managed_and_a_new_one_is_stale(sb):
    from dataclasses import replace

    batch = BY_STATUS["INPROGRESS"]
    q = replace(queue(submissions={batch: entry(tags={"reviewed": "yes"})}), tag_policy="exact")
    with open_provider(sb) as p:
        plan = build_plan(spec_of(q), p).plan
    loaded, queues = through_plan_file(plan)
    botocore_client(sb, "tags").tag_resource(resourceArn=live(sb, batch)["arn"], tags={"owner": "ops"})
    with OmicsProvider.for_plan(loaded.endpoint, loaded.provider_options) as p:
        report = apply_plan(loaded, p, queues)
    assert [r.outcome for r in report.results] == ["stale"]
    assert live(sb, batch)["tags"] == {"owner": "ops"}


def test_cli_where_item_reads_batch_fields_from_the_getbatch_already_made(sb, tmp_path):
    """Issue 23: creationTime and the run counts come from each batch's GetBatch, which
    the listing makes anyway: the plan costs the same requests with or without them."""
    plain = write_spec(tmp_path, sb, "    rules:\n      - where: {}\n        set: {tags: {seen: x}}\n")
    assert run_cli("plan", plain).code == 0
    baseline = len(sb.request_log())
    spec = write_spec(
        tmp_path,
        sb,
        (
            "    rules:\n"
            "      - where: {item: {creationTime: {lt: 2025-01-05}, runSummary.pendingRunCount: {ge: 0}, "
            "totalRuns: 3}}\n"
            "        set: {tags: {early: yes}}\n"
        ),
    )
    planned = run_cli("plan", spec, "--detailed-exitcode")
    assert planned.code == 2, planned.err
    assert "4 to change" in planned.out  # synthetic batches 0-3 were created on 1-4 January
    assert len(sb.request_log()) - baseline == baseline
