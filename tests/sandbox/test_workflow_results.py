"""The workflow Results fake over HTTP: routes, bodies, errors and harness options
(docs/sandbox.md, docs/workflow-results.md)."""

from __future__ import annotations

import re

import pytest
import requests

from conftest import SANDBOX_TOKEN
from serve_process import serving
from reconciler.errors import UserError
from reconciler.sandbox.workflow_results import MAX_WORK_BYTES

PIPELINE = "frb-search"
H = {"x-access-token": SANDBOX_TOKEN}


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 150), ("other", 3)])


def view(sb, query=None, projection=None, skip=0, limit=100, pipeline=PIPELINE):
    body = {
        "query": {**(query or {}), "pipeline": pipeline},
        "projection": projection or {},
        "skip": skip,
        "limit": limit,
    }
    r = requests.post(sb.url + "/view", json=body, headers=H, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def work(pipeline=PIPELINE, **fields):
    return {"pipeline": pipeline, "site": "chime", "user": "someone", "status": "success", **fields}


def test_version_answers_head_and_get_without_a_token(sb):
    assert requests.head(sb.url + "/version", timeout=10).status_code == 200
    got = requests.get(sb.url + "/version", timeout=10)
    assert got.status_code == 200 and got.json()["service"] == "workflow-results"


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "missing x-access-token header"),
        ({"x-access-token": "wrong"}, "invalid token"),
        ({"Authorization": f"Bearer {SANDBOX_TOKEN}"}, "missing x-access-token header"),
    ],
)
def test_every_other_route_needs_the_access_token(sb, headers, message):
    for method, path in [
        ("GET", "/status"),
        ("POST", "/view"),
        ("POST", "/view/count"),
        ("POST", "/results"),
        ("PUT", "/results"),
        ("DELETE", "/results"),
    ]:
        r = requests.request(method, sb.url + path, headers=headers, json={}, timeout=10)
        assert r.status_code == 401, (method, path)
        assert r.json() == {"error": message}


def test_status_counts_works_per_pipeline(sb):
    assert requests.get(sb.url + "/status", headers=H, timeout=10).json() == {PIPELINE: 150, "other": 3}


def test_synthetic_works_are_successes_without_tags_and_unlocked(sb):
    first = view(sb, limit=1)[0]
    assert first["id"] == "660000000000000000000001"
    assert re.fullmatch(r"[0-9a-f]{24}", first["id"])
    assert first["status"] == "success" and first["tags"] is None
    assert first["results"] == {"locked": False}
    assert {"site", "user", "parameters", "creation"} <= set(first)
    other = view(sb, pipeline="other")
    assert [w["id"] for w in other] == [f"66000000{n:016x}" for n in (151, 152, 153)]


def test_view_pages_in_insertion_order_and_limit_0_means_all(sb):
    pages = [view(sb, skip=s, limit=100) for s in (0, 100, 200)]
    assert [len(p) for p in pages] == [100, 50, 0]
    ids = [w["id"] for p in pages for w in p]
    assert ids == sorted(ids) and len(set(ids)) == 150
    assert [w["id"] for w in view(sb, limit=0)] == ids


def test_view_filters_by_equality_dotted_paths_and_in(sb):
    ids = [w["id"] for w in view(sb, limit=5)]
    sb.store.put(PIPELINE, ids[1], {**sb.store.get(PIPELINE, ids[1]), "results": {"locked": True}, "tags": ["a", "b"]})
    assert [w["id"] for w in view(sb, {"results.locked": True})] == [ids[1]]
    assert [w["id"] for w in view(sb, {"tags": "b"})] == [ids[1]]  # an array matches a value it holds
    assert [w["id"] for w in view(sb, {"id": {"$in": [ids[3], ids[0], "nope"]}}, limit=0)] == [ids[0], ids[3]]
    count = requests.post(
        sb.url + "/view/count", json={"query": {"pipeline": PIPELINE, "results.locked": False}}, headers=H, timeout=10
    )
    assert count.json() == 149


def test_projection_keeps_the_id_and_the_named_paths_only(sb):
    wid = view(sb, limit=1)[0]["id"]
    sb.store.put(PIPELINE, wid, {**sb.store.get(PIPELINE, wid), "results": {"locked": True, "snr": 9.5}})
    second = view(sb, limit=2)[1]["id"]
    sb.store.put(PIPELINE, second, {**sb.store.get(PIPELINE, second), "results": None})
    got = view(sb, projection={"status": True, "results.locked": True}, limit=2)
    assert got == [{"id": wid, "status": "success", "results": {"locked": True}}, {"id": second, "status": "success"}]


