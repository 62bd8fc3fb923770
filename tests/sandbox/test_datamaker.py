"""The datamaker fake over HTTP: DRF pages and errors, the task filters (unknown keys
ignored, as the real server does), set_tags' body model, auth headers, --synthetic,
and the harness options."""

from __future__ import annotations

import json

import pytest
import requests

from datamaker_helpers import headers, tag_ids
from serve_process import serving

PROJECT = "7"


@pytest.fixture
def dm(make_sandbox):
    return make_sandbox(service="datamaker", synthetic=[(PROJECT, 25), ("8", 3)])


def get(sb, path, **params):
    return requests.get(f"{sb.url}/{path}", params=params, headers=headers(sb), timeout=10)


def post(sb, body, path="tasks/set_tags/"):
    return requests.post(f"{sb.url}/{path}", json=body, headers=headers(sb), timeout=10)


def every_id(sb, page: dict) -> list:
    """The ids of `page` and of every page its `next` links lead to, in order."""
    seen = [r["id"] for r in page["results"]]
    url = page["next"]
    while url:
        body = requests.get(url, headers=headers(sb), timeout=10).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    return seen


def test_synthetic_makes_untagged_tasks_in_a_project_with_four_tags(dm):
    tags = get(dm, "task_tags/", project=PROJECT).json()
    assert [t["name"] for t in tags["results"]] == ["accepted", "rejected", "scored", "locked"]
    assert all(t["project"] == 7 and t["category"] == "project" for t in tags["results"])
    first = get(dm, "tasks/1001/").json()
    assert first["project"] == 7 and first["tags"] == [] and first["id"] == 1001
    assert get(dm, "sdk/tasks/", project=PROJECT).json()["count"] == 25
    assert get(dm, "sdk/tasks/", project="8").json()["count"] == 3


def test_pages_are_drf_pages_with_absolute_next_links_and_a_maximum_size(dm):
    page = get(dm, "sdk/tasks/", project=PROJECT, page_size=10, fields="id").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 25 and page["previous"] is None
    assert page["results"] == [{"id": i} for i in range(1001, 1011)]
    assert page["next"].startswith(dm.url + "/sdk/tasks/?") and "page=2" in page["next"]
    seen = every_id(dm, page)
    assert seen == list(range(1001, 1026))
    clamped = get(dm, "sdk/tasks/", page_size=1000).json()
    assert len(clamped["results"]) == 28 and clamped["next"] is None  # max 100, both projects
    assert len(get(dm, "sdk/tasks/", project=PROJECT).json()["results"]) == 10  # default size
    assert get(dm, "sdk/tasks/", project=PROJECT, page=9).json() == {"detail": "Invalid page."}


def test_filters_and_unknown_keys_are_ignored_as_the_server_does(dm):
    post(dm, {"ids": [1001, 1003], "tags": [tag_ids(dm)["scored"]], "action": "add"})
    scored = tag_ids(dm)["scored"]
    rows = get(dm, "sdk/tasks/", project=PROJECT, tags=scored, fields="id,tags").json()["results"]
    assert rows == [{"id": 1001, "tags": [scored]}, {"id": 1003, "tags": [scored]}]
    rows = get(dm, "sdk/tasks/", project=PROJECT, id__in="1002,1003,1004", fields="id").json()["results"]
    assert rows == [{"id": 1002}, {"id": 1003}, {"id": 1004}]
    # a typo widens the answer to the whole project: clients must filter again
    typo = get(dm, "sdk/tasks/", project=PROJECT, tag=scored, page_size=100).json()
    assert typo["count"] == 25
    assert get(dm, "sdk/tasks/", project="999").status_code == 400
    assert get(dm, "sdk/tasks/", project="999").json() == {
        "project": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert get(dm, "sdk/tasks/", id__in="1,x").json() == {"id__in": ["Enter a number."]}
    assert get(dm, "sdk/tasks/", tags="9999").status_code == 400


def test_set_tags_adds_and_removes_and_keeps_other_tags(dm):
    names = tag_ids(dm)
    assert post(dm, {"ids": [1001, 1002], "tags": [names["accepted"], names["scored"]]}).json() == {"updated": 2}
    assert post(dm, {"ids": [1001], "tags": [names["accepted"]], "action": "remove"}).status_code == 200
    assert get(dm, "tasks/1001/").json()["tags"] == [names["scored"]]
    assert get(dm, "tasks/1002/").json()["tags"] == sorted([names["accepted"], names["scored"]])
    again = post(dm, {"ids": [1002], "tags": [names["scored"]], "action": "add"})
    assert again.status_code == 200 and get(dm, "tasks/1002/").json()["tags"] == sorted(
        [names["accepted"], names["scored"]]
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"task_ids": [1001], "tag_ids": [51], "replace": True}, "task_ids"),  # the old form
        ({"ids": [1001], "tags": [51], "action": "add", "replace": True}, "replace"),
        ({"ids": ["1001"], "tags": [51]}, "ids"),
        ({"ids": [1001], "tags": [True]}, "tags"),
        ({"ids": [1001], "tags": [9999]}, "tags"),  # unknown tag id
        ({"ids": [5], "tags": [51]}, "ids"),  # unknown task
        ({"ids": [1001], "tags": [51], "action": "replace"}, "action"),
        ({"ids": [1001]}, "tags"),
        ({"ids": [1026], "tags": [51]}, "tags"),  # a tag of another project
    ],
)
def test_set_tags_refuses_what_the_model_forbids_and_changes_nothing(dm, body, field):
    before = dm.store.all("tasks")
    refused = post(dm, body)
    assert refused.status_code == 400 and field in refused.json(), refused.json()
    assert dm.store.all("tasks") == before


