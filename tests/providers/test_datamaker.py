"""The datamaker provider against the datamaker sandbox over HTTP, through the engine
(planner and apply) with queues built as data: call counts, the compare guard, partial
writes, faults, unknown tag names, credentials and the token's secrecy."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import requests

from builders import through_plan_file
from datamaker_helpers import (
    PROJECT,
    headers,
    label_rule,
    plan_and_apply,
    plan_only,
    provider,
    queue,
    set_tags,
    set_tags_calls,
    task_tag_names,
)
from reconciler.apply import apply_plan
from reconciler.errors import ConfigError, ProviderError
from reconciler.model import ProviderConfig
from reconciler.planfile import dump_plan
from reconciler.providers.base import QueueNotFound
from reconciler.providers.datamaker import DatamakerProvider


def test_450_tasks_getting_scored_is_three_set_tags_calls_and_plan_is_then_empty(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 450)])
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb) as prov:
        plan, report = plan_and_apply(prov, q)
        assert len(plan.changes) == 450 and report.count("applied") == 450 and report.ok
        calls = set_tags_calls(sb)
        assert len(calls) == 3  # ceil(450 / 200), one (action, tag set) group
        assert plan_only(prov, q).changes == ()
    assert task_tag_names(sb, 1001) == task_tag_names(sb, 1450) == {"scored"}


def test_request_counts_follow_the_documented_formula(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 450)])
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb) as prov:
        plan_only(prov, q)
        log = sb.request_log()
        # T=4 tags: 1 page; the project's count: 1 row; N=450 ids: 5 pages; each of the
        # 4 tags, all empty: 1 page each
        assert Counter(r["path"] for r in log) == {"/task_tags/": 1, "/sdk/tasks/": 1 + 5 + 4}
        plan_and_apply(prov, q)
        log = sb.request_log()[len(log) :]
        # plan again (10 + 1) + guard: ceil(450/100) chunks x (1 + |W|=2, W={scored, locked})
        # + 3 calls
        assert Counter(r["path"] for r in log) == {"/task_tags/": 1, "/sdk/tasks/": 10 + 5 * 3, "/tasks/set_tags/": 3}


@pytest.mark.slow
def test_5000_tasks_getting_a_tag_is_25_calls(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 5000)])
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb) as prov:
        _, report = plan_and_apply(prov, q)
    assert report.count("applied") == 5000
    assert len(set_tags_calls(sb)) == 25


def test_tasks_needing_the_same_tag_set_share_calls_and_locking_comes_last(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 30)])
    set_tags(sb, range(1001, 1011), ["rejected"])
    q = queue(
        label_rule("accept", {"accepted": True, "rejected": None}, ids=range(1001, 1021)),
        label_rule("freeze", {}, ids=range(1001, 1006), locked=True),
    )
    with provider(sb) as prov:
        _, report = plan_and_apply(prov, q)
        assert report.ok and report.count("applied") == 20
        assert plan_only(prov, q).changes == ()
    # remove {rejected} x10, add {accepted} x15 (1006-1020), add {accepted, locked} x5;
    # the first call in the log is the test's own setup
    assert len(set_tags_calls(sb)) == 1 + 3
    assert task_tag_names(sb, 1001) == {"accepted", "locked"}
    assert task_tag_names(sb, 1007) == {"accepted"}
    assert task_tag_names(sb, 1015) == {"accepted"}
    assert task_tag_names(sb, 1025) == set()


def test_a_concurrent_writer_between_plan_and_apply_is_stale_and_unmanaged_tags_survive(make_sandbox, monkeypatch):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 10)])
    q = queue(label_rule("accept", {"accepted": True, "rejected": None}))
    monkeypatch.setenv("SYNAPSE_ACCESS_TOKEN", sb.token)
    with provider(sb) as prov:
        plan = plan_only(prov, q)
    set_tags(sb, [1004], ["rejected"])  # someone else, on a managed tag
    set_tags(sb, [1005], ["scored"])  # someone else, on a tag the spec does not manage
    loaded, queues = through_plan_file(plan)  # what `apply PLANFILE` knows: no rules, the managed tags
    with DatamakerProvider.for_plan(loaded.endpoint, loaded.provider_options) as prov:
        report = apply_plan(loaded, prov, queues)
    stale = report.by_outcome("stale")
    assert [r.item_id for r in stale] == ["1004"]
    assert "tags.rejected: false → true" in stale[0].detail
    assert report.count("applied") == 9
    assert task_tag_names(sb, 1004) == {"rejected"}  # not overwritten
    assert task_tag_names(sb, 1005) == {"accepted", "scored"}  # their tag survives ours


def test_a_task_that_already_holds_the_planned_tags_is_unchanged(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3)])
    q = queue(label_rule("accept", {"accepted": True}))
    with provider(sb) as prov:
        plan = plan_only(prov, q)
        set_tags(sb, [1002], ["accepted"])
        report = apply_plan(plan, prov, {PROJECT: q})
    assert [r.item_id for r in report.by_outcome("unchanged")] == ["1002"]
    assert report.count("applied") == 2


def test_a_later_call_failing_is_reported_per_task_exactly(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 6)], forbid_batches=[2])
    set_tags(sb, [1001, 1002, 1003], ["rejected"])  # call 1 of the fake's count
    # our calls: remove {rejected} (1001-1003, the fake's 2nd: forbidden) ... so first
    # let our remove call be the 2nd: the add call is never sent
    q = queue(label_rule("accept", {"accepted": True, "rejected": None}, ids=range(1001, 1006)))
    with provider(sb, backoff=0) as prov:
        _, report = plan_and_apply(prov, q)
    failed = {r.item_id: r.detail for r in report.by_outcome("failed")}
    assert set(failed) == {"1001", "1002", "1003"}
    assert failed["1001"].startswith("tags -rejected not written: POST ")
    assert failed["1001"].endswith("(tags +accepted not attempted)")
    assert "HTTP 403" in failed["1001"]
    skipped = {r.item_id for r in report.by_outcome("skipped")}
    assert skipped == {"1004", "1005"}  # their only call (add) was never sent
    assert task_tag_names(sb, 1001) == {"rejected"}


def test_a_task_with_one_of_two_calls_landed_says_which(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 6)], forbid_batches=[3])
    set_tags(sb, [1001, 1002], ["rejected"])  # the fake's call 1
    q = queue(label_rule("accept", {"accepted": True, "rejected": None}, ids=[1001, 1002, 1003]))
    with provider(sb, backoff=0) as prov:
        _, report = plan_and_apply(prov, q)
    # call 2: remove {rejected} from 1001, 1002 lands; call 3: add {accepted} is refused
    failed = {r.item_id: r.detail for r in report.by_outcome("failed")}
    assert failed["1001"].startswith("tags -rejected written; tags +accepted not written: ")
    assert failed["1003"].startswith("not written: ")
    assert not report.by_outcome("applied")
    assert task_tag_names(sb, 1001) == set() and task_tag_names(sb, 1003) == set()
    assert len(set_tags_calls(sb)) == 3


def test_faults_converge_and_nothing_is_written_twice(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 1000)], fail_rate=0.25, drop_rate=0.25, random_seed=4)
    q = queue(label_rule("score", {"scored": True}), label_rule("lock", {}, ids=range(1001, 1101), locked=True))
    with provider(sb, backoff=0, retries=10) as prov:
        _, report = plan_and_apply(prov, q)
        assert report.ok, [r for r in report.results if r.outcome != "applied"][:3]
        sb.service.faults.fail_rate = sb.service.faults.drop_rate = 0.0
        assert plan_only(prov, q).changes == ()
    posts = set_tags_calls(sb)
    served = [r for r in posts if r["status"] == 200]
    # groups: add {scored} x900 = 5 calls, add {scored, locked} x100 = 1 call; a dropped
    # answer is settled by a re-read (the work had landed), never by sending it again
    assert len(served) == 6
    assert any(r.get("dropped") for r in posts)  # this seed drops some set_tags answers
    assert any(r["status"] == 503 for r in posts)  # and refuses some with 503


def test_a_guard_re_read_that_loses_its_answers_sends_nothing(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 5)])
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb, backoff=0) as prov:
        plan = plan_only(prov, q)
        sb.service.faults.drop_rate = 1.0
        writes_before = len(sb.request_log())
        # every answer is lost from here: reads fail too, so the write reports an error
        report = apply_plan(plan, prov, {PROJECT: q})
    assert not report.ok
    posts = [r for r in sb.request_log()[writes_before:] if r["path"] == "/tasks/set_tags/"]
    assert posts == []  # the guard's re-read lost its answer: nothing was sent


def test_an_unknown_tag_name_is_one_error_before_any_task_is_read(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 5)])
    q = queue(label_rule("score", {"scord": True, "accepted": True, "gold": None}))
    with provider(sb) as prov, pytest.raises(ProviderError) as caught:
        plan_only(prov, q)
    assert str(caught.value) == (
        # did-you-mean added by issue 27 (updated deliberately)
        "project 7 has no tag 'gold', 'scord' (did you mean 'scored'?) (its tags: accepted, locked, rejected, "
        "scored); "
        "datamaker tags are created in the project's settings, reconciler only adds and removes them"
    )
    assert [r["path"] for r in sb.request_log()] == ["/task_tags/"]


def test_a_missing_lock_tag_is_an_error_only_when_the_spec_locks(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)])
    with provider(sb) as prov:
        assert len(plan_only(prov, queue(label_rule("s", {"scored": True}), lock_key="frozen")).changes) == 2
        with pytest.raises(ProviderError, match="no tag 'frozen'"):
            plan_only(prov, queue(label_rule("s", {}, locked=True), lock_key="frozen"))


def test_an_unknown_project_is_queue_not_found(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)])
    with provider(sb) as prov, pytest.raises(QueueNotFound, match="project 99 not found"):
        plan_only(prov, queue(project="99"))


def test_exact_policy_removes_every_project_tag_the_spec_does_not_declare(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 4)])
    set_tags(sb, [1001, 1002], ["rejected", "scored"])
    set_tags(sb, [1003], ["locked"])
    q = queue(label_rule("accept", {"accepted": True}), policy="exact")
    with provider(sb) as prov:
        plan, report = plan_and_apply(prov, q)
        assert report.count("applied") == 3 and report.count("blocked") == 1
        assert plan.blocked[0].item_id == "1003"  # locked: frozen, the engine enforces it
    assert task_tag_names(sb, 1001) == {"accepted"}
    assert task_tag_names(sb, 1003) == {"locked"}


def test_get_returns_fresh_tasks_and_leaves_out_unknown_ids(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3), ("8", 2)])
    set_tags(sb, [1002], ["scored"])
    q = queue(label_rule("s", {"scored": True}))
    with provider(sb) as prov:
        items = prov.get(q, ["1002", "1001", "1004", "nope", "5"])
    assert [(i.id, dict(i.tags)) for i in items] == [("1002", {"scored": (True,)}), ("1001", {})]
    assert items[0].base == {"id": 1002, "project": 7, "tags": {"locked": False, "scored": True}}


def test_credentials_and_endpoint_come_from_env_then_the_sdk_config_file(make_sandbox, tmp_path, monkeypatch):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 1)])
    for name in ("SYNAPSE_HOST", "SYNAPSE_ACCESS_TOKEN", "SYNAPSE_PLUGIN_RUN_TENANT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    config = ProviderConfig("datamaker", {}, str(tmp_path))
    with pytest.raises(ConfigError, match="no datamaker token found: set SYNAPSE_ACCESS_TOKEN"):
        DatamakerProvider.from_config(config)
    (tmp_path / ".synapse").mkdir()
    (tmp_path / ".synapse" / "config.json").write_text(json.dumps({"host": sb.url, "access_token": sb.token}))
    with DatamakerProvider.from_config(config) as prov:
        assert prov.endpoint == sb.url and len(prov.list_items(queue())) == 1
    monkeypatch.setenv("SYNAPSE_ACCESS_TOKEN", "wrong-token-value")
    monkeypatch.setenv("SYNAPSE_PLUGIN_RUN_TENANT", "acme")
    with DatamakerProvider.from_config(config) as prov:
        assert prov.plan_options() == {"tenant": "acme"}
        with pytest.raises(ConfigError) as caught:
            prov.list_items(queue())
    assert "refused the token (HTTP 401: Invalid token.)" in str(caught.value)
    assert "wrong-token-value" not in str(caught.value) and "wrong-token-value" not in repr(prov.client.session.auth)
    monkeypatch.setenv("SYNAPSE_HOST", "http://example.com")
    with pytest.raises(ConfigError, match="plain http://"):
        DatamakerProvider.from_config(config)
    with pytest.raises(ConfigError, match=r"^datamaker provider: unknown field 'path' \(allowed: endpoint, tenant\)$"):
        DatamakerProvider.from_config(ProviderConfig("datamaker", {"path": "x"}, "/"))


def test_the_token_is_never_in_a_message_log_or_plan_file(make_sandbox, caplog):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3)], fail_rate=0.3, random_seed=3)
    q = queue(label_rule("s", {"scored": True}))
    caplog.set_level("DEBUG")
    with provider(sb, backoff=0, retries=8) as prov:
        plan, report = plan_and_apply(prov, q)
        text = dump_plan(plan, tool_version="t", created_at="2026-01-01T00:00:00Z")
        assert sb.token not in repr(prov.__dict__)
    assert sb.token not in text and sb.token not in caplog.text
    assert sb.token not in json.dumps([r.detail for r in report.results])


def test_checks_refuse_bad_ids_and_the_lock_tag_used_as_a_tag():
    q = queue(label_rule("s", {"locked": True}, ids=["12", "x1"]), project="p7")
    problems = {(p.message, p.path) for p in DatamakerProvider.check_queue(q)}
    assert problems == {
        ("queue id 'p7' is not a datamaker project id (digits only)", ("id",)),
        ("task id 'x1' is not a datamaker task id (digits only)", ("rules", 0, "where", "ids", "x1")),
        ("tag 'locked' is the lock tag of this queue: set it with `locked:`", ("rules", 0, "set", "tags", "locked")),
    }


# ------------------------------------------- what the real service does (issue 20, 29)
def sdk_task_reads(sb, since: int = 0) -> list[dict]:
    return [r for r in sb.request_log()[since:] if r["path"] == "/sdk/tasks/"]


@pytest.mark.slow
def test_a_project_of_30000_tasks_plans_through_cursor_pages_while_deep_offset_pages_die(make_sandbox):
    """Offset pages past 50 answer Cloudflare's 524 (the SDK's authors met it past ~600):
    the provider reads tasks through cursor pages, which carry no count."""
    sb = make_sandbox(
        service="datamaker", synthetic=[(PROJECT, 30_000)], quirks={"deep-page-524": "50", "deep-page-ms": "0"}
    )
    deep = requests.get(
        f"{sb.url}/sdk/tasks/",
        params={"project": PROJECT, "page": 51, "page_size": 100},
        headers=headers(sb),
        timeout=30,
    )
    assert deep.status_code == 524
    q = queue(label_rule("score", {"scored": True}, ids=range(1001, 1101)))
    with provider(sb, backoff=0) as prov:
        plan = plan_only(prov, q)
    assert len(plan.changes) == 100 and plan.queues[0].items_seen == 30_000
    reads = sdk_task_reads(sb, 1)
    assert all(r["status"] == 200 for r in reads)
    assert sum("pagination=cursor" in r["query"] for r in reads) == 300 + 4  # tasks + 4 tags


def test_cursor_pages_without_a_count_and_old_servers_with_page_numbers_both_list_everything(make_sandbox):
    for quirks in ({}, {"no-cursor": ""}):
        sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 250)], quirks=quirks)
        with provider(sb, backoff=0) as prov:
            _plan, report = plan_and_apply(prov, queue(label_rule("score", {"scored": True})))
            assert report.ok and report.count("applied") == 250
            assert plan_only(prov, queue(label_rule("score", {"scored": True}))).changes == ()


def test_520s_on_reads_are_retried(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 450)], random_seed=3, quirks={"glitch-520": "0.2"})
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb, backoff=0, retries=5) as prov:
        _, report = plan_and_apply(prov, q)
        assert report.ok and report.count("applied") == 450
        sb.service.glitch_520 = 0.0
        assert plan_only(prov, q).changes == ()
    assert any(r["status"] == 520 for r in sdk_task_reads(sb))
    assert [r["status"] for r in set_tags_calls(sb)] == [200] * 3  # the 520s are the GETs'


def test_a_set_tags_committed_then_answered_500_is_settled_by_a_re_read(make_sandbox):
    """30 tasks: the call lands, the answer is a 500. Not "30 failed": the tasks are read
    again, hold the tag, and are applied; the call is not sent again."""
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 30)], quirks={"commit-then-500": "1"})
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb, backoff=0) as prov:
        _, report = plan_and_apply(prov, q)
        assert report.ok and report.count("applied") == 30, report
        assert plan_only(prov, q).changes == ()
    assert [r["status"] for r in set_tags_calls(sb)] == [500]
    assert task_tag_names(sb, 1030) == {"scored"}


def test_a_set_tags_answered_500_without_committing_is_sent_again_after_a_re_read(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 30)])
    fake = sb.service
    set_tags_route = fake.set_tags
    calls = []

    def fails_first(request):
        calls.append(1)
        if len(calls) == 1:
            from reconciler.sandbox.datamaker import DJANGO_500, HtmlError

            raise HtmlError(500, DJANGO_500)
        return set_tags_route(request)

    fake.set_tags = fails_first
    q = queue(label_rule("score", {"scored": True}))
    with provider(sb, backoff=0) as prov:
        _, report = plan_and_apply(prov, q)
    assert report.ok and report.count("applied") == 30
    assert [r["status"] for r in set_tags_calls(sb)] == [500, 200]
