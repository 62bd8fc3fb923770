"""The session factory: endpoint policy, auth, timeouts, retries, in-flight cap, logging."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests

from local_app import Scripted, json_response, serve
from reconciler import http
from reconciler.http import BearerAuth, make_session, redact
from reconciler.netcheck import check_endpoint
from reconciler.providers.base import ConfigError

TOKEN = "sandbox-test-token"


def session(
    token: str | None = TOKEN, retries: int = 3, backoff: float = 0.01, timeout: tuple[float, float] = (2.0, 5.0)
) -> http.Session:
    return make_session(token=token, retries=retries, backoff=backoff, timeout=timeout, user_agent="reconciler-tests/1")


def list_url(sb, queue: str = "9615000") -> str:
    return f"{sb.url}/evaluation/{queue}/submission/status/all?limit=1&offset=0"


# ------------------------------------------------------------------ endpoint policy
@pytest.mark.parametrize(
    "url",
    [
        "https://repo-prod.prod.sagebase.org/repo/v1",
        "http://127.0.0.1:8080/repo/v1",
        "http://127.9.9.9/repo/v1",
        "http://[::1]:9000/repo/v1",
        "http://LOCALHOST/repo/v1",
    ],
)
def test_https_anywhere_and_plain_http_on_loopback_are_allowed(url):
    check_endpoint(url)


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "http://10.255.255.1/repo/v1",
            "endpoint 'http://10.255.255.1/repo/v1' uses plain http://, which is only allowed for a "
            "loopback address (127.0.0.1, ::1, localhost); use https://",
        ),
        (
            "http://localhost.example.com/repo/v1",
            "endpoint 'http://localhost.example.com/repo/v1' uses plain http://, which is only allowed "
            "for a loopback address (127.0.0.1, ::1, localhost); use https://",
        ),
        ("ftp://127.0.0.1/repo/v1", "endpoint 'ftp://127.0.0.1/repo/v1' must be an https:// URL"),
        (
            "repo-prod.prod.sagebase.org/repo/v1",
            "endpoint 'repo-prod.prod.sagebase.org/repo/v1' must be an https:// URL",
        ),
        ("https://user:secret@example.org/repo/v1", "endpoint must not contain credentials (user:password@)"),
        ("https://example.org:port/repo/v1", "endpoint 'https://example.org:port/repo/v1' is not a valid URL"),
    ],
)
def test_other_endpoints_are_refused(url, message):
    with pytest.raises(ConfigError) as exc:
        check_endpoint(url)
    assert str(exc.value) == message


def test_plain_http_to_a_remote_host_is_refused_before_connecting():
    started = time.monotonic()
    with pytest.raises(ConfigError, match="uses plain http://"):
        session(timeout=(30.0, 30.0)).get("http://10.255.255.1/repo/v1/userProfile")
    assert time.monotonic() - started < 1.0  # 10.255.255.1 never answers: no attempt made


def test_redirects_are_not_followed():
    app = Scripted(lambda r: json_response({}, 302, {"Location": "http://10.255.255.1/x"}))
    with serve(app) as url:
        response = session().get(url + "/anything")
    assert response.status_code == 302
    assert len(app.seen) == 1


# ---------------------------------------------------------------------- auth
def test_the_session_sends_the_bearer_token_and_user_agent():
    app = Scripted(lambda r: json_response({}))
    with serve(app) as url:
        session().get(url + "/userProfile")
    headers = app.seen[0].headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == "reconciler-tests/1"
    assert headers["Accept"] == "application/json"


def test_the_sandbox_accepts_the_session_and_refuses_a_session_without_token(sandbox):
    assert session().get(f"{sandbox.url}/userProfile").status_code == 200
    assert session(token=None).get(f"{sandbox.url}/userProfile").status_code == 401


def test_the_token_never_shows_in_reprs():
    s = session(token="s3cr3t-value")
    assert repr(s.auth) == "BearerAuth(***)"
    assert "s3cr3t-value" not in repr(vars(s))
    assert "s3cr3t-value" not in repr(BearerAuth("s3cr3t-value"))


def test_tls_verification_is_on():
    assert session().verify is True


def test_redact_scrubs_the_token_and_any_bearer_credential():
    text = "failed: token abc12345 in header Authorization: Bearer xyz.789 (abc12345)"
    assert redact(text, "abc12345") == "failed: token *** in header Authorization: Bearer *** (***)"
    assert session(token="abc12345").redact(text) == redact(text, "abc12345")
    assert redact("nothing secret", None) == "nothing secret"


@pytest.mark.parametrize("token", ["a", "id", "abc", "1234567"])
def test_a_token_too_short_to_tell_from_text_is_scrubbed_only_after_bearer(token):
    text = f"a batch id abc1234567 failed; Authorization: Bearer {token}"
    assert redact(text, token) == "a batch id abc1234567 failed; Authorization: Bearer ***"
    assert session(token=token).redact(text) == redact(text, token)


def test_a_token_long_enough_is_scrubbed_wherever_it_occurs():
    text = "x=tok-12345678&y=tok-12345678tok-12345678, Bearer tok-12345678"
    assert redact(text, "tok-12345678") == "x=***&y=******, Bearer ***"


# ------------------------------------------------------------------- timeouts
def test_every_request_gets_the_default_timeout(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], latency_ms=1000)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):  # ReadTimeout, wrapped by retries
        session(retries=0, timeout=(2.0, 0.2)).get(list_url(sb))
    assert time.monotonic() - started < 0.9


def test_an_explicit_timeout_overrides_the_default(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], latency_ms=300)
    response = session(retries=0, timeout=(2.0, 0.05)).get(list_url(sb), timeout=(2.0, 5.0))
    assert response.status_code == 200


# -------------------------------------------------------------------- retries
def test_503s_are_retried_until_an_answer(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 3)], fail_rate=0.5, random_seed=3)
    s = session(retries=10)
    for _ in range(10):
        assert s.get(list_url(sb)).status_code == 200
    statuses = [entry["status"] for entry in sb.request_log()]
    assert statuses.count(200) == 10
    assert statuses.count(503) > 0


def test_after_the_last_retry_the_failing_response_is_returned(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], fail_rate=1.0)
    response = session(retries=2).get(list_url(sb))
    assert response.status_code == 503
    assert len(sb.request_log()) == 3


def test_dropped_connections_are_retried(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 3)], drop_rate=0.5, random_seed=5)
    s = session(retries=10)
    for _ in range(10):
        assert s.get(list_url(sb)).status_code == 200
    assert any(entry.get("dropped") for entry in sb.request_log())


def test_puts_are_retried_too(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], fail_rate=1.0)
    session(retries=2).put(f"{sb.url}/evaluation/9615000/statusBatch", json={})
    assert [(e["method"], e["status"]) for e in sb.request_log()] == [("PUT", 503)] * 3


def test_client_errors_are_not_retried(sandbox):
    response = session(retries=5).get(f"{sandbox.url}/evaluation/1/submission/status/all")
    assert response.status_code == 403
    assert len(sandbox.request_log()) == 1


def test_retry_after_is_honoured_but_capped(monkeypatch):
    monkeypatch.setattr(http, "MAX_RETRY_AFTER", 0.3)
    answers = iter(
        [
            json_response({"reason": "slow"}, 429, {"Retry-After": "3600"}),
            json_response({"reason": "slow"}, 503, {"Retry-After": "soon"}),
            json_response({}),
        ]
    )
    app = Scripted(lambda r: next(answers))
    started = time.monotonic()
    with serve(app) as url:
        assert session(backoff=0.0).get(url + "/x").status_code == 200
    assert 0.3 <= time.monotonic() - started < 3.0
    assert len(app.seen) == 3


# -------------------------------------------------------------- in-flight cap
def test_at_most_three_requests_are_in_flight_per_session(make_sandbox):
    sb = make_sandbox(synthetic=[("9615000", 1)], max_concurrent=3, latency_ms=100)
    s = session(retries=0)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(s.get(list_url(sb)).status_code)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 12


# -------------------------------------------------------------------- logging
def test_each_request_is_logged_without_secrets(sandbox, caplog):
    caplog.set_level(logging.INFO, logger="reconciler.http")
    session().get(f"{sandbox.url}/evaluation/1/submission/status/all?limit=5&offset=0")
    (record,) = caplog.records
    assert record.name == "reconciler.http"
    message = record.getMessage()
    assert message.startswith("GET /repo/v1/evaluation/1/submission/status/all?limit=5&offset=0 -> 403 in ")
    assert message.endswith(" ms")
    assert TOKEN not in caplog.text


def test_a_request_without_answer_is_logged_with_its_error(caplog):
    caplog.set_level(logging.INFO, logger="reconciler.http")
    with pytest.raises(requests.exceptions.ConnectionError):
        session(retries=0).get("http://127.0.0.1:9/repo/v1/userProfile")
    (record,) = caplog.records
    assert record.getMessage().startswith("GET /repo/v1/userProfile -> NewConnectionError after ")
    assert TOKEN not in caplog.text
