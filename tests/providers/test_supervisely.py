"""The Supervisely provider against the fake over loopback HTTP: reading (pages,
RELISTED), the compare guard, writes of up to two calls reported per item, faults,
credentials and offline checks."""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import threading

import pytest
import requests

from builders import queue, rule
from local_app import Scripted, json_response, serve
from reconciler.apply import apply_plan
from reconciler.diff import plan_queue
from reconciler.errors import ConfigError, ProviderError
from reconciler.model import Plan, ProviderConfig, Safety
from reconciler.providers import supervisely as sv
from reconciler.providers.base import RELISTED
from reconciler.providers.supervisely import SuperviselyProvider, find_credentials, read_dotenv
from reconciler.sandbox.supervisely import session_token

WS = "7"
FIRST = 50001
API = "/public/api/v3/"


def spec_queue(where=None, **set_fields):
    """By default every finished task is stopped and tagged; `where={}` matches all, so a
    change whose status landed but whose meta did not is planned again."""
    set_fields = set_fields or {"status": "stopped", "tags": {"phase": "one"}}
    where = {"status": "finished"} if where is None else where
    return dataclasses.replace(
        queue(rule("stop", where, set_fields), id=WS),
        safety=Safety(max_change_percent=100),
    )


def provider(sb, **kwargs):
    return SuperviselyProvider(sb.url, sb.token, backoff=0.01, **kwargs)


def make_plan(p, q):
    queue_plan = plan_queue(q, p.list_items(q), rules=p.capabilities.status)
    return Plan("supervisely", p.endpoint, "digest", (queue_plan,), p.plan_options(), guard="compare")


def counts(sb, since=0):
    return collections.Counter((r["path"].removeprefix(API), r["status"]) for r in sb.request_log()[since:])


def task(sb, task_id):
    return sb.service.store.get(f"tasks:{WS}", str(task_id))


def someone_else_writes(sb, task_id, **fields):
    """Another client changes the task behind reconciler's back (straight in the store)."""
    doc = task(sb, task_id)
    doc.update(fields)
    sb.service.store.put(f"tasks:{WS}", str(task_id), doc)


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(service="supervisely", synthetic=[(WS, 45)])


def test_plan_apply_plan_converges_and_keeps_unrelated_meta(sb, monkeypatch):
    monkeypatch.setattr(sv, "PAGE_SIZE", 20)
    q = spec_queue(status="stopped", tags={"phase": "one"}, locked=True)
    with provider(sb) as p:
        plan = make_plan(p, q)
        assert plan.summary()["change"] == 45
        assert counts(sb) == {("tasks.list", 200): 3}  # one request per page, nothing else
        seen = len(sb.request_log())
        report = apply_plan(plan, p, {WS: q})
        assert report.count("applied") == 45 and report.ok
        during = counts(sb, seen)
        # per change: one status and one meta write; per batch of 50: one `id in` listing for
        # the guard and one to read back what landed (the write answers say nothing)
        assert during == {("tasks.status.update", 200): 45, ("tasks.meta.update", 200): 45, ("tasks.list", 200): 2}
        assert not make_plan(p, q).has_changes
    app = task(sb, FIRST)  # 50001 carries an app's meta
    assert app["status"] == "stopped"
    assert app["meta"] == {
        "app": {"id": 10370, "name": "Sandbox App", "version": "v1"},
        "sessionToken": session_token(FIRST),
        "reconciler_tags": {"phase": "one"},
        "locked": True,
    }


def test_merge_semantics_converge_too_and_unlock_writes_false(make_sandbox):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 3)])
    sb.service.meta_update = "merge"
    with provider(sb) as p:
        lock = spec_queue(tags={"phase": "one"}, locked=True)
        assert apply_plan(make_plan(p, lock), p, {WS: lock}).ok
        unlock = dataclasses.replace(
            queue(rule("all", {}, {"locked": False, "tags": {"phase": None}}), id=WS),
            safety=Safety(max_change_percent=100),
        )
        assert apply_plan(make_plan(p, unlock), p, {WS: unlock}).ok
        assert not make_plan(p, unlock).has_changes
    assert task(sb, FIRST)["meta"]["locked"] is False
    assert task(sb, FIRST)["meta"]["reconciler_tags"] == {}