def test_auth_headers_are_checked_as_drf_does(dm):
    url = f"{dm.url}/sdk/tasks/"
    none = requests.get(url, timeout=10)
    assert none.status_code == 401 and none.json() == {"detail": "Authentication credentials were not provided."}
    bare = requests.get(url, headers={"Synapse-Access-Token": dm.token}, timeout=10)
    assert bare.status_code == 401 and bare.json()["detail"] == "Invalid token header. No credentials provided."
    wrong = requests.get(url, headers={"Synapse-Access-Token": "Token nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid token."}
    bearer = requests.get(url, headers={"Authorization": f"Bearer {dm.token}"}, timeout=10)
    assert bearer.status_code == 401
    tenant = requests.get(url, headers={**headers(dm), "Synapse-Tenant": "acme"}, timeout=10)
    assert tenant.status_code == 403 and "detail" in tenant.json()
    ok = requests.get(url, headers={**headers(dm), "Synapse-Tenant": "Token acme"}, timeout=10)
    assert ok.status_code == 200


def test_routes_are_exact_and_errors_are_json(dm):
    assert get(dm, "tasks/1001").status_code == 404  # DRF routes end with a slash
    assert get(dm, "tasks/99/").json() == {"detail": "Not found."}
    wrong = requests.delete(f"{dm.url}/tasks/set_tags/", headers=headers(dm), timeout=10)
    assert wrong.status_code == 405 and wrong.json() == {"detail": 'Method "DELETE" not allowed.'}
    bad = requests.post(
        f"{dm.url}/tasks/set_tags/", data=b"{", headers={**headers(dm), "Content-Type": "application/json"}, timeout=10
    )
    assert bad.status_code == 400 and "detail" in bad.json()


def test_harness_options_fail_drop_throttle_log_and_forbid(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)], fail_rate=1.0)
    failed = get(sb, "sdk/tasks/")
    assert failed.status_code == 503 and "detail" in failed.json()
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)], drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        post(sb, {"ids": [1001], "tags": [51]})
    assert sb.store.get("tasks", "1001")["tags"] == [51]  # committed, only the answer was lost
    assert sb.request_log()[-1]["dropped"] is True
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)], max_per_minute=1)
    assert get(sb, "sdk/tasks/").status_code == 200
    throttled = get(sb, "sdk/tasks/")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 2)], forbid_batches=[2])
    assert post(sb, {"ids": [1001], "tags": [51]}).status_code == 200
    forbidden = post(sb, {"ids": [1002], "tags": [51]})
    assert forbidden.status_code == 403 and "permission" in forbidden.json()["detail"]
    assert sb.store.get("tasks", "1002")["tags"] == []
    log = sb.request_log()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/tasks/set_tags/", 200),
        ("POST", "/tasks/set_tags/", 403),
    ]
    assert sb.token not in json.dumps(log)


