"""The HealthOmics fake against the official client (botocore), over HTTP on loopback."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

pytest.importorskip("botocore")
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from reconciler.sandbox import omics as fake

GROUP = "4242"


def client(sb, key: str | None = None, **config):
    return botocore.session.get_session().create_client(
        "omics",
        region_name="us-east-1",
        endpoint_url=sb.root,
        aws_access_key_id=key or sb.token,
        aws_secret_access_key="x",
        config=Config(inject_host_prefix=False, **config),
    )


@pytest.fixture
def sb(make_sandbox):
    """One host for both operation groups (`--quirk one-host`): the dialect tests need one
    client; the two-host mode has tests of its own below."""
    return make_sandbox(
        service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 23), ("77", 2)], quirks={"one-host": ""}
    )


def error_of(call, *args, **kwargs) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_synthetic_batches_rotate_through_every_status_without_tags(sb):
    c = client(sb)
    items = [i for page in c.get_paginator("list_batch").paginate(runGroupId=GROUP) for i in page["items"]]
    assert [i["id"] for i in items] == [str(fake.FIRST_SYNTHETIC_ID + n) for n in range(23)]
    assert [i["status"] for i in items[:11]] == list(fake.STATUSES)
    assert set(items[0]) == {"id", "name", "status", "createdAt", "totalRuns", "workflowId"}
    batch = c.get_batch(batchId=items[0]["id"])
    assert batch["tags"] == {} and batch["defaultRunSetting"]["runGroupId"] == GROUP
    assert batch["arn"] == f"arn:aws:omics:us-east-1:123456789012:runBatch/{items[0]['id']}"
    assert batch["creationTime"].year == 2025  # ISO-8601, parsed by botocore


def test_list_batch_pages_with_max_items_and_tokens_one_filter_per_call(sb):
    c = client(sb)
    pages = list(c.get_paginator("list_batch").paginate(runGroupId=GROUP, PaginationConfig={"PageSize": 10}))
    assert [len(p["items"]) for p in pages] == [10, 10, 3]
    assert "nextToken" not in pages[-1]
    everything = c.list_batch(maxItems=100)["items"]
    assert len(everything) == 25  # no filter: every run group
    assert [i["status"] for i in c.list_batch(status="STOPPING")["items"]] == ["STOPPING"] * 2
    code, status, message = error_of(c.list_batch, runGroupId=GROUP, status="PENDING")
    assert (code, status) == ("ValidationException", 400) and "one filter" in message
    token = c.list_batch(runGroupId=GROUP, maxItems=5)["nextToken"]
    code, _, message = error_of(c.list_batch, status="PENDING", startingToken=token)
    assert code == "ValidationException" and "another filter" in message


def test_max_items_out_of_range_is_refused_by_the_fake_too(sb):
    got = requests.get(f"{sb.root}/runBatch?maxItems=101", headers=signed_headers(sb), timeout=10)
    assert got.status_code == 400
    assert got.headers["x-amzn-ErrorType"] == "ValidationException"
    assert "maxItems" in got.json()["message"]


def test_tags_upsert_and_delete_by_percent_encoded_arn(sb, make_sandbox):
    c = client(sb)
    arn = c.get_batch(batchId="1000002")["arn"]
    c.tag_resource(resourceArn=arn, tags={"owner": "ana", "stage": "1"})
    c.tag_resource(resourceArn=arn, tags={"stage": "2"})
    c.untag_resource(resourceArn=arn, tagKeys=["owner", "absent"])
    assert c.list_tags_for_resource(resourceArn=arn)["tags"] == {"stage": "2"}
    assert c.get_batch(batchId="1000002")["tags"] == {"stage": "2"}
    paths = [(e["method"], e["path"], e["status"]) for e in sb.request_log()]
    encoded = quote(arn, safe="")
    assert ("POST", f"/tags/{arn}", 204) in paths  # werkzeug logs the decoded path
    assert encoded.count("%2F") == 1 and encoded.count("%3A") == 5


def test_an_arn_with_a_bare_slash_is_no_route(sb):
    arn = "arn:aws:omics:us-east-1:123456789012:runBatch/1000002"
    got = requests.get(f"{sb.root}/tags/{arn}", headers=signed_headers(sb), timeout=10)
    assert got.status_code == 404


def test_tag_rules_are_refused(sb):
    c = client(sb)
    arn = c.get_batch(batchId="1000002")["arn"]
    assert error_of(c.tag_resource, resourceArn=arn, tags={"aws:owner": "x"})[0] == "ValidationException"
    assert error_of(c.tag_resource, resourceArn=arn, tags={"k": "v" * 257})[0] == "ValidationException"
    code, _, message = error_of(c.tag_resource, resourceArn=arn, tags={f"k{n}": "v" for n in range(51)})
    assert code == "ValidationException" and "50" in message
    missing = arn.replace("1000002", "999")
    assert error_of(c.tag_resource, resourceArn=missing, tags={"a": "b"})[:2] == ("ResourceNotFoundException", 404)


def test_cancel_moves_to_stopping_then_cancelled_after_reads(sb):
    c = client(sb)
    sb.service.settle_reads = 2
    assert c.cancel_run_batch(batchId="1000004")["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert c.get_batch(batchId="1000004")["status"] == "STOPPING"
    code, status, _ = error_of(c.cancel_run_batch, batchId="1000004")
    assert (code, status) == ("ConflictException", 409)
    assert c.get_batch(batchId="1000004")["status"] == "CANCELLED"
    assert c.get_batch(batchId="1000004")["submissionSummary"]["successfulCancelSubmissionCount"] == 3
    code, status, message = error_of(c.cancel_run_batch, batchId="1000004")
    assert (code, status) == ("ConflictException", 409) and "CANCELLED" in message


def test_status_never_moves_on_its_own(sb):
    c = client(sb)
    before = [i["status"] for i in c.list_batch(runGroupId=GROUP)["items"]]
    for _ in range(5):
        assert [i["status"] for i in c.list_batch(runGroupId=GROUP)["items"]] == before


@pytest.mark.parametrize("status", ["CREATING", "PROCESSED", "FAILED", "RUNS_DELETED"])
def test_cancel_from_a_non_cancellable_state_is_a_conflict_as_on_aws(sb, status):
    """AWS answers a wrong-state CancelRunBatch with ConflictException (409: "cannot be
    applied to the target resource in its current state"), not a ValidationException."""
    c = client(sb)
    batch_id = str(fake.FIRST_SYNTHETIC_ID + fake.STATUSES.index(status))
    code, status_code, message = error_of(c.cancel_run_batch, batchId=batch_id)
    assert (code, status_code) == ("ConflictException", 409) and status in message
    assert "current state" in message


def test_unknown_batch_is_not_found(sb):
    c = client(sb)
    assert error_of(c.get_batch, batchId="5")[:2] == ("ResourceNotFoundException", 404)
    assert error_of(c.cancel_run_batch, batchId="5")[:2] == ("ResourceNotFoundException", 404)


def test_a_wrong_access_key_or_no_signature_is_access_denied(sb):
    code, status, message = error_of(client(sb, key="AKIDOTHER").get_batch, batchId="1000001")
    assert (code, status) == ("AccessDeniedException", 403)
    assert "AKIDOTHER" not in message and sb.token not in message
    unsigned = requests.get(f"{sb.root}/runBatch/1000001", timeout=10)
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_throttles_answer_as_botocore_parses_them(make_sandbox):
    sb = make_sandbox(service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 3)], max_per_minute=2)
    c = client(sb, retries={"mode": "standard", "total_max_attempts": 1})
    c.get_batch(batchId="1000001")
    c.get_batch(batchId="1000001")
    code, status, message = error_of(c.get_batch, batchId="1000001")
    assert (code, status) == ("ThrottlingException", 429) and "Rate exceeded" in message