def test_concurrent_writer_between_plan_and_apply_is_stale_and_kept(sb):
    q = spec_queue()
    with provider(sb) as p:
        plan = make_plan(p, q)
        someone_else_writes(sb, FIRST + 4, status="error", meta={"theirs": 1})
        report = apply_plan(plan, p, {WS: q})
    stale = report.by_outcome("stale")
    assert [r.item_id for r in stale] == [str(FIRST + 4)] and "status" in stale[0].detail
    assert report.count("applied") == 44
    assert task(sb, FIRST + 4)["status"] == "error" and task(sb, FIRST + 4)["meta"] == {"theirs": 1}


def test_unmanaged_meta_written_by_someone_else_after_the_plan_survives(sb):
    """Not a managed field, so not stale: the write starts from the fresh meta."""
    q = spec_queue()
    with provider(sb) as p:
        plan = make_plan(p, q)
        someone_else_writes(sb, FIRST + 1, meta={"pipeline": {"score": 0.9}})
        assert apply_plan(plan, p, {WS: q}).ok
    assert task(sb, FIRST + 1)["meta"] == {"pipeline": {"score": 0.9}, "reconciler_tags": {"phase": "one"}}


def test_a_failed_second_call_is_reported_per_item_exactly(sb):
    sb.service.fail_meta_update.update({FIRST + 2: 400, FIRST + 9: 400})
    q = spec_queue()
    with provider(sb) as p:
        report = apply_plan(make_plan(p, q), p, {WS: q})
    failed = {r.item_id: r.detail for r in report.by_outcome("failed")}
    assert set(failed) == {str(FIRST + 2), str(FIRST + 9)}
    assert failed[str(FIRST + 2)].startswith(
        "status written; meta not written: tasks.meta.update failed (HTTP 400): Meta of task 50003 cannot be updated"
    )
    assert report.count("applied") == 43 and report.count("skipped") == 0
    assert task(sb, FIRST + 2)["status"] == "stopped" and task(sb, FIRST + 2)["meta"] == {}


def test_a_fatal_failure_stops_the_run_and_a_rerun_converges_writing_nothing_twice(sb):
    sb.service.fail_meta_update[FIRST + 5] = 403  # forbidden: not worth trying other tasks
    q = spec_queue(where={})
    with provider(sb, max_in_flight=1) as p:
        first = apply_plan(make_plan(p, q), p, {WS: q})
        assert not first.ok
        assert dict((r.item_id, r.detail) for r in first.by_outcome("failed"))[str(FIRST + 5)].startswith(
            "status written; meta not written: tasks.meta.update failed (HTTP 403)"
        )
        assert first.count("skipped") > 0  # not attempted after the failure
        del sb.service.fail_meta_update[FIRST + 5]
        second = apply_plan(make_plan(p, q), p, {WS: q})
        assert second.ok and not make_plan(p, q).has_changes
    writes = counts(sb)
    assert writes[("tasks.status.update", 200)] == 45  # every status written exactly once
    assert writes[("tasks.meta.update", 200)] == 45


@pytest.mark.parametrize(
    "faults",
    [
        {"fail_rate": 0.2, "random_seed": 3},
        {"drop_rate": 0.15, "random_seed": 5},
        {"fail_rate": 0.1, "drop_rate": 0.1, "random_seed": 11},
    ],
)
def test_faults_converge_with_each_call_landing_once(make_sandbox, faults):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 60)], **faults)
    q = spec_queue(where={})
    with provider(sb, retries=10) as p:
        for _ in range(3):  # a lost answer whose re-read also failed is left for the next run
            report = apply_plan(make_plan(p, q), p, {WS: q})
            if report.ok:
                break
        assert report.ok, [r for r in report.results if r.outcome != "applied"][:3]
    log = counts(sb)
    assert log[("tasks.status.update", 200)] == 60 and log[("tasks.meta.update", 200)] == 60
    assert all(task(sb, FIRST + n)["status"] == "stopped" for n in range(60))


