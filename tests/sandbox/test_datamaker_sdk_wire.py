"""synapse-sdk 2026.2.17's exact wire calls, replayed with plain requests against the
datamaker fake (the SDK needs Python 3.12 and does not install here; docs/sandbox.md
says what was read from its wheel and where).

Each helper below is the SDK's code path reduced to what reaches the wire:
- URL: `build_url(base_url, path)` = base.rstrip('/') + '/' + path.lstrip('/'), or the
  path itself when it is already absolute (the `next` links of `_list`);
- headers: `BackendClient._get_headers()` = `Synapse-Access-Token: Token <token>` and
  `Synapse-Tenant: Token <tenant>`; POST/PUT add `Content-Type: application/json`;
- bodies: `_validate_request` = `SetTagsRequest(**data).model_dump()` without None
  values, so `action` is always sent ('add' by default), then `json.dumps(data)`;
- paging: `_list(list_all=True)` adds `page_size=100` to the params of the first
  request only and then follows `response['next']` as given.
"""

from __future__ import annotations

import json

import pytest
import requests

PROJECT = 7


class SdkWire:
    """BackendClient(base_url, access_token=..., tenant=...) as far as the wire goes."""

    def __init__(self, base_url: str, access_token: str, tenant: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token, self.tenant = access_token, tenant
        self.session = requests.Session()

    def _get_headers(self) -> dict[str, str]:
        headers = {}
        if self.access_token:
            headers["Synapse-Access-Token"] = f"Token {self.access_token}"
        if self.tenant:
            headers["Synapse-Tenant"] = f"Token {self.tenant}"
        return headers

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _get(self, path: str, params=None):
        response = self.session.get(self._url(path), headers=self._get_headers(), params=params, timeout=(5, 15))
        return response.status_code, response.json()

    def _post(self, path: str, data: dict):
        headers = self._get_headers()
        headers["Content-Type"] = "application/json"
        response = self.session.post(self._url(path), headers=headers, data=json.dumps(data), timeout=(5, 15))
        return response.status_code, response.json()

    # annotation.py
    def get_task(self, task_id: int, params=None):
        return self._get(f"tasks/{task_id}/", params)

    def list_task_tags(self, params=None):
        return self._get("task_tags/", params)

    def list_tasks_all(self, params: dict):
        request_params = dict(params)
        request_params.setdefault("page_size", 100)
        status, first = self._get("sdk/tasks/", request_params)
        assert status == 200, first
        rows = list(first["results"])
        next_url = first.get("next")
        while next_url:
            status, page = self._get(next_url)
            assert status == 200, page
            rows += page["results"]
            next_url = page.get("next")
        return rows, first["count"]

    def set_tags_tasks(self, data: dict):
        # SetTagsRequest: extra='forbid', ids: list[int], tags: list[int], action='add'
        assert set(data) <= {"ids", "tags", "action"}, "the SDK's model refuses extra keys"
        dumped = {"ids": list(data["ids"]), "tags": list(data["tags"]), "action": data.get("action", "add")}
        return self._post("tasks/set_tags/", dumped)


@pytest.fixture
def sdk(make_sandbox):
    sb = make_sandbox(service="datamaker", synthetic=[(str(PROJECT), 250)])
    return sb, SdkWire(sb.url + "/", sb.token, tenant="acme")


def test_the_sdk_lists_every_task_of_a_project_through_next_links(sdk):
    sb, client = sdk
    rows, count = client.list_tasks_all({"project": PROJECT})
    assert count == 250 and [r["id"] for r in rows] == list(range(1001, 1251))
    queries = [r["query"] for r in sb.request_log()]
    assert queries[0] == "project=7&page_size=100"
    assert queries[1:] == ["project=7&page_size=100&page=2", "project=7&page_size=100&page=3"]


def test_the_sdk_sets_and_removes_tags_and_reads_them_back(sdk):
    _sb, client = sdk
    status, tags = client.list_task_tags({"project": PROJECT})
    assert status == 200 and {t["name"] for t in tags["results"]} == {"accepted", "rejected", "scored", "locked"}
    scored = next(t["id"] for t in tags["results"] if t["name"] == "scored")
    status, _ = client.set_tags_tasks({"ids": [1001, 1002, 1003], "tags": [scored]})
    assert status == 200
    status, _ = client.set_tags_tasks({"ids": [1002], "tags": [scored], "action": "remove"})
    assert status == 200
    rows, count = client.list_tasks_all({"project": PROJECT, "tags": scored, "fields": "id"})
    assert count == 2 and rows == [{"id": 1001}, {"id": 1003}]
    status, task = client.get_task(1001)
    assert status == 200 and task["tags"] == [scored]
    rows, _ = client.list_tasks_all({"project": PROJECT, "id__in": "1001,1002", "fields": "id"})
    assert rows == [{"id": 1001}, {"id": 1002}]


def test_the_old_set_tags_body_is_refused_as_the_sdk_model_now_forbids_it(sdk):
    _sb, client = sdk
    status, body = client._post("tasks/set_tags/", {"task_ids": [1001], "tag_ids": [51], "replace": True})
    assert status == 400 and {"task_ids", "tag_ids", "replace"} <= set(body)


def test_the_sdk_without_a_token_gets_drf_401(sdk):
    _sb, client = sdk
    client.access_token = None
    status, body = client.list_task_tags({"project": PROJECT})
    assert status == 401 and body == {"detail": "Authentication credentials were not provided."}


def test_the_provider_sends_what_the_sdk_sends(make_sandbox):
    """Headers and body shape of reconciler's own calls equal the SDK's."""
    from werkzeug.wrappers import Request

    seen: list[tuple[dict, bytes]] = []
    sb = make_sandbox(service="datamaker", synthetic=[(str(PROJECT), 3)])
    original = sb.service.route

    def spy(request: Request):
        seen.append((dict(request.headers), request.get_data()))
        return original(request)

    sb.service.route = spy
    from datamaker_helpers import label_rule, plan_and_apply, queue
    from reconciler.providers.datamaker import DatamakerProvider

    with DatamakerProvider(sb.url, sb.token, "acme") as prov:
        plan_and_apply(prov, queue(label_rule("s", {"scored": True})))
    headers, body = seen[-1]
    assert headers["Synapse-Access-Token"] == f"Token {sb.token}"
    assert headers["Synapse-Tenant"] == "Token acme"
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers
    assert json.loads(body) == {"ids": [1001, 1002, 1003], "tags": [53], "action": "add"}
