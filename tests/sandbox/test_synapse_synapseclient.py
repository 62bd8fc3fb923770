"""The official `synapseclient` (4.14.0) works against the sandbox unchanged.

Both of its stacks are exercised: the legacy `syn.*` methods (requests) and the
`synapseclient.models` API (httpx). Its retries are capped (docs/synapse.md, "Retries and backoff") so that a
sandbox failure fails the test in seconds instead of after 30 minutes of retries.
"""

from __future__ import annotations

import pytest

synapseclient = pytest.importorskip("synapseclient")
from synapseclient.core.exceptions import SynapseHTTPError  # noqa: E402
from synapseclient.models import SubmissionStatus  # noqa: E402

EVAL = "9615000"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def fast_client_retries(monkeypatch):
    """The dicts are copied on every call, so patching them in place caps every retry."""
    import synapseclient.client as client

    monkeypatch.setitem(client.STANDARD_RETRY_PARAMS, "retries", 2)
    monkeypatch.setitem(client.STANDARD_RETRY_PARAMS, "wait", 0.01)
    monkeypatch.setitem(client.STANDARD_RETRY_PARAMS, "max_wait", 0.05)
    monkeypatch.setitem(client.STANDARD_RETRY_ASYNC_PARAMS, "retry_max_wait_before_failure", 1)


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox(synthetic=[(EVAL, 12)])


@pytest.fixture
def syn(sb, tmp_path):
    origin = sb.url[: -len("/repo/v1")]
    client = synapseclient.Synapse(
        repoEndpoint=sb.url,
        authEndpoint=f"{origin}/auth/v1",
        fileHandleEndpoint=f"{origin}/file/v1",
        portalEndpoint=f"{origin}/",
        skip_checks=True,
        cache_client=False,
        configPath=str(tmp_path / "missing.synapseConfig"),
        cache_root_dir=str(tmp_path / "cache"),
        silent=True,
    )
    client.login(authToken=sb.token, silent=True)
    return client


def test_login_reads_the_user_profile(sb, syn):
    assert [e["path"] for e in sb.request_log()] == ["/repo/v1/userProfile"]
    assert str(syn.credentials.owner_id) == "3350000"


def test_legacy_get_and_store_round_trip_annotations(sb, syn):
    status = syn.getSubmissionStatus("9700001")
    assert status.status == "RECEIVED" and status.statusVersion == 1
    status.status = "SCORED"
    status.submissionAnnotations["score"] = 0.75
    status.submissionAnnotations["team"] = "owls"
    stored = syn.store(status)
    assert stored.status == "SCORED" and stored.statusVersion == 2
    assert stored.etag != status.etag
    record = sb.store.get("9700001")
    assert (record.status, dict(record.tags)) == ("SCORED", {"score": (0.75,), "team": ("owls",)})
    again = syn.getSubmissionStatus("9700001")
    assert again.submissionAnnotations["score"] == [0.75]
    assert again.submissionAnnotations["team"] == ["owls"]


def test_legacy_store_of_a_stale_status_is_412_at_once(sb, syn):
    first = syn.getSubmissionStatus("9700002")
    second = syn.getSubmissionStatus("9700002")
    first.status = "SCORED"
    syn.store(first)
    second.status = "INVALID"
    with pytest.raises(SynapseHTTPError) as err:
        syn.store(second)
    assert err.value.response.status_code == 412
    assert "9700002 was updated since you last fetched it" in str(err.value)
    assert [e["status"] for e in sb.request_log()].count(412) == 1  # not retried


def test_legacy_bundle_generator_pages_until_an_empty_page(sb, syn):
    bundles = list(syn.getSubmissionBundles(EVAL, limit=5))
    assert [sub.id for sub, _ in bundles] == [str(9700001 + i) for i in range(12)]
    assert {status.status for _, status in bundles} == {"RECEIVED"}
    offsets = [e["query"] for e in sb.request_log() if e["path"].endswith("/bundle/all")]
    assert [q.split("offset=")[1] for q in offsets] == ["0", "5", "10", "12"]