def test_a_listing_that_changes_while_paged_is_read_again(sb, monkeypatch):
    monkeypatch.setattr(sv, "PAGE_SIZE", 20)
    q = spec_queue()
    with provider(sb) as p:
        pages = p.pages(q)
        first = next(pages)
        assert len(first) == 20
        new = dict(task(sb, FIRST), id=60000)
        sb.service.store.put(f"tasks:{WS}", "60000", new)  # a task appears mid-listing
        rest = list(pages)
    assert rest[0] is RELISTED
    assert sum(len(page) for page in rest[1:]) == 46


def test_a_listing_that_keeps_changing_is_a_clear_error(sb, monkeypatch):
    monkeypatch.setattr(sv, "PAGE_SIZE", 20)
    q = spec_queue()
    with provider(sb) as p:
        pages = p.pages(q)
        for n in range(2):
            next(pages)
            sb.service.store.put(f"tasks:{WS}", str(60000 + n), dict(task(sb, FIRST), id=60000 + n))
            assert next(pages) is RELISTED if n == 0 else True
        with pytest.raises(
            ProviderError,
            match=r"workspace 7: the task listing kept changing .*page 2 says total 47.*"
            r"page 1 said 46",
        ):
            list(pages)


def test_unknown_workspace_and_missing_tasks(sb):
    from reconciler.providers.base import QueueNotFound

    with provider(sb) as p:
        with pytest.raises(QueueNotFound, match="workspace 99 not found"):
            p.list_items(spec_queue().__class__(**{**spec_queue().__dict__, "id": "99"}))
        got = p.get(spec_queue(), [str(FIRST), "1", "abc", str(FIRST)])
    assert [i.id for i in got] == [str(FIRST)]


def test_a_task_deleted_before_the_write_fails_alone(sb):
    q = spec_queue()
    with provider(sb) as p:
        plan = make_plan(p, q)
        sb.service.store.delete(f"tasks:{WS}", str(FIRST + 3))
        report = apply_plan(plan, p, {WS: q})
    assert {r.item_id: r.detail for r in report.by_outcome("failed")} == {str(FIRST + 3): "item no longer exists"}
    assert report.count("applied") == 44


def test_a_wrong_token_is_one_clear_line_without_the_token(sb):
    secret = "not-the-sandbox-token-123"
    with SuperviselyProvider(sb.url, secret) as p, pytest.raises(ConfigError) as caught:
        p.list_items(spec_queue())
    assert "refused the token" in str(caught.value) and secret not in str(caught.value)
    assert secret not in repr(p.client.session.auth)


def test_a_malformed_answer_is_a_provider_error(sb):
    someone_else_writes(sb, FIRST, meta={"reconciler_tags": ["not", "a", "map"]})
    with (
        provider(sb) as p,
        pytest.raises(ProviderError, match=r"tasks.list: task 50001: meta.reconciler_tags is not an object"),
    ):
        p.list_items(spec_queue())


def test_tags_key_is_an_option_recorded_for_plan_files(sb, monkeypatch):
    monkeypatch.setenv("API_TOKEN", sb.token)
    p = SuperviselyProvider.from_config(ProviderConfig("supervisely", {"endpoint": sb.url, "tags_key": "rt"}, "/"))
    assert p.plan_options() == {"tags_key": "rt", "max_in_flight": 4}
    again = SuperviselyProvider.for_plan(p.endpoint, p.plan_options())
    assert again.plan_options()["tags_key"] == "rt" and again.endpoint == sb.url
    q = spec_queue()
    assert apply_plan(make_plan(again, q), again, {WS: q}).ok
    assert task(sb, FIRST + 1)["meta"] == {"rt": {"phase": "one"}}
    with pytest.raises(
        ConfigError,
        match=r"^supervisely provider: unknown field 'tag_key': did you mean 'tags_key'\? \(allowed: endpoint, max_in_flight, tags_key\)$",
    ):
        SuperviselyProvider.from_config(ProviderConfig("supervisely", {"tag_key": "x"}, "/"))