def test_db_persists_the_state_across_restarts(make_sandbox, tmp_path):
    db = tmp_path / "dm.db"
    first = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3)], db_path=db)
    post(first, {"ids": [1002], "tags": [53]})
    first.stop()
    again = make_sandbox(service="datamaker", synthetic=[(PROJECT, 3)], db_path=db)
    assert get(again, "tasks/1002/").json()["tags"] == [53]
    assert get(again, "sdk/tasks/", project=PROJECT).json()["count"] == 3


def test_serve_service_datamaker_runs_as_a_process(tmp_path):
    with serving(
        "--service", "datamaker", "--port", "0", "--token", "proc-token", "--synthetic", f"{PROJECT}:5", deadline=30
    ) as served:
        got = requests.get(
            f"{served.url}/sdk/tasks/",
            params={"project": PROJECT},
            headers={"Synapse-Access-Token": "Token proc-token"},
            timeout=10,
        )
        assert got.json()["count"] == 5


def test_cursor_pages_carry_no_count_and_follow_next_newest_first(dm):
    page = get(dm, "sdk/tasks/", project=PROJECT, pagination="cursor", ordering="-id", page_size=10, fields="id").json()
    assert set(page) == {"next", "previous", "results"}
    seen = every_id(dm, page)
    assert seen == list(range(1025, 1000, -1))
    oldest_first = get(dm, "sdk/tasks/", project=PROJECT, pagination="cursor", ordering="id", page_size=3).json()
    assert [r["id"] for r in oldest_first["results"]] == [1001, 1002, 1003]
    bad = get(dm, "sdk/tasks/", project=PROJECT, pagination="cursor", cursor="not-a-cursor")
    assert (bad.status_code, bad.json()) == (404, {"detail": "Invalid cursor"})


def test_deep_offset_pages_slow_down_then_answer_cloudflares_524(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(PROJECT, 60)], quirks={"deep-page-524": "3"})
    assert get(sb, "sdk/tasks/", project=PROJECT, page=3).status_code == 200
    deep = get(sb, "sdk/tasks/", project=PROJECT, page=4)
    assert deep.status_code == 524 and "A timeout occurred" in deep.text
    assert deep.headers["Content-Type"].startswith("text/html")
    # cursor pages go as deep as the project does
    assert get(sb, "sdk/tasks/", project=PROJECT, pagination="cursor").status_code == 200
    old = make_sandbox(service="datamaker", synthetic=[(PROJECT, 5)], quirks={"no-cursor": ""})
    assert get(old, "sdk/tasks/", project=PROJECT, pagination="cursor").json()["count"] == 5


def test_glitches_and_a_commit_answered_500(make_sandbox):
    sb = make_sandbox(
        service="datamaker", synthetic=[(PROJECT, 3)], random_seed=1, quirks={"glitch-520": "1", "commit-then-500": "1"}
    )
    glitch = get(sb, "task_tags/", project=PROJECT)
    assert glitch.status_code == 520 and "Web server is returning an unknown error" in glitch.text
    sb.service.glitch_520 = 0.0
    scored = tag_ids(sb)["scored"]
    answer = post(sb, {"ids": [1001], "tags": [scored], "action": "add"})
    assert answer.status_code == 500 and "Server Error (500)" in answer.text
    assert sb.store.get("tasks", "1001")["tags"] == [scored]  # committed all the same


@pytest.mark.parametrize(
    "quirks, message",
    [
        ({"glitch-520": "2"}, "--quirk glitch-520=2: expected a number between 0 and 1"),
        ({"deep-page-524": "x"}, "--quirk deep-page-524=x: expected a whole number at least 0"),
        ({"no-cursor": "yes"}, "--quirk no-cursor=yes: expected no value"),
        ({"put-answer": "false"}, "--quirk put-answer: the datamaker sandbox has no such quirk"),
    ],
)
def test_bad_quirks_are_refused_in_one_line(make_sandbox, quirks, message):
    from reconciler.errors import UserError

    with pytest.raises(UserError) as e:
        make_sandbox(service="datamaker", quirks=quirks)
    assert str(e.value).startswith(message)