def test_injected_503s_are_retried_by_botocore(make_sandbox):
    sb = make_sandbox(service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 3)], fail_rate=0.5, random_seed=3)
    c = client(sb, retries={"mode": "standard", "total_max_attempts": 10})
    for _ in range(5):
        assert c.get_batch(batchId="1000001")["id"] == "1000001"
    statuses = [e["status"] for e in sb.request_log()]
    assert 503 in statuses and statuses.count(200) == 5


def test_synthetic_needs_a_numeric_run_group(make_sandbox):
    from reconciler.errors import UserError

    with pytest.raises(UserError, match="run group id"):
        make_sandbox(service="omics", synthetic=[("rg-1", 2)])


def test_state_persists_in_the_db(make_sandbox, tmp_path):
    db = tmp_path / "omics.db"
    first = make_sandbox(
        service="omics", token="AKIDSANDBOX", db_path=db, synthetic=[(GROUP, 3)], quirks={"one-host": ""}
    )
    arn = client(first).get_batch(batchId="1000001")["arn"]
    client(first).tag_resource(resourceArn=arn, tags={"kept": "yes"})
    first.stop()
    again = make_sandbox(
        service="omics", token="AKIDSANDBOX", db_path=db, synthetic=[(GROUP, 3)], quirks={"one-host": ""}
    )
    assert client(again).get_batch(batchId="1000001")["tags"] == {"kept": "yes"}
    assert len(client(again).list_batch()["items"]) == 3