# ------------------------------------------------------------------ credentials
def test_endpoint_and_token_from_env_then_dotenv(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "supervisely.env").write_text(
        '# comment\nexport SERVER_ADDRESS="127.0.0.1:8080"\nAPI_TOKEN=file-token-1234 # trailing\n'
        "BROKEN LINE $(rm -rf /)\n"
    )
    env = {"HOME": str(home)}
    assert find_credentials(env) == ("http://127.0.0.1:8080", "file-token-1234")
    assert find_credentials({**env, "API_TOKEN": "env-token-5678"})[1] == "env-token-5678"
    assert find_credentials({**env, "SERVER_ADDRESS": "app.supervisely.com"})[0] == "https://app.supervisely.com"
    assert find_credentials({**env, "ENV": "production"}) == (None, None)
    assert read_dotenv(home / "supervisely.env") == {"SERVER_ADDRESS": "127.0.0.1:8080", "API_TOKEN": "file-token-1234"}


def test_plain_http_is_refused_off_loopback_before_the_token_is_asked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="plain http://"):
        SuperviselyProvider.from_config(ProviderConfig("supervisely", {"endpoint": "http://sly.example.com"}, "/"))
    monkeypatch.setenv("SERVER_ADDRESS", "https://sly.example.com")
    with pytest.raises(ConfigError, match="no Supervisely token found: set API_TOKEN"):
        SuperviselyProvider.from_config(ProviderConfig("supervisely", {}, "/"))
    monkeypatch.setenv("API_TOKEN", "has space")
    with pytest.raises(ConfigError, match="contains spaces") as caught:
        SuperviselyProvider.from_config(ProviderConfig("supervisely", {}, "/"))
    assert "has space" not in str(caught.value)


# ------------------------------------------------------------------ offline checks
def test_check_queue_refuses_non_string_tags_and_non_numeric_ids():
    q = dataclasses.replace(
        queue(
            rule("r", {"tags": {"score": 1}}, {"tags": {"rank": 2, "ok": "yes", "gone": None}}),
            submissions={"abc": {"tags": {"flag": True}}, "50001": {"tags": {"many": ["a", "b"]}}},
            id="ws",
        )
    )
    problems = {p.path: p.message for p in SuperviselyProvider.check_queue(q)}
    assert problems == {
        ("id",): "queue id 'ws' is not a Supervisely workspace id (digits only)",
        (
            "rules",
            0,
            "where",
            "tags",
            "score",
        ): "tag 'score' is an integer; Supervisely task tags are strings (quote the value)",
        (
            "rules",
            0,
            "set",
            "tags",
            "rank",
        ): "tag 'rank' is an integer; Supervisely task tags are strings (quote the value)",
        ("submissions", "abc"): "task id 'abc' is not a Supervisely task id (digits only)",
        (
            "submissions",
            "abc",
            "tags",
            "flag",
        ): "tag 'flag' is a boolean; Supervisely task tags are strings (quote the value)",
        ("submissions", "50001", "tags", "many"): "tag 'many' has 2 values; a Supervisely task tag is one string",
    }


# ------------------------------------------------------------------ the real service's variations
def tag_queue(name, tags, **fields):
    return dataclasses.replace(
        queue(rule(name, {}, {"tags": tags, **fields}), id=WS), safety=Safety(max_change_percent=100)
    )


