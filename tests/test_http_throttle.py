"""Synapse's per-user request allowance (a sliding window, 429 without Retry-After):
the session waits it out from its own request times instead of backing off blindly."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import pytest

from local_app import Scripted, json_response, serve
from reconciler.http import Session, make_session
from reconciler.providers.synapse import MAX_IN_FLIGHT, THROTTLE

TOKEN = "sandbox-test-token"


def session(retries: int) -> Session:
    return make_session(
        token=TOKEN,
        retries=retries,
        backoff=0.01,
        timeout=(2.0, 5.0),
        user_agent="reconciler-tests/1",
        max_in_flight=MAX_IN_FLIGHT,
        dialect=THROTTLE,
    )


def sliding_window(count: int, period: float, reason: str | None = None, used: int = 0) -> Scripted:
    """Synapse's UserRequestFrequencyThrottler in miniature: refused requests do not count;
    `used` requests were made just now by another client with the same token."""
    admitted: deque[float] = deque([time.monotonic()] * used)
    lock = threading.Lock()
    text = reason or f"Requests are too frequent. Allowed {count} requests every {period:g} seconds."

    def respond(request):
        with lock:
            now = time.monotonic()
            while admitted and now - admitted[0] >= period:
                admitted.popleft()
            if len(admitted) >= count:
                return json_response({"reason": text}, 429)
            admitted.append(now)
        return json_response({"results": []})

    return Scripted(respond)


@pytest.mark.slow  # waits out a real 2 s throttle
def test_a_too_frequent_429_is_waited_out_once_and_later_requests_are_paced():
    app = sliding_window(5, 1)
    started = time.monotonic()
    with serve(app) as url:
        s = session(retries=1)  # one retry: blind backoff (0.01 s) could never outlast 1 s
        codes = [s.get(f"{url}/x").status_code for _ in range(12)]
    elapsed = time.monotonic() - started
    assert codes == [200] * 12
    assert len(app.seen) == 13  # the allowance is learnt from one 429, then respected
    assert 1.9 <= elapsed < 4.0  # 5 + 5 + 2 requests: two waits of about a second


@pytest.mark.slow  # 18 requests through a real 5-per-second window
def test_threads_sharing_a_session_never_take_the_same_free_place_in_the_window():
    """Three readers on one session (Synapse's 3 in flight): once the allowance is known,
    a place that frees up lets one request through, not one per waiting thread. Only
    the requests already in flight when the first 429 taught the allowance are refused."""
    app = sliding_window(5, 1)
    codes: list[int] = []
    with serve(app) as url:
        s = session(retries=3)

        def read() -> None:
            for _ in range(6):
                codes.append(s.get(f"{url}/x").status_code)

        threads = [threading.Thread(target=read) for _ in range(MAX_IN_FLIGHT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert codes == [200] * 18
    assert 18 < len(app.seen) <= 18 + MAX_IN_FLIGHT


def test_a_session_under_the_allowance_is_never_delayed():
    app = sliding_window(50, 60)
    started = time.monotonic()
    with serve(app) as url:
        s = session(retries=1)
        assert [s.get(f"{url}/x").status_code for _ in range(20)] == [200] * 20
    assert time.monotonic() - started < 1.5
    assert len(app.seen) == 20


def test_a_throttle_that_names_no_allowance_is_backed_off_and_the_429_returned_at_last():
    app = sliding_window(0, 1, reason="Too many concurrent requests. Allowed 3 concurrent connections at any time.")
    with serve(app) as url:
        response = session(retries=2).get(f"{url}/x")
    assert response.status_code == 429
    assert len(app.seen) == 3


def test_a_window_filled_by_another_client_is_backed_off_not_spun_on():
    app = sliding_window(3, 1, used=3)  # this session's own requests explain nothing
    started = time.monotonic()
    with serve(app) as url:
        response = session(retries=3).get(f"{url}/x")
    assert response.status_code == 429
    assert len(app.seen) == 4
    assert time.monotonic() - started >= 0.01 + 0.02 + 0.04


def test_one_endpoints_own_limit_delays_only_the_refused_request():
    """A per-API rule (Synapse's THROTTLE_RULES, e.g. 1 call per second for a single
    status) names an allowance too, but only for that endpoint: the listing and batch
    writes of the same session must not be paced by it."""
    refused = []

    def respond(request):
        if request.path.endswith("/single") and not refused:
            refused.append(time.monotonic())
            return json_response(
                {
                    "reason": "Requests are too frequent for API call: "
                    "/evaluation/submission/#/status. Allowed 2 requests every 1 seconds."
                },
                429,
            )
        return json_response({"results": []})

    app = Scripted(respond)
    with serve(app) as url:
        s = session(retries=2)
        started = time.monotonic()
        assert s.get(f"{url}/single").status_code == 200
        retried_after = time.monotonic() - started
        started = time.monotonic()
        assert [s.get(f"{url}/x").status_code for _ in range(10)] == [200] * 10
        others = time.monotonic() - started
    assert 0.5 <= retried_after < 1.5  # one call's share of the period: 1 s / 2
    assert others < 1.0  # ten requests elsewhere were not held to that endpoint's pace
    assert len(app.seen) == 12


@pytest.mark.slow  # waits out a real 2 s throttle
def test_a_throttle_wait_is_announced_once(caplog):
    """The 429 that teaches the allowance waits for the window there and then, so the
    pacing before the re-sent request has nothing left to wait or announce."""
    app = sliding_window(3, 2)
    with serve(app) as url, caplog.at_level(logging.WARNING, logger="reconciler"):
        s = session(retries=1)
        assert [s.get(f"{url}/x").status_code for _ in range(4)] == [200] * 4
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "throttled (HTTP 429: Requests are too frequent." in notes[0], notes
    assert len(app.seen) == 5


def test_a_session_without_the_synapse_dialect_backs_off_instead_of_reading_synapse_texts():
    """The throttle texts are Synapse's (providers/synapse.THROTTLE), not the session's:
    another service's 429 saying the same words is just backed off from."""
    app = sliding_window(5, 1)
    with serve(app) as url:
        s = make_session(token=TOKEN, retries=1, backoff=0.01, timeout=(2.0, 5.0), user_agent="t/1")
        codes = [s.get(f"{url}/x").status_code for _ in range(8)]
    assert 429 in codes  # nothing learnt the allowance: one blind retry cannot outlast 1 s
