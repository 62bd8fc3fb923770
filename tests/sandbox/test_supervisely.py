"""The Supervisely fake over real HTTP: the task RPC methods, their bodies, codes and
errors (docs/supervisely.md), the SDK's exact wire calls, and the harness
options."""

from __future__ import annotations

import json

import pytest
import requests

from reconciler.errors import UserError
from reconciler.sandbox.supervisely import SHORT_ROW_FIELDS, STATUSES, session_token

WS = 7
FIRST = 50001


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(service="supervisely", synthetic=[(str(WS), 45)])


def call(sb, method, body, token=None, **kwargs):
    headers = {"x-api-key": sb.token if token is None else token}
    return requests.post(f"{sb.url}/public/api/v3/{method}", json=body, headers=headers, timeout=10, **kwargs)


def ok(sb, method, body):
    response = call(sb, method, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_sdk_wire_calls_replayed_verbatim(sb):
    """What supervisely 6.74.51 sent (benchmarks/supervisely_sdk_check.py recorded it):
    POST /public/api/v3/<method>, JSON body, only `x-api-key` besides requests' own
    headers; the first tasks.list page without page/per_page, then page 2.. with the
    answer's perPage."""
    headers = {"x-api-key": sb.token}  # the SDK's whole header dict

    def post(method: str, body: dict) -> requests.Response:
        return requests.post(f"{sb.url}/public/api/v3/{method}", json=body, headers=headers, timeout=10)

    first = post("tasks.list", {"workspaceId": WS, "filter": [], "sort": "id", "sort_order": "asc"})
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("application/json")
    page1 = first.json()
    assert (page1["total"], page1["perPage"], page1["pagesCount"], len(page1["entities"])) == (45, 20, 3, 20)
    rows = page1["entities"]
    for page in (2, 3):
        rows += post(
            "tasks.list",
            {"workspaceId": WS, "filter": [], "sort": "id", "sort_order": "asc", "page": page, "per_page": 20},
        ).json()["entities"]
    assert [t["id"] for t in rows] == list(range(FIRST, FIRST + 45))
    one = post(
        "tasks.list",
        {
            "workspaceId": WS,
            "filter": [{"field": "id", "operator": "=", "value": 50004}],
            "sort": "id",
            "sort_order": "asc",
        },
    ).json()
    assert [t["id"] for t in one["entities"]] == [50004]
    info = post("tasks.info", {"id": 50005})
    assert set(info.json()) == {
        "id",
        "workspaceId",
        "description",
        "type",
        "status",
        "startedAt",
        "finishedAt",
        "userId",
        "meta",
        "settings",
        "agentName",
        "userLogin",
        "teamId",
        "agentId",
    }
    missing = post("tasks.info", {"id": 999})
    assert missing.status_code == 404 and missing.json()["error"]
    assert post("instance.version", {}).json() == {"version": "6.12.44"}
    assert post("tasks.status.update", {"id": 50005, "status": "stopped"}).status_code == 200
    assert post("tasks.info", {"id": 50005}).json()["status"] == "stopped"
    meta = {"app": {"id": 10370, "name": "Sandbox App", "version": "v1"}, "reconciler_tags": {"phase": "one"}}
    assert post("tasks.meta.update", {**meta, "id": 50001}).status_code == 200
    # the synthetic app task's own sessionToken stays (the default meta update deep-merges)
    assert post("tasks.info", {"id": 50001}).json()["meta"] == {**meta, "sessionToken": session_token(50001)}


def test_synthetic_tasks_are_finished_with_unrelated_meta_on_some(sb):
    tasks = ok(sb, "tasks.list", {"workspaceId": WS, "per_page": 100})["entities"]
    assert len(tasks) == 45 and {t["status"] for t in tasks} == {"finished"}
    assert {t["workspaceId"] for t in [ok(sb, "tasks.info", {"id": t["id"]}) for t in tasks[:3]]} == {WS}
    metas = [t["meta"] for t in tasks]
    assert {} in metas and any("app" in m for m in metas) and any("output" in m for m in metas)
    apps = [m for m in metas if "app" in m]
    assert apps and all(m["sessionToken"].startswith("sess-") for m in apps)  # app tasks carry a secret
    assert len({m["sessionToken"] for m in apps}) == len(apps)
    assert not any("reconciler_tags" in m or "locked" in m for m in metas)


def test_filters_in_and_status_and_sort_order(sb):
    ok(sb, "tasks.status.update", {"id": 50010, "status": "error"})
    listed = ok(
        sb, "tasks.list", {"workspaceId": WS, "filter": [{"field": "id", "operator": "in", "value": [50012, 50010, 1]}]}
    )
    assert [t["id"] for t in listed["entities"]] == [50010, 50012] and listed["total"] == 2
    errors = ok(
        sb, "tasks.list", {"workspaceId": WS, "filter": [{"field": "status", "operator": "=", "value": "error"}]}
    )
    assert [t["id"] for t in errors["entities"]] == [50010]
    desc = ok(sb, "tasks.list", {"workspaceId": WS, "sort": "id", "sort_order": "desc", "per_page": 2})
    assert [t["id"] for t in desc["entities"]] == [50045, 50044] and desc["pagesCount"] == 23


@pytest.mark.parametrize(
    "method,body,code,text",
    [
        ("tasks.list", {}, 400, "workspaceId is required"),
        ("tasks.list", {"workspaceId": 99}, 404, "Workspace with id 99 not found"),
        (
            "tasks.list",
            {"workspaceId": WS, "filter": [{"field": "name", "operator": "=", "value": 1}]},
            400,
            "not supported",
        ),
        (
            "tasks.list",
            {"workspaceId": WS, "filter": [{"field": "id", "operator": "~", "value": 1}]},
            400,
            "Unknown filter operator",
        ),
        ("tasks.list", {"workspaceId": WS, "filter": [{"field": "id", "operator": "in", "value": 1}]}, 400, "array"),
        ("tasks.list", {"workspaceId": WS, "sort": "name"}, 400, "only id"),
        ("tasks.info", {"id": "50001"}, 400, "id must be an integer"),
        ("tasks.status.update", {"id": 50001, "status": "Finished"}, 400, "Invalid status 'Finished'"),
        ("tasks.status.update", {"id": 1, "status": "stopped"}, 404, "Task with id 1 not found"),
        ("tasks.meta.update", {"id": 1, "a": 1}, 404, "Task with id 1 not found"),
        ("tasks.nope", {}, 404, "Unknown API method"),
    ],
)
def test_refusals_are_error_bodies(sb, method, body, code, text):
    response = call(sb, method, body)
    assert response.status_code == code
    error = response.json()
    assert text in error["error"] and error["details"]["message"] == error["error"]


def test_body_must_be_a_json_object_and_methods_are_post(sb):
    assert (
        requests.post(
            f"{sb.url}/public/api/v3/tasks.info", data=b"{", timeout=10, headers={"x-api-key": sb.token}
        ).status_code
        == 400
    )
    assert call(sb, "tasks.info", [1]).status_code == 400
    get = requests.get(f"{sb.url}/public/api/v3/tasks.info", headers={"x-api-key": sb.token}, timeout=10)
    assert get.status_code == 405


def test_api_key_is_checked_but_the_address_probe_is_open(sb):
    assert call(sb, "tasks.info", {"id": FIRST}, token="wrong").status_code == 401
    bare = requests.post(f"{sb.url}/public/api/v3/tasks.info", json={"id": FIRST}, timeout=10)
    assert bare.status_code == 401 and "x-api-key" in bare.json()["error"]
    with_bearer = requests.post(
        f"{sb.url}/public/api/v3/tasks.info",
        json={"id": FIRST},
        timeout=10,
        headers={"Authorization": f"Bearer {sb.token}"},
    )
    assert with_bearer.status_code == 401
    assert requests.get(sb.url + "/", timeout=10).status_code == 200  # the SDK's GET <server>


@pytest.mark.parametrize(
    "mode, expected",
    [
        # the default: maps merged at every depth, so `b` removed from the nested map stays
        ("deep-merge", {"app": {"id": 1}, "tags": {"a": "1", "b": "2", "c": "3"}, "new": 1}),
        ("merge", {"app": {"id": 1}, "tags": {"a": "1", "c": "3"}, "new": 1}),
        ("replace", {"tags": {"a": "1", "c": "3"}, "new": 1}),
        ("allow-list", {"app": {"id": 1}, "tags": {"a": "1", "c": "3"}}),  # `new` dropped without a word
    ],
)
def test_meta_update_modes(make_sandbox, mode, expected):
    sb = make_sandbox(service="supervisely", synthetic=[(str(WS), 1)], quirks={"meta-update": mode})
    ok(sb, "tasks.meta.update", {"id": FIRST, "app": {"id": 1}, "tags": {"a": "1", "b": "2"}})
    sb.service.meta_update = "replace"
    ok(sb, "tasks.meta.update", {"id": FIRST, "app": {"id": 1}, "tags": {"a": "1", "b": "2"}})
    sb.service.meta_update = mode
    answer = ok(sb, "tasks.meta.update", {"id": FIRST, "tags": {"a": "1", "c": "3"}, "new": 1})
    assert answer == {"success": True}  # says nothing about what landed
    assert ok(sb, "tasks.info", {"id": FIRST})["meta"] == expected


def test_list_rows_leave_workspace_id_out_by_default_and_full_when_switched(make_sandbox):
    short = make_sandbox(service="supervisely", synthetic=[(str(WS), 2)])
    rows = ok(short, "tasks.list", {"workspaceId": WS})["entities"]
    assert [set(r) for r in rows] == [set(SHORT_ROW_FIELDS)] * 2 and "workspaceId" not in rows[0]
    full = make_sandbox(service="supervisely", synthetic=[(str(WS), 2)], quirks={"list-rows": "full"})
    assert ok(full, "tasks.list", {"workspaceId": WS})["entities"][0]["workspaceId"] == WS
    with pytest.raises(
        UserError, match="--quirk meta-update=deep: expected one of deep-merge, merge, replace, allow-list"
    ):
        make_sandbox(service="supervisely", quirks={"meta-update": "deep"})


def test_meta_update_test_hook_fails_chosen_tasks_and_writes_nothing(sb):
    sb.service.fail_meta_update[FIRST] = 400
    response = call(sb, "tasks.meta.update", {"id": FIRST, "mine": "x"})
    assert response.status_code == 400 and "test hook" in response.json()["error"]
    assert "mine" not in ok(sb, "tasks.info", {"id": FIRST})["meta"]
    ok(sb, "tasks.meta.update", {"id": FIRST + 1, "mine": "y"})


def test_every_status_is_accepted_and_stop_answers_the_status(sb):
    for status in STATUSES:
        ok(sb, "tasks.status.update", {"id": FIRST, "status": status})
        assert ok(sb, "tasks.info", {"id": FIRST})["status"] == status
    ok(sb, "tasks.status.update", {"id": FIRST, "status": "started"})
    assert ok(sb, "tasks.stop", {"id": FIRST}) == {"status": "stopped"}
    assert ok(sb, "tasks.stop", {"id": FIRST + 1}) == {"status": "finished"}  # already final


def test_state_persists_in_the_db_and_synthetic_needs_numeric_workspaces(make_sandbox, tmp_path):
    db = tmp_path / "sly.db"
    first = make_sandbox(service="supervisely", synthetic=[("3", 2)], db_path=db)
    ok(first, "tasks.status.update", {"id": FIRST, "status": "queued"})
    first.stop()
    again = make_sandbox(service="supervisely", synthetic=[("3", 2)], db_path=db)
    assert [t["status"] for t in ok(again, "tasks.list", {"workspaceId": 3})["entities"]] == ["queued", "finished"]
    with pytest.raises(UserError, match="workspace id is a number"):
        make_sandbox(service="supervisely", synthetic=[("ws", 2)])


def test_seed_tasks_carry_tags_and_lock_in_meta(make_sandbox, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        'queues:\n  - id: "4"\n    items:\n'
        '      - {id: "10", status: started, tags: {team: owls}, locked: true, extra: {meta: {app: {id: 1}}}}\n'
        '      - {id: "11"}\n'
    )
    sb = make_sandbox(service="supervisely", seed=seed, synthetic=[("5", 1)])
    tasks = ok(sb, "tasks.list", {"workspaceId": 4})["entities"]
    assert tasks[0]["status"] == "started" and tasks[1]["status"] == "finished"
    assert tasks[0]["meta"] == {"app": {"id": 1}, "reconciler_tags": {"team": "owls"}, "locked": True}
    assert [t["id"] for t in ok(sb, "tasks.list", {"workspaceId": 5})["entities"]] == [FIRST]


def test_harness_faults_and_request_log(make_sandbox):
    sb = make_sandbox(service="supervisely", synthetic=[(str(WS), 3)], fail_rate=1.0)
    failed = call(sb, "tasks.info", {"id": FIRST})
    assert failed.status_code == 503 and failed.json()["details"]["message"]
    dropping = make_sandbox(service="supervisely", synthetic=[(str(WS), 3)], drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        call(dropping, "tasks.status.update", {"id": FIRST, "status": "queued"})
    assert dropping.service.store.get(f"tasks:{WS}", str(FIRST))["status"] == "queued"  # committed
    log = dropping.request_log()
    assert log[-1]["path"] == "/public/api/v3/tasks.status.update" and log[-1]["dropped"] is True
    assert sb.token not in json.dumps(sb.request_log() + log)
    throttled = make_sandbox(service="supervisely", synthetic=[(str(WS), 3)], max_per_minute=1)
    assert call(throttled, "tasks.info", {"id": FIRST}).status_code == 200
    assert call(throttled, "tasks.info", {"id": FIRST}).status_code == 429


def test_serve_offers_the_switches():
    from cli_helpers import run_cli

    shown = run_cli("serve", "--help").out.split("Quirks of --service supervisely:", 1)[1]
    assert "meta-update=deep-merge|merge|replace|allow-list" in shown
    assert "list-rows=short|full" in shown
    refused = run_cli("serve", "--service", "supervisely", "--token", "t", "--quirk", "meta-update=deep")
    assert refused.code == 1 and "deep-merge" in refused.err