def test_list_rows_without_workspace_id_plan_and_apply_and_another_workspace_is_refused(make_sandbox):
    """tasks.list rows as the SDK's example shows them (the fake's default): no
    workspaceId. Only a row naming another workspace is refused."""
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 30)], quirks={"list-rows": "short"})
    q = spec_queue(where={})
    with provider(sb) as p:
        assert apply_plan(make_plan(p, q), p, {WS: q}).count("applied") == 30
        assert not make_plan(p, q).has_changes
        assert all(
            "workspaceId" not in row
            for row in requests.post(
                f"{sb.url}{API}tasks.list", json={"workspaceId": int(WS)}, headers={"x-api-key": sb.token}, timeout=10
            ).json()["entities"]
        )
        sb.service.list_rows = "full"
        someone_else_writes(sb, FIRST + 7, workspaceId=8)
        with pytest.raises(ProviderError, match="task 50008 is in workspace 8, not 7"):
            p.list_items(q)


@pytest.mark.parametrize("mode", ["deep-merge", "merge", "replace"])
def test_every_meta_update_mode_converges_when_adding_and_keeps_the_apps_keys(make_sandbox, mode):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 6)], quirks={"meta-update": mode})
    q = tag_queue("add", {"phase": "one"}, locked=True)
    with provider(sb) as p:
        assert apply_plan(make_plan(p, q), p, {WS: q}).count("applied") == 6
        assert not make_plan(p, q).has_changes
    assert task(sb, FIRST)["meta"] == {
        "app": {"id": 10370, "name": "Sandbox App", "version": "v1"},
        "sessionToken": session_token(FIRST),
        "reconciler_tags": {"phase": "one"},
        "locked": True,
    }


@pytest.mark.parametrize("mode, removed", [("deep-merge", False), ("merge", True), ("replace", True)])
def test_a_removed_tag_that_stays_under_a_deep_merge_is_not_applied_with_the_reason(make_sandbox, mode, removed):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 3)], quirks={"meta-update": mode})
    for n in range(3):
        someone_else_writes(sb, FIRST + n, meta={"reconciler_tags": {"old": "x", "kept": "y"}})
    q = tag_queue("drop-old", {"old": None}, status="stopped")
    with provider(sb) as p:
        report = apply_plan(make_plan(p, q), p, {WS: q})
        assert report.ok == removed and report.count("applied") == (3 if removed else 0), report
        if not removed:
            detail = report.by_outcome("failed")[0].detail
            assert detail.startswith(
                "status written; not applied: the write was answered as done but the item "
                "read back still holds its old values (written → read back: tag 'old': (absent) → \"x\")"
            )
            assert "a deep merge keeps a removed meta key" in detail
            assert make_plan(p, q).summary()["change"] == 3  # still planned: the next run says so again
    assert all(task(sb, FIRST + n)["status"] == "stopped" for n in range(3))


def test_keys_an_allow_list_drops_are_not_applied(make_sandbox):
    sb = make_sandbox(service="supervisely", synthetic=[(WS, 2)], quirks={"meta-update": "allow-list"})
    q = tag_queue("add", {"phase": "one"})
    with provider(sb) as p:
        report = apply_plan(make_plan(p, q), p, {WS: q})
    assert report.count("failed") == 2 and not report.ok
    assert "tag 'phase': \"one\" → (absent)" in report.by_outcome("failed")[0].detail
    assert "reconciler_tags" not in task(sb, FIRST)["meta"]


