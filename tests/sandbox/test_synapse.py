"""The Synapse-compatible sandbox over real HTTP: every endpoint, error and fault."""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from reconciler.sandbox import SandboxConfig, start
from serve_process import serving
from store_rows import queue_token

SEED = {
    "queues": [
        {
            "id": "9615000",
            "items": [
                {"id": "9700001", "status": "RECEIVED", "tags": {"score": 0.5, "team": "owls"}},
                {"id": "9700002", "status": "SCORED", "locked": True},
                {"id": "9700003", "status": "SCORED", "extra": {"score": 0.3, "canCancel": True}},
            ],
        },
        {"id": "9615001", "items": [{"id": "9700010"}]},
    ]
}
STALE = "Submission Status: {} was updated since you last fetched it, retrieve it again and reapply the update"
ERROR_TYPE = "org.sagebionetworks.repo.model.ErrorResponse"


@pytest.fixture
def sb(make_sandbox, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED))
    return make_sandbox(seed=seed, synthetic=[("9615002", 25)])


def call(sb, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {sb.token}", **kwargs.pop("headers", {})}
    return requests.request(method, sb.url + path, headers=headers, timeout=10, **kwargs)


def status(sb, sub_id: str) -> dict:
    response = call(sb, "GET", f"/evaluation/submission/{sub_id}/status")
    assert response.status_code == 200, response.text
    return response.json()


def put(sb, body: dict, sub_id: str | None = None) -> requests.Response:
    return call(sb, "PUT", f"/evaluation/submission/{sub_id or body['id']}/status", json=body)


def batch(sb, eval_id: str, statuses: list, first=True, last=True, token=None):
    body = {"statuses": statuses, "isFirstBatch": first, "isLastBatch": last}
    if token is not None:
        body["batchToken"] = token
    return call(sb, "PUT", f"/evaluation/{eval_id}/statusBatch", json=body)


def reason(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["reason"]


# ----------------------------------------------------------------- auth, probes
def test_requests_without_the_bearer_token_get_401_with_www_authenticate(sb):
    bare = requests.get(sb.url + "/evaluation/submission/9700001/status", timeout=5)
    wrong = call(sb, "GET", "/evaluation/submission/9700001/status", headers={"Authorization": "Bearer nope"})
    for response in (bare, wrong):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == ('Bearer realm="Synapse Repository Services"')
    assert reason(bare) == "Missing access token: send an 'Authorization: Bearer' header."
    assert reason(wrong) == "Invalid access token."


def test_endpoint_probe_and_user_profile_serve_the_official_client_login(sb):
    assert requests.get(sb.url, timeout=5, allow_redirects=False).status_code == 200
    profile = call(sb, "GET", "/userProfile")
    assert profile.status_code == 200
    assert profile.json() == {"ownerId": "3350000", "userName": "sandbox", "emails": []}


def test_unknown_path_is_404_and_wrong_method_is_405(sb):
    assert call(sb, "GET", "/evaluation/9615000/nothing").status_code == 404
    response = call(sb, "DELETE", "/evaluation/submission/9700001/status")
    assert response.status_code == 405


# ------------------------------------------------------------------ single GET
def test_get_status_has_synapse_fields_and_typed_string_annotations(sb):
    body = status(sb, "9700001")
    assert body["id"] == "9700001" and body["status"] == "RECEIVED"
    assert body["statusVersion"] == 1
    assert body["entityId"] == "syn9700001" and body["versionNumber"] == 1
    assert body["canCancel"] is False and body["cancelRequested"] is False
    assert body["modifiedOn"].endswith("Z")
    assert body["submissionAnnotations"] == {
        "id": "9700001",
        "etag": body["etag"],
        "annotations": {"score": {"type": "DOUBLE", "value": ["0.5"]}, "team": {"type": "STRING", "value": ["owls"]}},
    }


def test_seeded_lock_is_a_boolean_annotation_and_empty_annotations_are_omitted(sb):
    assert status(sb, "9700002")["submissionAnnotations"]["annotations"] == {
        "locked": {"type": "BOOLEAN", "value": ["true"]}
    }
    third = status(sb, "9700003")
    assert "submissionAnnotations" not in third
    assert third["score"] == 0.3 and third["canCancel"] is True


def test_unknown_submission_is_404(sb):
    response = call(sb, "GET", "/evaluation/submission/123/status")
    assert response.status_code == 404
    assert response.json() == {
        "concreteType": ERROR_TYPE,
        "reason": "The resource you are attempting to access cannot be found",
    }


# ------------------------------------------------------------------ single PUT
def test_put_writes_a_new_etag_and_version_and_sets_modified_on(sb):
    old = status(sb, "9700001")
    sent = dict(old, status="SCORED", modifiedOn="2000-01-01T00:00:00.000Z")
    response = put(sb, sent)
    assert response.status_code == 200
    new = response.json()
    assert new == status(sb, "9700001")
    assert new["etag"] != old["etag"] and new["statusVersion"] == 2
    assert new["status"] == "SCORED" and new["modifiedOn"] != "2000-01-01T00:00:00.000Z"
    assert new["submissionAnnotations"]["etag"] == new["etag"]


def test_a_no_op_put_still_changes_etag_and_version(sb):
    old = status(sb, "9700003")
    new = put(sb, old).json()
    assert new["etag"] != old["etag"] and new["statusVersion"] == old["statusVersion"] + 1
    assert {k: v for k, v in new.items() if k not in ("etag", "statusVersion", "modifiedOn")} == {
        k: v for k, v in old.items() if k not in ("etag", "statusVersion", "modifiedOn")
    }


def test_put_is_full_replacement_but_submission_fields_and_unknown_keys_are_not_stored(sb):
    old = status(sb, "9700003")
    sent = {
        "id": "9700003",
        "etag": old["etag"],
        "statusVersion": 1,
        "status": "SCORED",
        "entityId": "syn1",
        "versionNumber": 7,
        "mystery": 1,
    }
    new = put(sb, sent).json()
    assert "score" not in new and "canCancel" not in new  # omitted → cleared, as Synapse
    assert (new["entityId"], new["versionNumber"]) == ("syn9700003", 1)
    assert "mystery" not in new


def test_put_accepts_json_numbers_and_returns_strings(sb):
    old = status(sb, "9700003")
    sent = dict(
        old,
        submissionAnnotations={
            "annotations": {
                "auc": {"type": "DOUBLE", "value": [0.75, 1]},
                "rank": {"type": "LONG", "value": [3]},
                "ok": {"type": "BOOLEAN", "value": [True, "FALSE"]},
                "when": {"type": "TIMESTAMP_MS", "value": ["1700000000123"]},
                "inf": {"type": "DOUBLE", "value": ["nan", "-Infinity", "∞"]},
                "tags": {"type": "STRING", "value": ["a", "b"]},
            }
        },
    )
    annotations = put(sb, sent).json()["submissionAnnotations"]["annotations"]
    assert annotations == {
        "auc": {"type": "DOUBLE", "value": ["0.75", "1.0"]},
        "rank": {"type": "LONG", "value": ["3"]},
        "ok": {"type": "BOOLEAN", "value": ["true", "false"]},
        "when": {"type": "TIMESTAMP_MS", "value": ["1700000000123"]},
        "inf": {"type": "DOUBLE", "value": ["NaN", "-Infinity", "Infinity"]},
        "tags": {"type": "STRING", "value": ["a", "b"]},
    }
    stored = sb.store.get("9700003").tags
    assert stored["rank"] == (3,) and stored["ok"] == (True, False)
    assert stored["when"][0].isoformat() == "2023-11-14T22:13:20.123000+00:00"


def test_put_with_a_different_body_id_is_400(sb):
    old = status(sb, "9700001")
    response = put(sb, old, sub_id="9700003")
    assert response.status_code == 400
    assert reason(response) == "Submission ID does not match requested ID: 9700003"


def test_put_with_a_stale_etag_is_412_and_writes_nothing(sb):
    old = status(sb, "9700001")
    put(sb, dict(old, status="SCORED"))
    response = put(sb, dict(old, status="INVALID"))
    assert response.status_code == 412
    assert reason(response) == STALE.format("9700001")
    assert status(sb, "9700001")["status"] == "SCORED"


def test_put_to_an_unknown_submission_is_404(sb):
    old = status(sb, "9700001")
    assert put(sb, dict(old, id="42")).status_code == 404


@pytest.mark.parametrize(
    "change, message",
    [
        ({"etag": None}, "eTag is required."),
        ({"status": None}, "Submission status is required."),
        ({"statusVersion": None}, "Status version is required."),
        ({"status": "DONE"}, "No enum constant org.sagebionetworks.evaluation.model.SubmissionStatusEnum.DONE"),
        ({"statusVersion": "1"}, 'JSONObject["statusVersion"] is not a number.'),
        ({"modifiedOn": "yesterday"}, "Unable to parse date-time: yesterday"),
        ({"score": 1.5}, "Scores must be between 0 and 1. Received score = 1.5"),
        (
            {"annotations": {"stringAnnos": [{"key": "a", "value": "x"}], "longAnnos": [{"key": "a", "value": 1}]}},
            "Duplicate annotations found for key: a",
        ),
    ],
)
def test_invalid_status_fields_are_400_with_synapse_messages(sb, change, message):
    response = put(sb, dict(status(sb, "9700001"), **change))
    assert response.status_code == 400
    assert reason(response) == message


@pytest.mark.parametrize(
    "annotations, message",
    [
        ({"n": {"type": "LONG", "value": ["1.5"]}}, "Value associated with key=n is not valid for type=LONG: 1.5"),
        ({"n": {"type": "DOUBLE", "value": ["abc"]}}, "Value associated with key=n is not valid for type=DOUBLE: abc"),
        (
            {"n": {"type": "BOOLEAN", "value": ["yes"]}},
            "Value associated with key=n is not valid for type=BOOLEAN: yes",
        ),
        (
            {"n": {"type": "TIMESTAMP_MS", "value": ["2024-01-01"]}},
            "Value associated with key=n is not valid for type=TIMESTAMP_MS: 2024-01-01",
        ),
        (
            {"n": {"type": "INTEGER", "value": ["1"]}},
            "No enum constant org.sagebionetworks.repo.model.annotation.v2.AnnotationsValueType.INTEGER",
        ),
        ({"n": {"value": ["1"]}}, "a value or a value type must be set for values associated with key=n"),
        ({"n": {"type": "STRING"}}, "value list for key=n can not be null"),
        (
            {"n": {"type": "STRING", "value": ["a", None]}},
            "null is not allowed. To indicate no values, use an empty list.",
        ),
        (
            {"bad key": {"type": "STRING", "value": ["a"]}},
            "Invalid annotation name: 'bad key'. Annotation names may only contain; letters, numbers, '_' and '.'",
        ),
        ({" ": {"type": "STRING", "value": ["a"]}}, "Annotation names cannot be empty strings"),
        (
            {"_AccessRequirementIds": {"type": "STRING", "value": ["a"]}},
            "Invalid annotation name: '_AccessRequirementIds'. The annotation name is a system reserved annotation.",
        ),
        (
            {"n": {"type": "STRING", "value": ["x" * 300, "y" * 201]}},
            "The sum of all string values for annotation 'n' cannot exceed 500 characters.",
        ),
        ({"n": {"type": "LONG", "value": ["1"] * 101}}, "key=n has exceeded the maximum number of values allowed: 100"),
        (
            {f"k{i}": {"type": "LONG", "value": ["1"]} for i in range(101)},
            "Exceeded maximum number of annotation keys: 100",
        ),
    ],
)
def test_invalid_annotations_are_400(sb, annotations, message):
    body = dict(status(sb, "9700001"), submissionAnnotations={"annotations": annotations})
    response = put(sb, body)
    assert response.status_code == 400
    assert reason(response) == message
    assert status(sb, "9700001")["statusVersion"] == 1


def test_a_comma_in_a_key_and_exactly_500_string_chars_are_accepted(sb):
    body = dict(
        status(sb, "9700001"),
        submissionAnnotations={"annotations": {"a,b": {"type": "STRING", "value": ["x" * 250, "y" * 250]}}},
    )
    assert put(sb, body).status_code == 200


def test_legacy_annotations_default_to_private_and_get_object_and_scope_ids(sb):
    body = dict(
        status(sb, "9700001"),
        annotations={
            "stringAnnos": [{"key": "a", "value": "x"}],
            "doubleAnnos": [{"key": "d", "value": 0.5, "isPrivate": False}],
        },
    )
    stored = put(sb, body).json()["annotations"]
    assert stored == {
        "stringAnnos": [{"key": "a", "value": "x", "isPrivate": True}],
        "doubleAnnos": [{"key": "d", "value": 0.5, "isPrivate": False}],
        "objectId": "9700001",
        "scopeId": "9615000",
    }


def test_reasons_never_carry_words_the_official_client_retries_on(sb):
    body = dict(
        status(sb, "9700001"),
        submissionAnnotations={"annotations": {"timeout": {"type": "LONG", "value": ["try again"]}}},
    )
    response = put(sb, body)
    assert response.status_code == 400
    assert reason(response) == ("Value associated with key=time-out is not valid for type=LONG: try-again")


def test_request_bodies_over_2_mib_are_413(sb):
    body = dict(status(sb, "9700001"), report="x" * (2 * 1024 * 1024))
    response = put(sb, body)
    assert response.status_code == 413
    assert reason(response) == "Request body exceeds the maximum allowed size of 2097152 bytes."


# ------------------------------------------------------------------ listings
def test_status_listing_pages_with_synapse_total_estimate(sb):
    first = call(sb, "GET", "/evaluation/9615002/submission/status/all").json()
    assert len(first["results"]) == 10  # default limit
    assert first["totalNumberOfResults"] == 11  # a full page: offset + n + 1
    assert [r["id"] for r in first["results"]] == [str(9700011 + i) for i in range(10)]
    last = call(sb, "GET", "/evaluation/9615002/submission/status/all", params={"limit": 10, "offset": 20}).json()
    assert len(last["results"]) == 5 and last["totalNumberOfResults"] == 25
    empty = call(sb, "GET", "/evaluation/9615002/submission/status/all", params={"limit": 0, "offset": 3}).json()
    assert empty == {"totalNumberOfResults": 4, "results": []}
    everything = call(sb, "GET", "/evaluation/9615002/submission/status/all", params={"limit": 100}).json()
    assert len(everything["results"]) == 25
    assert {r["statusVersion"] for r in everything["results"]} == {1}


def test_status_filter_is_trimmed_and_case_insensitive(sb):
    listed = call(sb, "GET", "/evaluation/9615000/submission/status/all", params={"status": " scored "}).json()
    assert [r["id"] for r in listed["results"]] == ["9700002", "9700003"]
    bad = call(sb, "GET", "/evaluation/9615000/submission/status/all", params={"status": "nope"})
    assert bad.status_code == 400
    assert reason(bad) == ("No enum constant org.sagebionetworks.evaluation.model.SubmissionStatusEnum.NOPE")


@pytest.mark.parametrize(
    "params, code, message",
    [
        ({"limit": 101}, 400, "limit must be between 0 and 100"),
        ({"limit": -1}, 400, "limit must be between 0 and 100"),
        ({"offset": -1}, 400, "'offset' may not be negative"),
        (
            {"limit": "ten"},
            400,
            "Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"ten\"",
        ),
    ],
)
def test_bad_paging_parameters_are_400(sb, params, code, message):
    response = call(sb, "GET", "/evaluation/9615000/submission/status/all", params=params)
    assert response.status_code == code
    assert reason(response) == message


def test_unknown_evaluation_is_403_on_both_listings(sb):
    statuses = call(sb, "GET", "/evaluation/1/submission/status/all")
    bundles = call(sb, "GET", "/evaluation/1/submission/bundle/all")
    assert (statuses.status_code, bundles.status_code) == (403, 403)
    assert reason(statuses) == "User lacks READ access to Evaluation 1"
    assert reason(bundles) == "User lacks READ_PRIVATE_SUBMISSION access to Evaluation 1"


def test_bundle_listing_pairs_submission_and_status(sb):
    page = call(sb, "GET", "/evaluation/9615000/submission/bundle/all", params={"limit": 2}).json()
    assert page["totalNumberOfResults"] == 3
    first = page["results"][0]
    assert first["submissionStatus"] == status(sb, "9700001")
    submission = first["submission"]
    assert submission["id"] == "9700001" and submission["evaluationId"] == "9615000"
    assert (submission["entityId"], submission["versionNumber"]) == ("syn9700001", 1)
    assert submission["userId"] == "3350000" and submission["createdOn"].endswith("Z")
    assert submission["name"]


# ------------------------------------------------------------------ statusBatch
def listed(sb, eval_id: str) -> list[dict]:
    return call(sb, "GET", f"/evaluation/{eval_id}/submission/status/all", params={"limit": 100}).json()["results"]


def test_single_batch_writes_all_and_answers_without_a_token(sb):
    statuses = [dict(s, status="ACCEPTED") for s in listed(sb, "9615002")]
    response = batch(sb, "9615002", statuses)
    assert response.status_code == 200 and response.json() == {}
    after = listed(sb, "9615002")
    assert {s["status"] for s in after} == {"ACCEPTED"}
    assert {s["statusVersion"] for s in after} == {2}


def test_batch_series_threads_the_evaluation_token(sb):
    statuses = [dict(s, status="ACCEPTED") for s in listed(sb, "9615002")]
    one = batch(sb, "9615002", statuses[:10], first=True, last=False)
    token = one.json()["nextUploadToken"]
    assert token == queue_token(sb.store.path, "9615002")
    two = batch(sb, "9615002", statuses[10:20], first=False, last=False, token=token)
    three = batch(sb, "9615002", statuses[20:], first=False, last=True, token=two.json()["nextUploadToken"])
    assert three.status_code == 200 and three.json() == {}
    assert {s["status"] for s in listed(sb, "9615002")} == {"ACCEPTED"}


def test_any_write_to_the_evaluation_breaks_a_series_but_not_a_first_batch(sb):
    statuses = listed(sb, "9615002")
    token = batch(sb, "9615002", statuses[:1], first=True, last=False).json()["nextUploadToken"]
    single = status(sb, statuses[5]["id"])
    assert put(sb, dict(single, status="SCORED")).status_code == 200
    stale = batch(sb, "9615002", statuses[1:2], first=False, last=True, token=token)
    assert stale.status_code == 412
    assert reason(stale) == ("Your batch token is out of date.  You must restart upload from first batch.")
    assert status(sb, statuses[1]["id"])["statusVersion"] == 1
    restarted = batch(sb, "9615002", statuses[1:2], first=True, last=True, token="ignored")
    assert restarted.status_code == 200


def test_writes_to_another_evaluation_do_not_rotate_the_token(sb):
    statuses = listed(sb, "9615002")
    token = batch(sb, "9615002", statuses[:1], first=True, last=False).json()["nextUploadToken"]
    other = status(sb, "9700010")
    assert put(sb, dict(other, status="SCORED")).status_code == 200
    assert batch(sb, "9615002", statuses[1:2], first=False, token=token).status_code == 200


def test_one_stale_etag_refuses_the_whole_batch_naming_the_first_in_request_order(sb):
    statuses = listed(sb, "9615002")
    for index in (7, 3):
        assert put(sb, status(sb, statuses[index]["id"])).status_code == 200
    sent = [dict(s, status="REJECTED") for s in statuses[:10]]
    response = batch(sb, "9615002", [sent[0], sent[7], sent[5], sent[3]])
    assert response.status_code == 412
    assert reason(response) == STALE.format(statuses[7]["id"])
    assert status(sb, statuses[0]["id"])["status"] == "RECEIVED"


@pytest.mark.parametrize(
    "body, message",
    [
        ({"isLastBatch": True, "statuses": [{}]}, "isFirstBatch is required."),
        ({"isFirstBatch": True, "statuses": [{}]}, "isLastBatch is required."),
        ({"isFirstBatch": True, "isLastBatch": True}, "statuses is required."),
        ({"isFirstBatch": True, "isLastBatch": True, "statuses": []}, "statuses is required and must not be empty."),
        ({"isFirstBatch": True, "isLastBatch": True, "statuses": [None]}, "SubmissionStatus is required."),
        (
            {"isFirstBatch": True, "isLastBatch": True, "statuses": [{"status": "RECEIVED"}]},
            "SubmissionStatus batch has no Submission Ids.",
        ),
    ],
)
def test_batch_required_fields(sb, body, message):
    response = call(sb, "PUT", "/evaluation/9615002/statusBatch", json=body)
    assert response.status_code == 400
    assert reason(response) == message


def test_batch_over_500_statuses_is_400(sb):
    one = listed(sb, "9615002")[0]
    response = batch(sb, "9615002", [one] * 501)
    assert response.status_code == 400
    assert reason(response) == "Batch size cannot exceed 500"


def test_batch_rejects_duplicates_mismatched_and_unknown_ids(sb):
    own = listed(sb, "9615002")
    cases = [
        (
            "9615002",
            [own[0], own[1], own[0]],
            400,
            f"Submission status {own[0]['id']} occurs more than once in the batch.",
        ),
        ("9615000", own[:2], 400, "Specified Evaluation ID does not match submissions in the batch."),
        ("9615002", [own[0], status(sb, "9700010")], 400, "Submission batch must be for a single Evaluation queue."),
        ("9615002", [dict(own[0], id="1"), dict(own[1], id="2")], 404, "Submissions are not found in the system."),
        ("9615002", [own[0], dict(own[1], id="2")], 404, "Submission could not be found with id :2"),
        ("9615002", [dict(own[0], etag=None)], 400, "eTag is required."),
    ]
    for eval_id, statuses, code, message in cases:
        response = batch(sb, eval_id, statuses)
        assert (response.status_code, reason(response)) == (code, message)
    assert {s["statusVersion"] for s in listed(sb, "9615002")} == {1}


def test_batch_after_the_first_needs_a_token(sb):
    response = batch(sb, "9615002", listed(sb, "9615002")[:1], first=False)
    assert response.status_code == 400
    assert reason(response) == "batchToken is required."


# ------------------------------------------------------------------ faults
def test_fail_rate_answers_503_before_processing(make_sandbox, tmp_path):
    sb = make_sandbox(synthetic=[("9615000", 1)], fail_rate=1.0)
    response = call(sb, "GET", "/evaluation/submission/9700001/status")
    assert response.status_code == 503
    assert reason(response) == "Service temporarily unavailable, please try again later."
    record = sb.store.get("9700001")
    body = {"id": "9700001", "etag": record.etag, "status": "SCORED", "statusVersion": 1}
    assert put(sb, body).status_code == 503
    assert sb.store.get("9700001") == record


def test_drop_rate_commits_then_cuts_the_connection(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], drop_rate=1.0)
    record = sb.store.get("9700001")
    body = {"id": "9700001", "etag": record.etag, "status": "SCORED", "statusVersion": 1}
    with pytest.raises(requests.ConnectionError):
        put(sb, body)
    assert sb.store.get("9700001").status == "SCORED"
    assert sb.request_log()[-1]["dropped"] is True


def test_fault_generator_is_reproducible_with_a_seed(make_sandbox):
    outcomes = []
    for _ in range(2):
        sb = make_sandbox(synthetic=[("9615000", 1)], fail_rate=0.5, random_seed=7)
        outcomes.append([call(sb, "GET", "/userProfile").status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1] and {200, 503} == set(outcomes[0])


def test_too_many_concurrent_requests_get_429_with_synapse_reason(make_sandbox):
    sb = make_sandbox(max_concurrent=1, latency_ms=400)
    results = []

    def slow() -> None:
        results.append(call(sb, "GET", "/userProfile"))

    first = threading.Thread(target=slow)
    first.start()
    time.sleep(0.15)
    second = call(sb, "GET", "/userProfile")
    first.join()
    assert results[0].status_code == 200
    assert second.status_code == 429
    assert second.json() == {"reason": "Too many concurrent requests. Allowed 1 concurrent connections at any time."}


def test_too_frequent_requests_get_429_with_synapse_reason(make_sandbox):
    sb = make_sandbox(max_per_minute=3)
    codes = [call(sb, "GET", "/userProfile").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert reason(call(sb, "GET", "/userProfile")) == (
        "Requests are too frequent. Allowed 3 requests every 60 seconds."
    )


def test_latency_is_added_to_each_request(make_sandbox):
    sb = make_sandbox(latency_ms=150)
    started = time.perf_counter()
    call(sb, "GET", "/userProfile")
    assert time.perf_counter() - started >= 0.15


# ------------------------------------------------------------------ log, setup
def test_request_log_has_one_line_per_request_and_never_the_token(sb):
    old = status(sb, "9700001")
    put(sb, old)
    requests.get(sb.url + "/userProfile", timeout=5)
    entries = sb.request_log()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/repo/v1/evaluation/submission/9700001/status", 200),
        ("PUT", "/repo/v1/evaluation/submission/9700001/status", 200),
        ("GET", "/repo/v1/userProfile", 401),
    ]
    assert set(entries[1]) == {"method", "path", "query", "status", "bytes_in", "bytes_out", "ms"}
    assert entries[1]["bytes_in"] == len(json.dumps(old))
    assert entries[0]["bytes_in"] == 0 and entries[0]["bytes_out"] > 100
    text = sb.log_path.read_text()
    assert sb.token not in text and "Authorization" not in text and "Bearer" not in text


def test_existing_store_is_reused_and_not_reseeded(make_sandbox, tmp_path):
    db = tmp_path / "kept.db"
    first = make_sandbox(db_path=db, synthetic=[("9615000", 2)])
    put(first, dict(status(first, "9700001"), status="SCORED"))
    first.stop()
    again = make_sandbox(db_path=db, synthetic=[("9615000", 50)])
    assert status(again, "9700001")["status"] == "SCORED"
    assert again.store.count("9615000") == 2


def test_a_sandbox_without_a_db_path_uses_a_temporary_store(tmp_path):
    with start(SandboxConfig(token="t", synthetic=[("1", 1)])) as running:
        path = running.db_path
        assert path.exists()
    assert not path.exists()


def test_binding_a_busy_port_is_a_user_error(sandbox, tmp_path):
    from reconciler.errors import UserError

    with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{sandbox.port}: "):
        start(SandboxConfig(token="t", db_path=tmp_path / "x.db", port=sandbox.port))


@pytest.mark.slow
def test_100k_synthetic_submissions_are_served_to_the_last_page(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 100_000)])
    page = call(sb, "GET", "/evaluation/9615000/submission/status/all", params={"limit": 100, "offset": 99_950}).json()
    assert len(page["results"]) == 50 and page["results"][-1]["id"] == "9800000"