def signed_headers(sb) -> dict:
    """What a SigV4 client sends in Authorization (the fake does not check signatures)."""
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={sb.token}/20250101/us-east-1/omics/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=00"
    }


# ------------------------------------------------------------------ two hosts (default)
def two_clients(sb):
    """One botocore client per AWS host, as with the two VPC endpoints."""
    return (
        botocore.session.get_session().create_client(
            "omics",
            region_name="us-east-1",
            endpoint_url=sb.roots[host],
            aws_access_key_id=sb.token,
            aws_secret_access_key="x",
            config=Config(inject_host_prefix=False, retries={"total_max_attempts": 1}),
        )
        for host in ("workflows", "tags")
    )


def test_by_default_batch_and_tag_operations_are_served_on_two_ports(make_sandbox):
    sb = make_sandbox(service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 2)])
    assert set(sb.roots) == {"workflows", "tags"} and sb.root == sb.roots["workflows"]
    assert sb.roots["workflows"] != sb.roots["tags"]
    workflows, tags = two_clients(sb)
    arn = workflows.get_batch(batchId="1000001")["arn"]
    tags.tag_resource(resourceArn=arn, tags={"a": "b"})
    assert tags.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "b"}
    assert workflows.list_batch(runGroupId=GROUP)["items"][0]["id"] == "1000001"


def test_a_call_to_the_wrong_host_is_an_unknown_operation_as_on_aws(make_sandbox):
    sb = make_sandbox(service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 2)])
    workflows, tags = two_clients(sb)
    arn = workflows.get_batch(batchId="1000001")["arn"]
    for call, params in (
        (workflows.tag_resource, {"resourceArn": arn, "tags": {"a": "b"}}),
        (workflows.untag_resource, {"resourceArn": arn, "tagKeys": ["a"]}),
        (tags.get_batch, {"batchId": "1000001"}),
        (tags.list_batch, {}),
        (tags.cancel_run_batch, {"batchId": "1000002"}),
    ):
        code, status, _ = error_of(call, **params)
        assert (code, status) == ("UnknownOperationException", 404), call
    assert fake.batches(sb.store).__next__()["tags"] == {}
    assert [b["status"] for b in fake.batches(sb.store)] == ["CREATING", "PENDING"]


def test_list_batch_default_page_is_100_as_documented(make_sandbox):
    sb = make_sandbox(service="omics", token="AKIDSANDBOX", synthetic=[(GROUP, 101)], quirks={"one-host": ""})
    page = client(sb).list_batch()
    assert len(page["items"]) == 100 and page["nextToken"]


def test_the_tags_host_takes_the_next_port_and_a_taken_one_is_one_clear_error(make_sandbox):
    import socket

    from reconciler.errors import UserError

    def free_pair() -> int:
        for _ in range(50):
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", 0))
                try:
                    second.bind(("127.0.0.1", first.getsockname()[1] + 1))
                except OSError:
                    continue
                return first.getsockname()[1]
        pytest.skip("no two free consecutive ports")

    port = free_pair()
    try:
        sb = make_sandbox(service="omics", token="AKIDSANDBOX", port=port)
    except UserError:
        pytest.skip("the port pair was taken meanwhile")
    assert sb.roots == {"workflows": f"http://127.0.0.1:{port}", "tags": f"http://127.0.0.1:{port + 1}"}
    sb.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port + 1}"):
            make_sandbox(service="omics", token="AKIDSANDBOX", port=port)
