"""Every answer is bounded in size and time, whatever the server does (issue 29 items 4,
6 and 11), at the session every HTTP provider uses; against HostileServer on loopback."""

from __future__ import annotations

import time

import pytest
import requests

from cli_helpers import run_cli
from hostile_server import GiB, MiB, Answer, gzip_bomb
from reconciler import http
from reconciler.answer_bounds import AnswerDeadline, AnswerTooLarge
from reconciler.http import failure_name, make_session, written
from service_cli import SERVICES, write_spec

GZIP = {"Content-Encoding": "gzip"}


def session(retries: int = 2, deadline: float | None = None, cap: int | None = None):
    return make_session(retries=retries, backoff=0.01, timeout=(2.0, 10.0), deadline=deadline, max_answer_bytes=cap)


# ------------------------------------------------------------------ size cap
def test_a_gzip_bomb_is_refused_at_the_cap_without_inflating_it(hostile):
    hostile.route("/bomb", Answer(body=gzip_bomb(256 * MiB), headers=GZIP))
    started = time.monotonic()
    with pytest.raises(AnswerTooLarge) as refused:
        session(cap=MiB).get(hostile.url + "/bomb")
    assert time.monotonic() - started < 5
    message = failure_name(refused.value)
    assert message == "answer refused: its body is over the 1 MiB cap once decoded (HTTP 200, Content-Encoding 'gzip')"
    assert len(hostile.seen) == 1  # not fetched again


def test_a_plain_body_over_the_cap_is_refused_too(hostile):
    hostile.route("/big", Answer(body=b"x" * (2 * MiB)))
    with pytest.raises(AnswerTooLarge):
        session(cap=MiB).get(hostile.url + "/big")


def test_an_error_answer_is_capped_as_well(hostile):
    hostile.route("/err", Answer(500, body=gzip_bomb(64 * MiB), headers=GZIP))
    with pytest.raises(AnswerTooLarge):
        session(retries=0, cap=MiB).get(hostile.url + "/err")


def test_answers_under_the_cap_are_read_whole_and_decoded(hostile):
    import gzip

    hostile.route("/ok", Answer(body=gzip.compress(b'{"results": [1, 2, 3]}'), headers=GZIP))
    s = session(cap=MiB)
    for _ in range(3):
        response = s.get(hostile.url + "/ok")
        assert response.json() == {"results": [1, 2, 3]}


def test_the_default_cap_refuses_a_2_gib_bomb(hostile):
    hostile.route("/bomb", Answer(body=gzip_bomb(2 * GiB), headers=GZIP))
    with pytest.raises(AnswerTooLarge, match="over the 64 MiB cap"):
        session().get(hostile.url + "/bomb")


# ------------------------------------------------------------------- deadline
@pytest.mark.parametrize("where", ["status line", "headers", "body"])
def test_an_answer_that_trickles_ends_at_the_request_deadline(hostile, where):
    # "headers": the status line whole, then a byte at a time (a cut there looks like the
    # end of the headers to http.client, and an empty body to a provider)
    hostile.route(
        "/slow",
        Answer(
            body=b'{"a": "' + b"x" * 100 + b'"}',
            trickle=0.2,
            trickle_body_only=where == "body",
            trickle_after=30 if where == "headers" else 0,
        ),
    )
    started = time.monotonic()
    with pytest.raises(AnswerDeadline) as late:
        session(deadline=1.0).get(hostile.url + "/slow")  # read timeout 10 s: never met
    assert time.monotonic() - started < 2.5
    assert failure_name(late.value) == "no complete answer within the 1 s deadline of a request"
    assert len(hostile.seen) == 1  # no attempt after the deadline


def test_a_retry_wait_past_the_deadline_is_not_waited(hostile):
    hostile.route("/x", Answer(503, body=b"{}", headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(AnswerDeadline):
        session(retries=3, deadline=1.0).get(hostile.url + "/x")
    assert time.monotonic() - started < 1
    assert len(hostile.seen) == 1


def test_the_deadline_leaves_the_session_usable(hostile):
    hostile.route("/slow", Answer(body=b"{}" * 50, trickle=0.2))
    hostile.route("/fast", Answer(body=b"{}"))
    s = session(deadline=0.5)
    with pytest.raises(AnswerDeadline):
        s.get(hostile.url + "/slow")
    assert s.get(hostile.url + "/fast").json() == {}


# ----------------------------------------------------------- 429 Retry-After
@pytest.mark.parametrize("retry_after", ["-5", "soon", "1e9x", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_a_malformed_or_past_retry_after_is_treated_as_absent(hostile, retry_after):
    throttled = Answer(429, body=b'{"reason": "slow down"}', headers={"Retry-After": retry_after})
    hostile.route("/x", [throttled, throttled, Answer(body=b"{}")])
    started = time.monotonic()
    assert session(retries=3).get(hostile.url + "/x").status_code == 200
    assert time.monotonic() - started < 2  # backoff of 0.01 s, not a wait the header made up
    assert len(hostile.seen) == 3


def test_waits_for_429s_end_at_the_request_deadline(hostile):
    hostile.route("/x", Answer(429, body=b"{}", headers={"Retry-After": "30"}))
    started = time.monotonic()
    response = session(retries=5, deadline=1.0).get(hostile.url + "/x")
    assert response.status_code == 429  # the answer stands; the provider reports it
    assert time.monotonic() - started < 2
    assert len(hostile.seen) == 1


def test_a_redirect_is_returned_as_it_is_never_followed(hostile):
    hostile.route("/moved", Answer(307, headers={"Location": hostile.url + "/elsewhere"}))
    response = session().put(hostile.url + "/moved", data=b"[]")
    assert response.status_code == 307 and [r.path for r in hostile.seen] == ["/moved"]
    assert response.ok and not written(response)


def test_requests_exceptions_still_catch_every_refusal():
    assert issubclass(AnswerTooLarge, requests.RequestException)
    assert issubclass(AnswerDeadline, requests.Timeout)


# ------------------------------------------------- through each provider, the CLI
@pytest.fixture
def small_bounds(monkeypatch):
    monkeypatch.setattr(http, "REQUEST_DEADLINE", 1.0)
    monkeypatch.setattr(http, "MAX_ANSWER_BYTES", MiB)


HOSTILE = {
    "gzip-bomb": (Answer(body=gzip_bomb(64 * MiB), headers=GZIP), "over the 1 MiB cap once decoded"),
    "trickle": (Answer(body=b"{}" * 100, trickle=0.2), "no complete answer within the 1 s deadline"),
}


@pytest.mark.parametrize("answer", sorted(HOSTILE))
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_provider_ends_a_hostile_answer_in_one_line(hostile, tmp_path, small_bounds, name, answer):
    body, words = HOSTILE[answer]
    hostile.route("/", body)
    service = SERVICES[name]
    started = time.monotonic()
    result = run_cli(
        "plan", write_spec(service, hostile.url, tmp_path), env=service.env(hostile.url, "token-1234567890", tmp_path)
    )
    assert time.monotonic() - started < 5
    assert result.code == 1 and len(result.err.splitlines()) == 1, result.err
    assert words in result.err, result.err