def test_stopping_twice_is_harmless(sandbox):
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url, timeout=2)


def test_sandbox_files_live_where_configured(sb, tmp_path):
    assert sb.db_path == Path(tmp_path / "sandbox-0.db")
    assert sb.url.startswith("http://127.0.0.1:") and sb.url.endswith("/repo/v1")


def test_serve_forever_prints_its_url_and_stops_cleanly_on_interrupt(tmp_path):
    script = (
        "from reconciler.sandbox import SandboxConfig, serve_forever\n"
        "serve_forever(SandboxConfig(token='t', synthetic=[('1', 2)]))\n"
    )
    with serving(
        command=[sys.executable, "-c", script], stop=signal.SIGINT, cwd=Path(__file__).resolve().parents[2]
    ) as served:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/repo/v1) \(store: (.+)\)", served.line)
        assert match, served.line
        url, db = match.group(1), Path(match.group(2))
        response = requests.get(
            url + "/evaluation/1/submission/status/all", headers={"Authorization": "Bearer t"}, timeout=5
        )
        assert len(response.json()["results"]) == 2
    assert served.proc.returncode == 0, served.stderr
    assert not db.exists()


def test_serve_deletes_its_temporary_store_on_sigterm_too(tmp_path):
    """A service manager or `kill` stops the sandbox with SIGTERM, not Ctrl-C; the
    temporary store must go all the same (docs/sandbox.md)."""
    with serving(
        "--token",
        "t",
        "--port",
        "0",
        "--synthetic",
        "1:2",
        stop=signal.SIGTERM,
        cwd=Path(__file__).resolve().parents[2],
    ) as served:
        match = re.search(r"\(store: (.+)\)", served.line)
        assert match, served.line
        db = Path(match.group(1))
        assert db.exists()
    assert served.proc.returncode == 0, served.stderr
    assert not db.exists() and not db.parent.exists()
