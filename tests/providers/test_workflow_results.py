"""The workflow-results provider against the Results fake over HTTP: configuration,
mapping, paging and its request count, the compare guard, partial and failed writes."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import pytest

from conftest import SANDBOX_TOKEN
from reconciler.apply import apply_plan
from reconciler.errors import ConfigError, ProviderError
from reconciler.model import (
    Assignment,
    Change,
    FieldChange,
    ManagedTags,
    Match,
    ProviderConfig,
    QueueSpec,
    Rule,
    Safety,
    Setting,
    Source,
    Spec,
)
from reconciler.planner import build_plan
from reconciler.providers import provider_class
from reconciler.providers.base import RELISTED, QueueNotFound, digest_etag
from reconciler.sandbox.workflow_results import WRITES
from reconciler.providers.workflow_results import (
    TOKEN_ENVS,
    WorkflowResultsProvider,
    _to_item,
    find_token,
    updated_work,
)

PIPELINE = "frb-search"
SRC = Source("spec.yaml", 1)
EVERY_KEY = ManagedTags()  # policy exact: every label feeds the digest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (*TOKEN_ENVS, "WORKFLOW_HTTP_BASEURL"):
        monkeypatch.delenv(name, raising=False)


def open_provider(sb, **kw) -> WorkflowResultsProvider:
    return WorkflowResultsProvider(
        sb.url, SANDBOX_TOKEN, retries=kw.pop("retries", 3), backoff=kw.pop("backoff", 0.01), timeout=(2.0, 10.0)
    )


def queue(*rules: Rule, submissions=None, policy="merge") -> QueueSpec:
    return QueueSpec(
        id=PIPELINE,
        source=SRC,
        tag_policy=policy,
        rules=tuple(rules),
        submissions=submissions or {},
        safety=Safety(max_change_percent=100),
    )


def rule(name: str, where: Match, status=None, labels=(), locked=None) -> Rule:
    return Rule(
        name=name,
        where=where,
        source=SRC,
        set=Assignment(
            status=None if status is None else Setting(status, SRC),
            locked=None if locked is None else Setting(locked, SRC),
            tags={label: Setting((True,), SRC) for label in labels},
        ),
    )


def spec_of(sb, q: QueueSpec) -> Spec:
    return Spec(
        provider=ProviderConfig("workflow-results", {"endpoint": sb.url}, "/"),
        queues=(q,),
        files=("spec.yaml",),
        digest="0" * 64,
    )


def plan_and_apply(sb, provider, q):
    result = build_plan(spec_of(sb, q), provider)
    return result.plan, apply_plan(result.plan, provider, result.queues)


def log_calls(sb, since=0):
    return [f"{e['method']} {e['path']}" for e in sb.request_log()[since:]]


def docs(sb):
    return sb.store.all(PIPELINE)


# -------------------------------------------------------------- configuration
def test_the_registry_finds_the_workflow_results_provider():
    assert provider_class("workflow-results") is WorkflowResultsProvider


def test_no_endpoint_anywhere_is_one_clear_config_error(monkeypatch):
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", "t" * 20)
    with pytest.raises(ConfigError) as e:
        WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/"))
    assert str(e.value) == (
        "workflow-results provider: no endpoint; set `endpoint:` in the spec's provider block or "
        "the WORKFLOW_HTTP_BASEURL environment variable (e.g. https://frb.chimenet.ca/workflow/results)"
    )


def test_no_token_works_with_a_server_that_needs_none(make_sandbox, monkeypatch):
    """The official client allows no token (it then sends no header): so does the
    provider, and a server that needs one says so in one line naming the variables."""
    open_server = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)], quirks={"no-auth": ""})
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", open_server.url)
    with WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/")) as p:
        _plan, report = plan_and_apply(open_server, p, queue(rule("review", Match(), labels=("reviewed",))))
    assert report.ok and report.count("applied") == 3
    assert all(d["tags"] == ["reviewed"] for d in docs(open_server))
    closed = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", closed.url)
    with (
        WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/")) as p,
        pytest.raises(ConfigError) as e,
    ):
        p.list_items(queue())
    assert str(e.value) == (
        "the workflow Results server needs a token (HTTP 401: missing x-access-token header); "
        "set one of WORKFLOW_HTTP_TOKEN, WORKFLOW_TOKEN, GITHUB_TOKEN, GITHUB_PAT"
    )


def test_a_token_that_is_set_is_sent_to_a_server_that_needs_none(make_sandbox, monkeypatch):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 2)], quirks={"no-auth": ""})
    seen = []
    authenticate = sb.service.authenticate
    sb.service.authenticate = lambda request: (
        seen.append(request.headers.get("x-access-token")) or authenticate(request)
    )
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    monkeypatch.setenv("GITHUB_PAT", SANDBOX_TOKEN)
    with WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/")) as p:
        assert len(p.list_items(queue())) == 2
    assert seen and set(seen) == {SANDBOX_TOKEN}


def test_token_variables_are_read_in_the_clients_order():
    env = {"GITHUB_PAT": "pat-aaaaaaaa", "GITHUB_TOKEN": "gh-bbbbbbbb", "WORKFLOW_TOKEN": "wf-cccccccc"}
    assert find_token(env) == "wf-cccccccc"
    assert find_token({**env, "WORKFLOW_HTTP_TOKEN": "http-dddddddd"}) == "http-dddddddd"
    assert find_token({"GITHUB_PAT": "pat-aaaaaaaa", "GITHUB_TOKEN": " "}) == "pat-aaaaaaaa"
    with pytest.raises(
        ConfigError,
        match="workflow Results token in the WORKFLOW_TOKEN environment variable contains spaces or control characters",
    ):
        find_token({"WORKFLOW_TOKEN": "two words"})


def test_plain_http_only_to_loopback_and_unknown_options_refused(monkeypatch):
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", "t" * 20)
    with pytest.raises(ConfigError, match="plain http://, which is only allowed for a loopback"):
        WorkflowResultsProvider.from_config(
            ProviderConfig("workflow-results", {"endpoint": "http://frb.example.org"}, "/")
        )
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", "http://frb.example.org")
    with pytest.raises(ConfigError, match="only allowed for a loopback"):
        WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/"))
    with pytest.raises(ConfigError, match=r"unknown field 'path' \(allowed: endpoint\)$"):
        WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {"path": "x"}, "/"))


def test_endpoint_from_the_environment_and_the_token_never_shown(make_sandbox, monkeypatch):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url + "/")
    monkeypatch.setenv("GITHUB_TOKEN", SANDBOX_TOKEN)
    with WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/")) as p:
        assert p.endpoint == sb.url
        assert len(p.list_items(queue())) == 3
        assert SANDBOX_TOKEN not in repr(p.client.session.auth) + repr(vars(p))
    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token-123")
    with (
        WorkflowResultsProvider.from_config(ProviderConfig("workflow-results", {}, "/")) as p,
        pytest.raises(ConfigError) as e,
    ):
        p.list_items(queue())
    assert "refused the token (HTTP 401: invalid token)" in str(e.value)
    assert "wrong-token-123" not in str(e.value)


def test_queue_ids_are_pipeline_names():
    assert WorkflowResultsProvider.check_queue(queue()) == []
    (problem,) = WorkflowResultsProvider.check_queue(QueueSpec(id="frb search", source=SRC))
    assert problem.path == ("id",)
    assert problem.message == (
        "a workflow-results queue id is a pipeline name: 1 to 128 letters, digits or '-', not \"frb search\""
    )


# -------------------------------------------------------------------- mapping
def test_a_work_reads_as_an_item_with_labels_and_its_native_lock():
    item = _to_item(
        {"id": "a1", "status": "failure", "tags": ["rfi", "b"], "results": {"locked": True, "snr": 3}}, EVERY_KEY
    )
    assert (item.status, item.tags, item.locked) == ("failure", {"rfi": (True,), "b": (True,)}, True)
    assert item.etag == digest_etag("failure", {"b": (True,), "rfi": (True,)}, True, EVERY_KEY)
    for results in (None, {}, {"snr": 1}, {"locked": None}):
        assert _to_item({"id": "a1", "status": "success", "tags": None, "results": results}, EVERY_KEY).locked is False
    assert _to_item({"id": "a1", "status": "success"}, EVERY_KEY).base == {"id": "a1", "status": "success"}


def change(work_id="a1", *fields: FieldChange) -> Change:
    return Change(item_id=work_id, etag="e", fields=fields, base={})


def test_a_write_keeps_old_labels_in_order_and_appends_new_ones_sorted():
    doc = {"id": "a1", "status": "success", "tags": ["z", "keep", "gone"], "results": None, "event": [1]}
    out = updated_work(
        doc,
        change(
            "a1",
            FieldChange("tags.gone", (True,), None, SRC),
            FieldChange("tags.c", None, (True,), SRC),
            FieldChange("tags.b", None, (True,), SRC),
        ),
    )
    assert out == {**doc, "tags": ["z", "keep", "b", "c"]}
    assert doc["tags"] == ["z", "keep", "gone"]  # the read document is not changed
    assert updated_work({**doc, "tags": None}, change("a1", FieldChange("tags.x", None, None, SRC)))["tags"] is None
    assert updated_work({**doc, "tags": ["x"]}, change("a1", FieldChange("tags.x", (True,), None, SRC)))["tags"] == []


def test_locking_a_work_without_results_writes_results_locked():
    doc = {"id": "a1", "status": "success", "results": None}
    assert updated_work(doc, change("a1", FieldChange("locked", False, True, SRC)))["results"] == {"locked": True}
    kept = updated_work({**doc, "results": {"snr": 9}}, change("a1", FieldChange("locked", False, True, SRC)))
    assert kept["results"] == {"snr": 9, "locked": True}


# -------------------------------------------------------------------- reading
@pytest.mark.parametrize("n", [1, 100, 250])
def test_a_listing_costs_ceil_n_over_100_plus_2_requests(make_sandbox, n):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, n), ("other", 1)])
    with open_provider(sb) as p:
        items = p.list_items(queue())
    assert len(items) == n and len({i.id for i in items}) == n
    calls = log_calls(sb)
    assert calls == ["POST /view/count"] + ["POST /view"] * (math.ceil(n / 100) + 1)
    assert all(set(i.base) <= {"id", "status", "tags", "results"} for i in items)


def test_an_unknown_pipeline_is_queue_not_found(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[("other", 1)])
    with open_provider(sb) as p, pytest.raises(QueueNotFound, match="pipeline frb-search has no works"):
        p.list_items(queue())
    assert log_calls(sb) == ["POST /view/count", "GET /status"]  # an empty listing: is it a typo?


def test_a_listing_that_changed_is_read_again_once(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 150)])
    with open_provider(sb) as p:
        pages = p.pages(queue())
        first = next(pages)
        sb.store.put(PIPELINE, "ffffffffffffffffffffffff", {**docs(sb)[0], "id": "ffffffffffffffffffffffff"})
        rest = list(pages)
    assert len(first) == 100 and rest[0] is RELISTED  # page 2 held more works than counted
    assert [len(page) for page in rest[1:]] == [100, 51]

    with open_provider(sb) as p:
        pages = p.pages(queue())
        with pytest.raises(
            ProviderError,
            match="more works were listed than the 152 counted; the pipeline kept changing while it was read",
        ):
            for page in pages:
                n = sb.store.count(PIPELINE)
                if page is not RELISTED and len(page) == 100:
                    sb.store.put(PIPELINE, f"{n:024x}", {**docs(sb)[0], "id": f"{n:024x}"})


def test_a_work_shifted_past_a_page_boundary_is_caught(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 150)])
    with open_provider(sb) as p:
        pages = p.pages(queue())
        first = next(pages)
        # someone deletes a listed work and adds one: the count stays, and the work that
        # was 101st moves onto page 1, which was already read
        sb.store.delete(PIPELINE, first[0].id)
        sb.store.put(PIPELINE, "ffffffffffffffffffffffff", {**docs(sb)[0], "id": "ffffffffffffffffffffffff"})
        rest = list(pages)
    assert [len(page) for page in rest[:1]] == [50] and rest[1] is RELISTED
    listed = {i.id for page in rest[2:] for i in page}
    assert listed == {d["id"] for d in docs(sb)} and len(listed) == 150


def test_get_reads_by_id_in_chunks_and_leaves_unknown_ids_out(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 250)])
    ids = [d["id"] for d in docs(sb)]
    with open_provider(sb) as p:
        got = p.get(queue(), ids[::-1] + ["000000000000000000000000"])
    assert [i.id for i in got] == ids[::-1]
    assert log_calls(sb) == ["POST /view"] * 3


# -------------------------------------------------------------------- writing
def test_plan_apply_plan_converges_with_three_requests_per_batch(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 250)])
    ids = [d["id"] for d in docs(sb)]
    sb.store.put(PIPELINE, ids[0], {**docs(sb)[0], "results": None, "tags": ["old"]})
    q = queue(
        rule("review", Match(statuses=frozenset({"success"})), status="failure", labels=("reviewed",)),
        submissions={ids[0]: Assignment(locked=Setting(True, SRC))},
    )
    with open_provider(sb) as p:
        plan, report = plan_and_apply(sb, p, q)
        assert len(plan.changes) == 250 and report.ok
        assert report.count("applied") == 250
        before = len(sb.request_log())
        assert not build_plan(spec_of(sb, q), p).plan.has_changes
    writes = log_calls(sb)[5:before]  # after the plan's 5 reads
    # 3 × ceil(250/100): the guard's read, the PUT, the read-back of what it wrote
    assert writes == ["POST /view", "PUT /results", "POST /view"] * 3
    first = sb.store.get(PIPELINE, ids[0])
    assert first["tags"] == ["old", "reviewed"] and first["results"] == {"locked": True}
    assert first["status"] == "failure" and first["site"] == "local" and first["parameters"] == {"n": 1}


def test_a_writer_after_the_plan_is_never_overwritten_and_unmanaged_fields_survive(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    a, b, c = docs(sb)
    q = queue(rule("review", Match(statuses=frozenset({"success"})), labels=("reviewed",)))
    with open_provider(sb) as p:
        result = build_plan(spec_of(sb, q), p)
        # someone else, between plan and apply: a managed change on a, an unmanaged one on b
        sb.store.put(PIPELINE, a["id"], {**a, "status": "failure"})
        sb.store.put(PIPELINE, b["id"], {**b, "results": {"locked": False, "snr": 11.5}, "plots": ["p.png"]})
        report = apply_plan(result.plan, p, result.queues)
    outcomes = {r.item_id: (r.outcome, r.detail) for r in report.results}
    assert outcomes[a["id"]][0] == "stale"
    assert outcomes[a["id"]][1] == (
        'changed since the plan was made (status: "success" → "failure"); nothing was written to it'
    )  # the managed fields only
    assert outcomes[b["id"]][0] == outcomes[c["id"]][0] == "applied"
    assert sb.store.get(PIPELINE, a["id"]) == {**a, "status": "failure"}
    assert sb.store.get(PIPELINE, b["id"]) == {
        **b,
        "results": {"locked": False, "snr": 11.5},
        "plots": ["p.png"],
        "tags": ["reviewed"],
    }


def test_a_work_already_holding_the_planned_values_is_unchanged(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 2)])
    a, _ = docs(sb)
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb) as p:
        result = build_plan(spec_of(sb, q), p)
        sb.store.put(PIPELINE, a["id"], {**a, "tags": ["reviewed"]})
        report = apply_plan(result.plan, p, result.queues)
    assert Counter(r.outcome for r in report.results) == {"applied": 1, "unchanged": 1}


def test_a_dropped_put_is_read_back_and_not_sent_again(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 5)])
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb) as p:
        result = build_plan(spec_of(sb, q), p)
        sb.faults.lose_answers(1, "/results")  # the PUT lands, its answer is lost
        report = apply_plan(result.plan, p, result.queues)
    assert report.ok and report.count("applied") == 5
    writes = [e for e in sb.request_log() if e["method"] == "PUT"]
    assert len(writes) == 1 and writes[0].get("dropped")
    assert log_calls(sb)[-3:] == ["POST /view", "PUT /results", "POST /view"]


def test_a_put_answered_503_is_sent_again_after_a_re_read(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 5)])
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb) as p:
        result = build_plan(spec_of(sb, q), p)
        sb.faults.fail_next(1, "/results")  # the first PUT is answered 503
        report = apply_plan(result.plan, p, result.queues)
    assert report.ok and report.count("applied") == 5
    assert [e["status"] for e in sb.request_log() if e["method"] == "PUT"] == [503, 200]
    assert all(d["tags"] == ["reviewed"] for d in docs(sb))


def test_a_work_locked_in_the_window_fails_its_request_and_stops_the_run(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 250)])
    q = queue(rule("freeze", Match(), labels=("reviewed",), locked=True))
    with open_provider(sb) as p:
        result = build_plan(spec_of(sb, q), p)
        ids = [c.item_id for c in result.plan.changes]  # the order of the write batches
        # reads 1: the first batch's guard, 2: its read-back, 3: the second batch's guard;
        # then every request waits while someone locks a work behind our back
        sb.faults.hold_after(3, "/view")
        before = len(sb.request_log())
        reports = []
        writer = threading.Thread(target=lambda: reports.append(apply_plan(result.plan, p, result.queues)))
        writer.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(e["path"] == "/view" for e in sb.request_log()[before:]) < 3:
            time.sleep(0.02)
        victim = sb.store.get(PIPELINE, ids[150])
        sb.store.put(PIPELINE, ids[150], {**victim, "results": {"locked": True}})
        sb.faults.release()
        writer.join(30)
        report = reports[0]
    outcome = {r.item_id: r for r in report.results}
    assert Counter(r.outcome for r in report.results) == {"applied": 100, "failed": 100, "skipped": 50}
    assert outcome[ids[150]].detail == (
        f"not written: PUT /results failed (HTTP 409): work {ids[150]} is locked: unlock it "
        "(results.locked: false) before updating it"
    )
    assert outcome[ids[100]].detail == (
        f"not written: the request holding it was refused because of work {ids[150]} (HTTP 409); run plan again"
    )
    assert all(sb.store.get(PIPELINE, i)["tags"] is None for i in ids[100:])
    assert all(sb.store.get(PIPELINE, i)["tags"] == ["reviewed"] for i in ids[:100])


def test_faults_converge_and_no_work_is_written_twice(make_sandbox):
    sb = make_sandbox(
        service="workflow-results", synthetic=[(PIPELINE, 300)], fail_rate=0.2, drop_rate=0.15, random_seed=7
    )
    fake, written = sb.service, Counter()
    update = fake.update

    def counting(request):
        answer = update(request)
        written.update(w["id"] for w in request.get_json(cache=True) or [])
        return answer

    original_body = fake._body
    fake._body = lambda request: request.get_json(cache=True) if request.method == "PUT" else original_body(request)
    fake.update = counting
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb, retries=8) as p:
        for _ in range(5):
            try:
                result = build_plan(spec_of(sb, q), p)
            except ProviderError:
                continue
            if not result.plan.has_changes:
                break
            apply_plan(result.plan, p, result.queues)
        else:
            pytest.fail("did not converge in 5 rounds")
    assert all(d["tags"] == ["reviewed"] for d in docs(sb))
    assert set(written) == {d["id"] for d in docs(sb)} and max(written.values()) == 1


def test_replace_changes_a_locked_work_in_two_guarded_puts_and_leaves_it_locked(make_sandbox):
    """The Results lock is native and the server refuses an update that keeps a work
    locked: `--replace` unlocks with the change, then locks again."""
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    ids = [d["id"] for d in docs(sb)]
    for work_id in ids[:2]:
        work = sb.store.get(PIPELINE, work_id)
        sb.store.put(PIPELINE, work_id, {**work, "results": {"locked": True, "snr": 7}})
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb) as provider:
        result = build_plan(spec_of(sb, q), provider, replace=frozenset(ids[:1]))
        blocked = {c.item_id for c in result.plan.changes if c.blocked}
        assert blocked == {ids[1]}  # only the named work is replaced
        report = apply_plan(result.plan, provider, result.queues)
    outcome = {r.item_id: r.outcome for r in report.results}
    assert outcome == {ids[0]: "applied", ids[1]: "blocked", ids[2]: "applied"}
    first = sb.store.get(PIPELINE, ids[0])
    assert first["tags"] == ["reviewed"] and first["results"] == {"locked": True, "snr": 7}
    assert sb.store.get(PIPELINE, ids[1])["tags"] in (None, [])


# ------------------------------------------------------- falsy answers, two writers
@pytest.mark.parametrize("answer", ["false", "0", "null"])
def test_a_put_answered_falsy_is_not_applied_and_the_next_run_converges(make_sandbox, answer):
    """The official client returns PUT /results' answer as the outcome: a 2xx saying
    `false` (or 0, null) did not update, so nothing is applied, the works are re-read
    (not re-sent blindly), and the next run writes them."""
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 5)], quirks={"put-answer": answer})
    q = queue(rule("review", Match(), labels=("reviewed",)))
    with open_provider(sb) as p:
        _plan, report = plan_and_apply(sb, p, q)
        assert not report.ok and report.count("applied") == 0
        assert Counter(r.outcome for r in report.results) == {"failed": 5}
        assert all(
            r.detail == f"not written: PUT /results answered {answer} (HTTP 200): not updated; run plan again"
            for r in report.results
        )
        assert all(d["tags"] is None for d in docs(sb))
        assert log_calls(sb)[-3:] == ["POST /view", "PUT /results", "POST /view"]
        sb.service.put_answer = WRITES  # the server updates again
        _plan, report = plan_and_apply(sb, p, q)
        assert report.ok and report.count("applied") == 5
        assert not build_plan(spec_of(sb, q), p).plan.has_changes
    assert all(d["tags"] == ["reviewed"] for d in docs(sb))


def test_a_put_answered_falsy_for_a_work_that_landed_anyway_is_applied(make_sandbox):
    """What is stored decides: a falsy answer is not success, but a re-read that finds
    exactly what was sent is."""
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    fake = sb.service
    update = fake.update

    def writes_then_says_false(request):
        update(request)
        return False

    fake.update = writes_then_says_false
    with open_provider(sb) as p:
        _, report = plan_and_apply(sb, p, queue(rule("review", Match(), labels=("reviewed",))))
    assert report.ok and report.count("applied") == 3
    assert [e["method"] for e in sb.request_log()].count("PUT") == 1


@pytest.mark.parametrize("spec_mode", [False, True], ids=["apply PLANFILE", "apply SPEC"])
def test_two_writers_at_once_never_both_claim_a_lost_update(make_sandbox, spec_mode):
    """Spec A (label a) and spec B (label b) applied at once to the same 60 works: PUT
    replaces whole documents, so one writer can erase the other's label. After its PUT
    each run reads the works back: a run never calls applied a work that does not hold
    its label (both modes report it stale: erased by another writer, never retried in
    place), and a re-run converges to both labels."""
    import threading

    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 60)], latency_ms=20)
    barrier = threading.Barrier(2)
    reports: dict[str, object] = {}

    def run(label: str) -> None:
        q = queue(rule(f"label-{label}", Match(), labels=(label,)))
        with open_provider(sb) as p:
            result = build_plan(spec_of(sb, q), p)
            barrier.wait()
            reports[label] = apply_plan(result.plan, p, result.queues, rediff=result.rediffers() if spec_mode else None)

    threads = [threading.Thread(target=run, args=(label,)) for label in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stored = {d["id"]: set(d["tags"] or ()) for d in docs(sb)}
    for label, report in reports.items():
        claimed = {r.item_id for r in report.results if r.outcome == "applied"}
        assert all(label in stored[i] for i in claimed), (label, report)
        lost = [r for r in report.results if r.outcome != "applied"]
        # erased by the other writer: stale, saying which tag was lost (guarded.py)
        assert all(
            r.outcome == "stale" and "changed by another writer" in r.detail and "tag '" in r.detail for r in lost
        ), lost
    assert len(reports) == 2
    for label in "ab":  # each spec applied again: both labels everywhere
        with open_provider(sb) as p:
            _plan, report = plan_and_apply(sb, p, queue(rule(f"label-{label}", Match(), labels=(label,))))
            assert report.ok
    assert all(set(d["tags"]) == {"a", "b"} for d in docs(sb))


def test_a_put_answered_true_that_wrote_nothing_is_not_applied(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 3)])
    sb.service.put_answer = True  # says true, writes nothing
    with open_provider(sb) as p:
        _, report = plan_and_apply(sb, p, queue(rule("review", Match(), labels=("reviewed",))))
    assert Counter(r.outcome for r in report.results) == {"failed": 3}
    # the read-back's "not taken" text, the same on every service (guarded.py)
    assert report.results[0].detail.startswith(
        "not applied: the write was answered as done but the item read back still holds its old values"
    )