@pytest.mark.parametrize("mode", ["merge", "replace", "deep-merge"])
def test_two_writers_at_once_never_both_report_applied_when_one_erased_the_other(make_sandbox, mode):
    """Spec A adds tag a, spec B tag b, to the same tasks at once. Both re-read every
    task before either writes (latency), so under a top-level merge or a replace each
    task keeps one tag: the run whose tag is gone reports it stale, with what changed,
    and a re-run of both converges. Under a deep merge both tags land."""
    n = 8
    sb = make_sandbox(service="supervisely", synthetic=[(WS, n)], quirks={"meta-update": mode}, latency_ms=60)
    specs = {"a": tag_queue("a", {"a": "yes"}), "b": tag_queue("b", {"b": "yes"})}
    reports = {}
    start = threading.Barrier(2)

    def run(name):
        with provider(sb, max_in_flight=1) as p:
            plan = make_plan(p, specs[name])
            start.wait()
            reports[name] = apply_plan(plan, p, {WS: specs[name]})

    threads = [threading.Thread(target=run, args=(name,)) for name in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = {str(FIRST + i): task(sb, FIRST + i)["meta"].get("reconciler_tags", {}) for i in range(n)}
    for name, report in reports.items():
        outcomes = {r.item_id: r for r in report.results}
        for item_id, tags in final.items():
            if name not in tags:
                assert outcomes[item_id].outcome == "stale", (name, item_id, outcomes[item_id])
                assert (
                    "changed by another writer before it was read back (written → read back: "
                    in outcomes[item_id].detail
                    and f'tag {name!r}: "yes" → (absent)' in outcomes[item_id].detail
                )
            else:
                assert outcomes[item_id].outcome == "applied", (name, item_id, outcomes[item_id])
    lost = sum(len(final) - reports[name].count("applied") for name in specs)
    assert lost == (0 if mode == "deep-merge" else n)  # every task kept exactly one tag
    with provider(sb) as p:
        for name in specs:
            assert apply_plan(make_plan(p, specs[name]), p, {WS: specs[name]}).ok
    assert all(task(sb, FIRST + i)["meta"]["reconciler_tags"] == {"a": "yes", "b": "yes"} for i in range(n))


# ------------------------------------------------------------------ listings bounded by what the server said
def hostile_listing(page_of):
    """A server whose tasks.list answers `page_of(page number)`; 500 after 300 requests,
    so a client that follows it does not run forever in the test."""

    def respond(request):
        if len(app.seen) > 300:
            return json_response({"error": "enough"}, 500)
        body = json.loads(request.get_data() or b"{}")
        return json_response(page_of(body.get("page", 1)))

    app = Scripted(respond)
    return app


def rows(first, count):
    return [{"id": first + n, "status": "finished", "meta": {}} for n in range(count)]


@pytest.mark.parametrize(
    "page_of, error",
    [
        # short pages of new ids for ever (10 million tasks claimed)
        (
            lambda page: {"total": 10_000_000, "perPage": 500, "pagesCount": 20_000, "entities": rows(page * 1000, 2)},
            "page 1 holds 2 tasks where 500 were due",
        ),
        # the same full page under every page number
        (
            lambda page: {"total": 10_000_000, "perPage": 500, "pagesCount": 20_000, "entities": rows(1, 500)},
            "task 1 was listed twice",
        ),
        # later pages that change what page 1 said
        (
            lambda page: {
                "total": 1000 if page == 1 else 1500,
                "perPage": 500,
                "pagesCount": 2 if page == 1 else 3,
                "entities": rows(page * 1000, 500),
            },
            "page 2 says total 1500, perPage 500; page 1 said 1000, 500",
        ),
    ],
)
def test_a_listing_ends_where_the_server_said_it_would(page_of, error):
    app = hostile_listing(page_of)
    with (
        serve(app) as url,
        SuperviselyProvider(url.removesuffix("/repo/v1"), "t", retries=0) as p,
        pytest.raises(ProviderError, match=re.escape(error)),
    ):
        p.list_items(spec_queue())
    assert len(app.seen) <= 2 * (2 + sv.DEFAULT_MAX_IN_FLIGHT)  # two passes, each stopped at once


def test_more_pages_than_the_total_fills_are_not_read():
    app = hostile_listing(
        lambda page: {
            "total": 10,
            "perPage": 500,
            "pagesCount": 11,
            "entities": rows(page * 1000, 10 if page == 1 else 0),
        }
    )
    with serve(app) as url, SuperviselyProvider(url.removesuffix("/repo/v1"), "t", retries=0) as p:
        assert len(p.list_items(spec_queue())) == 10
    assert len(app.seen) == 1
