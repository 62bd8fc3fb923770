"""Contract tests: what the sandbox answers and what the provider sends, checked against
Synapse's official JSON schemas (vendored in tests/contract/synapse-schemas, translated by synapse_schemas)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from local_app import Scripted, json_response, serve
from reconciler.model import Change, FieldChange, Item, QueueSpec, Source
from reconciler.providers.synapse import SynapseProvider, batch_body, encode_body
from reconciler.providers.synapse_annotations import status_for_write
from reconciler.store import NewItem
from synapse_schemas import errors, paginated, schema


QUEUE = "9615000"
STATUS = "org.sagebionetworks.evaluation.model.SubmissionStatus"
BUNDLE = "org.sagebionetworks.evaluation.model.SubmissionBundle"
BATCH = "org.sagebionetworks.evaluation.model.SubmissionStatusBatch"
BATCH_RESPONSE = "org.sagebionetworks.evaluation.model.BatchUploadResponse"
ERROR = "org.sagebionetworks.repo.model.ErrorResponse"
LEGACY = {
    "objectId": "1",
    "scopeId": QUEUE,
    "stringAnnos": [{"key": "team", "value": "blue", "isPrivate": False}],
    "longAnnos": [{"key": "n", "value": 3, "isPrivate": True}],
    "doubleAnnos": [{"key": "x", "value": 0.5, "isPrivate": True}],
}
WHEN = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)


@pytest.fixture
def sb(make_sandbox):
    sandbox = make_sandbox(synthetic=[(QUEUE, 150)])
    sandbox.store.insert(
        QUEUE,
        [
            NewItem(
                id="1",
                status="SCORED",
                tags={
                    "auc": (0.91, float("nan")),
                    "rank": (2,),
                    "when": (WHEN,),
                    "who": ("a", "b"),
                    "ok": (False,),
                    "locked": (True,),
                },
                extra={
                    "annotations": LEGACY,
                    "score": 0.5,
                    "report": "fine",
                    "canCancel": True,
                    "cancelRequested": False,
                },
            ),
        ],
    )
    return sandbox


def get(sb, path: str, token: str | None = None) -> requests.Response:
    return requests.get(sb.url + path, headers={"Authorization": f"Bearer {token or sb.token}"}, timeout=10)


def put(sb, path: str, body: Any) -> requests.Response:
    return requests.put(sb.url + path, json=body, headers={"Authorization": f"Bearer {sb.token}"}, timeout=10)


def provider(url: str) -> SynapseProvider:
    return SynapseProvider(url, "sandbox-test-token", retries=0, timeout=(2.0, 10.0))


def queue() -> QueueSpec:
    return QueueSpec(id=QUEUE, source=Source("spec.yaml", 1))


# ------------------------------------------------------------ the translation
def test_the_translated_schemas_reject_what_synapse_would_not_parse():
    bad = {
        "id": "1",
        "etag": "e",
        "status": "DONE",
        "modifiedOn": "yesterday",
        "statusVersion": "1",
        "colour": "red",
        "submissionAnnotations": {
            "annotations": {
                "auc": {"type": "DOUBLE", "value": [0.5]},
                "who": {"type": "NAME", "value": ["a"]},
                "k": {"value": ["x"]},
            }
        },
        "annotations": {"stringAnnos": [{"key": "a", "value": "b", "isPrivate": "no"}]},
    }
    assert errors(bad, schema(STATUS)) == [
        "(root): Additional properties are not allowed ('colour' was unexpected)",
        "annotations/stringAnnos/0/isPrivate: 'no' is not of type 'boolean'",
        "modifiedOn: 'yesterday' is not a 'date-time'",
        "status: 'DONE' is not one of ['OPEN', 'CLOSED', 'SCORED', 'INVALID', 'VALIDATED', "
        "'EVALUATION_IN_PROGRESS', 'RECEIVED', 'REJECTED', 'ACCEPTED']",
        "statusVersion: '1' is not of type 'integer'",
        "submissionAnnotations/annotations/auc/value/0: 0.5 is not of type 'string'",
        "submissionAnnotations/annotations/k: 'type' is a required property",
        "submissionAnnotations/annotations/who/type: 'NAME' is not one of ['STRING', 'DOUBLE', "
        "'LONG', 'TIMESTAMP_MS', 'BOOLEAN']",
    ]


# ------------------------------------------------------------ sandbox answers
def test_a_status_matches_the_submission_status_schema(sb):
    body = get(sb, "/evaluation/submission/1/status").json()
    assert errors(body, schema(STATUS)) == []
    assert body["submissionAnnotations"]["annotations"]["when"]["value"] == ["1714564800250"]


def test_status_pages_match_paginated_results(sb):
    for offset in (0, 100, 151):
        page = get(sb, f"/evaluation/{QUEUE}/submission/status/all?limit=100&offset={offset}").json()
        assert errors(page, paginated(STATUS)) == []


def test_bundle_pages_match_paginated_results(sb):
    page = get(sb, f"/evaluation/{QUEUE}/submission/bundle/all?limit=100&offset=100").json()
    assert len(page["results"]) == 51
    assert errors(page, paginated(BUNDLE)) == []


def test_batch_responses_match_batch_upload_response(sb):
    status = get(sb, "/evaluation/submission/1/status").json()
    first = put(
        sb, f"/evaluation/{QUEUE}/statusBatch", {"statuses": [status], "isFirstBatch": True, "isLastBatch": False}
    )
    assert first.status_code == 200
    assert errors(first.json(), schema(BATCH_RESPONSE)) == []
    assert isinstance(first.json()["nextUploadToken"], str)
    status = get(sb, "/evaluation/submission/1/status").json()
    last = put(
        sb,
        f"/evaluation/{QUEUE}/statusBatch",
        {
            "statuses": [status],
            "isFirstBatch": False,
            "isLastBatch": True,
            "batchToken": first.json()["nextUploadToken"],
        },
    )
    assert (last.status_code, last.json()) == (200, {})
    assert errors(last.json(), schema(BATCH_RESPONSE)) == []


def test_error_bodies_match_error_response(sb, make_sandbox):
    status = get(sb, "/evaluation/submission/1/status").json()
    stale = dict(status, etag="old")
    answers = [
        get(sb, "/evaluation/submission/424242/status"),  # 404
        get(sb, "/evaluation/404404/submission/status/all"),  # 403
        get(sb, f"/evaluation/{QUEUE}/submission/status/all?limit=101"),  # 400
        get(sb, "/evaluation/submission/1/status", token="wrong"),  # 401
        put(
            sb, f"/evaluation/{QUEUE}/statusBatch", {"statuses": [stale], "isFirstBatch": True, "isLastBatch": True}
        ),  # 412
        put(
            sb,
            f"/evaluation/{QUEUE}/statusBatch",
            {"statuses": [dict(status, report="x" * (2 * 1024 * 1024))], "isFirstBatch": True, "isLastBatch": True},
        ),  # 413
        get(make_sandbox(fail_rate=1.0), "/userProfile"),  # 503
    ]
    assert [a.status_code for a in answers] == [404, 403, 400, 401, 412, 413, 503]
    for answer in answers:
        assert errors(answer.json(), schema(ERROR)) == [], answer.text


def test_throttle_bodies_match_error_response(make_sandbox):
    sandbox = make_sandbox(max_per_minute=1)
    get(sandbox, "/userProfile")
    throttled = get(sandbox, "/userProfile")
    assert throttled.status_code == 429
    assert errors(throttled.json(), schema(ERROR)) == []


# ----------------------------------------------------------- provider requests
def changes_for(items: list[Item]) -> list[Change]:
    def change(item: Item, lock: str | None, *fields: tuple[str, Any]) -> Change:
        return Change(
            item.id, item.etag, tuple(FieldChange(n, None, a, None) for n, a in fields), base=item.base, lock=lock
        )  # type: ignore[arg-type]

    by_id = {i.id: i for i in items}
    return [
        change(
            by_id["1"],
            "unlock",
            ("status", "ACCEPTED"),
            ("locked", False),
            ("tags.auc", None),
            ("tags.rank", (3,)),
            ("tags.when", (WHEN,)),
            ("tags.extra", ("x", "y")),
        ),
        change(by_id["9700001"], "lock", ("locked", True), ("tags.score", (float("inf"),)), ("tags.ok", (True,))),
        change(by_id["9700002"], None, ("status", "INVALID")),
    ]


def test_the_batch_the_provider_sends_matches_the_schema(sb):
    items = provider(sb.url).list_items(queue())
    changes = changes_for(items)
    recorder = Scripted(lambda r: json_response({}))
    with serve(recorder) as url:
        provider(url).write(queue(), changes)
    (request,) = recorder.seen
    assert request.body == encode_body(batch_body([status_for_write(c, "locked") for c in changes]))
    body = json.loads(request.body)
    assert errors(body, schema(BATCH)) == []
    assert (body["isFirstBatch"], body["isLastBatch"], "batchToken" in body) == (True, True, False)
    for status in body["statuses"]:
        # What the server requires on write beyond the schema (docs/sandbox.md, "What is faithful to Synapse").
        assert {"id", "etag", "status", "statusVersion"} <= set(status)
        assert "modifiedOn" not in status
        for entry in status.get("submissionAnnotations", {}).get("annotations", {}).values():
            assert entry["value"] and all(isinstance(v, str) for v in entry["value"])
    assert body["statuses"][0]["annotations"] == dict(LEGACY, objectId="1", scopeId=QUEUE)


def test_the_batch_the_provider_sends_is_accepted_and_reads_back(sb):
    p = provider(sb.url)
    p.write(queue(), changes_for(p.list_items(queue())))
    fresh = {i.id: i for i in p.get(queue(), ["1", "9700001", "9700002"])}
    assert (fresh["1"].status, fresh["1"].locked) == ("ACCEPTED", False)
    assert fresh["1"].tags == {"rank": (3,), "when": (WHEN,), "who": ("a", "b"), "ok": (False,), "extra": ("x", "y")}
    assert (fresh["9700001"].locked, fresh["9700001"].tags) == (True, {"score": (float("inf"),), "ok": (True,)})
    assert fresh["9700002"].status == "INVALID"


def test_a_status_written_by_the_official_client_is_sent_back_schema_valid():
    base = {
        "id": "5",
        "etag": "e",
        "status": "RECEIVED",
        "statusVersion": 1,
        "entityId": "syn1",
        "versionNumber": 1,
        "canCancel": False,
        "cancelRequested": False,
        "submissionAnnotations": {
            "id": "5",
            "etag": "e",
            "annotations": {
                "score": {"type": "DOUBLE", "value": [0.75]},
                "n": {"type": "LONG", "value": [4]},
                "flag": {"type": "STRING", "value": ["true"]},
            },
        },
    }
    change = Change("5", "e", (FieldChange("status", "RECEIVED", "SCORED", None),), base=base)
    body = batch_body([status_for_write(change, "locked")])
    assert errors(body, schema(BATCH)) == []