def test_deposit_sets_ids_and_checks_each_work(sb):
    r = requests.post(sb.url + "/results", json=[work(tags=["x"]), work("new-one")], headers=H, timeout=10)
    assert r.status_code == 200 and r.json() == {PIPELINE: True, "new-one": True}
    deposited = view(sb, {"tags": "x"})
    assert len(deposited) == 1 and re.fullmatch(r"[0-9a-f]{24}", deposited[0]["id"])
    for bad, message in [
        (work(status="running"), "work 0: status must be success or failure, not 'running'"),
        ({"pipeline": PIPELINE, "status": "success", "user": "u"}, "work 0: site is required (a non-empty string)"),
        (work(pipeline="no spaces"), "work 0: pipeline must be 1 to 128 letters, digits or '-'"),
        (work(tags="a"), "work 0: tags must be a list of strings or null"),
    ]:
        r = requests.post(sb.url + "/results", json=[bad], headers=H, timeout=10)
        assert r.status_code == 400 and r.json() == {"error": message}


def test_update_replaces_whole_documents_by_id_all_or_nothing(sb):
    a, b = view(sb, limit=2)
    new_a = {**a, "status": "failure", "tags": ["t"]}  # every other field dropped: a whole document
    r = requests.put(sb.url + "/results", json=[new_a, {**b, "id": "ffffffffffffffffffffffff"}], headers=H, timeout=10)
    assert r.status_code == 404
    assert r.json()["error"] == f"work ffffffffffffffffffffffff not found in pipeline {PIPELINE}"
    assert sb.store.get(PIPELINE, a["id"]) == a  # nothing of the refused request landed
    r = requests.put(sb.url + "/results", json=[new_a], headers=H, timeout=10)
    assert r.status_code == 200 and r.json() is True
    assert sb.store.get(PIPELINE, a["id"]) == new_a


def test_a_locked_work_refuses_an_update_that_keeps_it_locked(sb):
    w = view(sb, limit=1)[0]
    locked = {**w, "results": {"locked": True}}
    assert requests.put(sb.url + "/results", json=[locked], headers=H, timeout=10).status_code == 200
    r = requests.put(sb.url + "/results", json=[{**locked, "status": "failure"}], headers=H, timeout=10)
    assert r.status_code == 409
    assert r.json()["error"] == (f"work {w['id']} is locked: unlock it (results.locked: false) before updating it")
    r = requests.delete(sb.url + "/results", params={PIPELINE: [w["id"]]}, headers=H, timeout=10)
    assert r.status_code == 409
    unlock = {**locked, "status": "failure", "results": {"locked": False}}
    assert requests.put(sb.url + "/results", json=[unlock], headers=H, timeout=10).status_code == 200
    assert sb.store.get(PIPELINE, w["id"]) == unlock


def test_lock_refusal_can_be_switched_off(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 1)], quirks={"no-lock-refusal": ""})
    w = {**view(sb)[0], "results": {"locked": True}}
    for status in ("success", "failure"):
        assert (
            requests.put(sb.url + "/results", json=[{**w, "status": status}], headers=H, timeout=10).status_code == 200
        )


def test_delete_takes_pipeline_id_pairs(sb):
    ids = [w["id"] for w in view(sb, limit=2)]
    r = requests.delete(sb.url + "/results", params={PIPELINE: ids}, headers=H, timeout=10)
    assert r.status_code == 200 and r.json() == {PIPELINE: True}
    assert sb.store.count(PIPELINE) == 148


