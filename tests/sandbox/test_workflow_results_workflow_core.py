"""The official CHIME/FRB client, workflow-core 1.12.3 (`workflow.http.results.Results`),
against the Results fake, unchanged: every Results call it makes, at its own paths,
headers and bodies."""

from __future__ import annotations

import pytest
import requests

from conftest import SANDBOX_TOKEN

# pydantic-settings warns that the client's secrets_dir (/run/secrets) does not exist
pytestmark = pytest.mark.filterwarnings('ignore:directory "/run/secrets" does not exist')

results_module = pytest.importorskip("workflow.http.results", reason="workflow-core is not installed")

PIPELINE = "frb-search"
TOKEN_ENVS = ("WORKFLOW_HTTP_TOKEN", "WORKFLOW_TOKEN", "GITHUB_TOKEN", "GITHUB_PAT")


@pytest.fixture
def client(make_sandbox, monkeypatch):
    """A Results client on the fake. The client's default Session is one object shared
    by every instance (a pydantic field default) and keeps the token in its headers, so
    each test passes its own; the token comes from the environment as in real use."""
    sb = make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 120)])
    for name in TOKEN_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", sb.url)
    session = requests.Session()
    yield results_module.Results(session=session), sb
    session.close()


def test_construction_probes_version_without_the_token(client):
    _, sb = client
    first = sb.request_log()[0]
    assert (first["method"], first["path"], first["status"]) == ("HEAD", "/version", 200)


def test_info_status_count_and_view(client):
    results, _sb = client
    assert results.info()["server"]["service"] == "workflow-results"
    assert results.status() == {PIPELINE: 120}
    assert results.count(PIPELINE, {}) == 120
    page = results.view(PIPELINE, {}, skip=100)
    assert len(page) == 20
    assert len(results.view(PIPELINE, {}, limit=-1)) == 120
    assert results.get_by_count(PIPELINE, 3)[0]["id"] == "660000000000000000000001"


def test_deposit_get_by_id_update_and_delete(client):
    results, sb = client
    payload = {
        "pipeline": PIPELINE,
        "site": "chime",
        "user": "tester",
        "status": "failure",
        "tags": ["rfi"],
        "results": {"snr": 12.5},
        "event": [9386707],
        "parameters": {"dm": 50},
    }
    assert results.deposit([payload]) == {PIPELINE: True}
    (stored,) = results.get_by_event(PIPELINE, 9386707)
    assert stored["results"] == {"snr": 12.5} and stored["tags"] == ["rfi"]
    (again,) = results.get_by_id(PIPELINE, [stored["id"]])
    assert again == stored
    again["status"] = "success"
    assert results.update([again]) is True
    assert results.get_by_id(PIPELINE, [stored["id"]])[0]["status"] == "success"
    assert results.delete_ids(PIPELINE, [stored["id"]]) == {PIPELINE: True}
    assert results.get_by_id(PIPELINE, [stored["id"]]) == []
    assert [e["method"] + " " + e["path"] for e in sb.request_log()[-3:]] == [
        "POST /view",
        "DELETE /results",
        "POST /view",
    ]


def test_lock_and_forced_unlock(client):
    results, sb = client
    ids = [w["id"] for w in results.get_by_count(PIPELINE, 3)]
    assert results.lock(PIPELINE, ids[:2]) is True
    assert results.get_locked_count(PIPELINE) == 2
    locked = results.get_locked(PIPELINE)
    assert sorted(w["id"] for w in locked) == sorted(ids[:2])
    assert set(locked[0]) == {"id", "event", "results"}  # its projection (the others are absent)
    # A locked work refuses an update that keeps it locked: lock() again fails
    with pytest.raises(requests.HTTPError) as refused:
        results.lock(PIPELINE, ids[:1])
    assert refused.value.response.status_code == 409
    assert results.unlock(PIPELINE, ids[:2], force=True) is True
    assert results.get_locked_count(PIPELINE) == 0
    assert sb.store.get(PIPELINE, ids[0])["results"] == {"locked": False}


def test_the_client_sends_its_token_header_and_json_content_type(client):
    results, _ = client
    headers = results.session.headers
    assert headers["x-access-token"] == SANDBOX_TOKEN
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"] == "workflow-client"