def test_model_get_store_and_list(sb, syn):
    status = SubmissionStatus(id="9700003").get(synapse_client=syn)
    assert (status.status, status.status_version) == ("RECEIVED", 1)
    status.status = "VALIDATED"
    status.submission_annotations = {"auc": [0.91], "rank": [3], "note": ["ok"]}
    stored = status.store(synapse_client=syn)
    assert stored.status_version == 2
    tags = sb.store.get("9700003").tags
    assert tags == {"auc": (0.91,), "rank": (3,), "note": ("ok",)}
    page = SubmissionStatus.get_all_submission_statuses(
        evaluation_id=EVAL, status="VALIDATED", limit=10, synapse_client=syn
    )
    assert [s.id for s in page] == ["9700003"]
    assert page[0].submission_annotations["rank"] == [3]


def test_model_store_without_changes_sends_nothing(sb, syn):
    status = SubmissionStatus(id="9700004").get(synapse_client=syn)
    before = len(sb.request_log())
    status.store(synapse_client=syn)
    assert len(sb.request_log()) == before


def test_model_batch_series_with_tokens(sb, syn):
    statuses = SubmissionStatus.get_all_submission_statuses(evaluation_id=EVAL, limit=100, synapse_client=syn)
    for status in statuses:
        status.status = "ACCEPTED"
    first = SubmissionStatus.batch_update_submission_statuses(
        evaluation_id=EVAL, statuses=statuses[:6], is_first_batch=True, is_last_batch=False, synapse_client=syn
    )
    last = SubmissionStatus.batch_update_submission_statuses(
        evaluation_id=EVAL,
        statuses=statuses[6:],
        is_first_batch=False,
        is_last_batch=True,
        batch_token=first["nextUploadToken"],
        synapse_client=syn,
    )
    assert last == {}
    assert {r.status for r in sb.store.page(EVAL)} == {"ACCEPTED"}
    assert {r.version for r in sb.store.page(EVAL)} == {2}


def test_model_batch_with_a_stale_etag_is_412_and_writes_nothing(sb, syn):
    statuses = SubmissionStatus.get_all_submission_statuses(evaluation_id=EVAL, limit=3, synapse_client=syn)
    fresh = SubmissionStatus(id=statuses[1].id).get(synapse_client=syn)
    fresh.status = "SCORED"
    fresh.store(synapse_client=syn)
    for status in statuses:
        status.status = "REJECTED"
    with pytest.raises(SynapseHTTPError) as err:
        SubmissionStatus.batch_update_submission_statuses(evaluation_id=EVAL, statuses=statuses, synapse_client=syn)
    assert err.value.response.status_code == 412
    assert f"{statuses[1].id} was updated since you last fetched it" in str(err.value)
    assert sb.store.get(statuses[0].id).status == "RECEIVED"


def test_model_store_of_a_fresh_object_with_an_old_etag_is_412(sb, syn):
    old = SubmissionStatus(id="9700005").get(synapse_client=syn)
    current = SubmissionStatus(id="9700005").get(synapse_client=syn)
    current.status = "SCORED"
    current.store(synapse_client=syn)
    stale = SubmissionStatus(id="9700005", etag=old.etag, status_version=old.status_version, status="INVALID")
    with pytest.raises(SynapseHTTPError) as err:
        stale.store(synapse_client=syn)
    assert err.value.response.status_code == 412


def test_injected_503s_are_retried_by_the_client_within_the_cap(make_sandbox, tmp_path):
    from synapseclient.core.credentials.cred_data import SynapseAuthTokenCredentials

    sb = make_sandbox(synthetic=[(EVAL, 1)], fail_rate=1.0)
    client = synapseclient.Synapse(
        repoEndpoint=sb.url,
        skip_checks=True,
        cache_client=False,
        silent=True,
        configPath=str(tmp_path / "missing.synapseConfig"),
        cache_root_dir=str(tmp_path / "c"),
    )
    client.credentials = SynapseAuthTokenCredentials(sb.token)  # login without a request
    with pytest.raises(SynapseHTTPError) as err:
        client.getSubmissionStatus("9700001")
    assert err.value.response.status_code == 503
    assert [e["status"] for e in sb.request_log()] == [503, 503, 503]  # 1 try + 2 retries