def test_oversized_bodies_are_refused_with_413(sb):
    w = view(sb, limit=1)[0]
    big = {**w, "results": {"locked": False, "blob": "x" * MAX_WORK_BYTES}}
    r = requests.put(sb.url + "/results", json=[big], headers=H, timeout=30)
    assert r.status_code == 413 and "over the 4194304-byte limit per work" in r.json()["error"]
    r = requests.post(sb.url + "/view", data=b"[" + b" " * (17 * 1024 * 1024) + b"]", headers=H, timeout=30)
    assert r.status_code == 413 and r.json() == {"error": "request body over the 16777216-byte limit"}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"query": {}}, "query.pipeline must name a pipeline (1 to 128 letters, digits or '-')"),
        ({"query": {"pipeline": PIPELINE, "$or": []}}, "unsupported query operator $or"),
        ({"query": {"pipeline": PIPELINE, "n": {"$gt": 1}}}, "unsupported query operator $gt on n"),
        (
            {"query": {"pipeline": PIPELINE}, "projection": {"site": False}},
            "only inclusion projections are supported (got site: false)",
        ),
        ({"query": {"pipeline": PIPELINE}, "skip": -1}, "skip must be a non-negative integer"),
    ],
)
def test_bad_view_requests_get_400_with_the_reason(sb, body, message):
    r = requests.post(sb.url + "/view", json=body, headers=H, timeout=10)
    assert r.status_code == 400 and r.json() == {"error": message}


def test_harness_options_apply(make_sandbox):
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 2)], fail_rate=1.0)
    r = requests.get(sb.url + "/status", headers=H, timeout=10)
    assert r.status_code == 503 and "error" in r.json()
    assert requests.head(sb.url + "/version", timeout=10).status_code == 200  # the probe is not failed
    dropping = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 2)], drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.get(dropping.url + "/status", headers=H, timeout=10)
    throttled = make_sandbox(service="workflow-results", max_per_minute=1)
    assert requests.get(throttled.url + "/status", headers=H, timeout=10).status_code == 200
    r = requests.get(throttled.url + "/status", headers=H, timeout=10)
    assert r.status_code == 429 and "too frequent" in r.json()["error"]
    assert [e["status"] for e in sb.request_log()] == [503, 200]
    assert dropping.request_log()[0]["dropped"] is True


def test_synthetic_pipeline_names_and_seed_are_checked(make_sandbox, tmp_path):
    with pytest.raises(UserError, match="a pipeline name is 1 to 128"):
        make_sandbox(service="workflow-results", synthetic=[("bad name", 1)])
    seed = tmp_path / "seed.yaml"
    seed.write_text("{}\n")
    with pytest.raises(UserError, match="takes no --seed"):
        make_sandbox(service="workflow-results", seed=seed)


@pytest.mark.slow
def test_serve_command_runs_the_fake_with_lock_refusal_off(tmp_path):
    with serving(
        "--service",
        "workflow-results",
        "--port",
        "0",
        "--token",
        "serve-token",
        "--synthetic",
        f"{PIPELINE}:2",
        "--quirk",
        "no-lock-refusal",
    ) as served:
        url = served.url
        h = {"x-access-token": "serve-token"}
        w = requests.post(url + "/view", json={"query": {"pipeline": PIPELINE}}, headers=h, timeout=10).json()[0]
        locked = {**w, "results": {"locked": True}}
        for _ in range(2):
            assert requests.put(url + "/results", json=[locked], headers=h, timeout=10).status_code == 200


def test_quirks_no_auth_and_falsy_put_answers(make_sandbox):
    open_fake = make_sandbox(
        service="workflow-results", synthetic=[(PIPELINE, 2)], quirks={"no-auth": "", "put-answer": "0"}
    )
    w = requests.post(open_fake.url + "/view", json={"query": {"pipeline": PIPELINE}}, timeout=10).json()[0]
    answer = requests.put(open_fake.url + "/results", json=[{**w, "tags": ["x"]}], timeout=10)
    assert (answer.status_code, answer.json()) == (200, 0)
    assert open_fake.store.get(PIPELINE, w["id"])["tags"] is None  # nothing written


def test_unknown_quirks_and_bad_values_are_refused_in_one_line(make_sandbox):
    from cli_helpers import run_cli

    with pytest.raises(UserError, match=r"put-answer=yes: expected one of false, 0, null"):
        make_sandbox(service="workflow-results", quirks={"put-answer": "yes"})
    result = run_cli(
        "serve", "--service", "workflow-results", "--token", "t", "--port", "0", "--quirk", "cursor-paging"
    )
    assert result.code == 1 and result.err == (
        "error: --quirk cursor-paging: the workflow-results sandbox has no such quirk "
        "(its quirks: no-lock-refusal, no-auth, put-answer=false|0|null)\n"
    )
