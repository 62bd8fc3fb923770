"""Synapse's per-user request allowance (a sliding window, 429 without Retry-After):
the session waits it out from its own request times instead of backing off blindly."""
from __future__ import annotations

import threading
import time
from collections import deque

from local_app import Scripted, json_response, serve
from reconciler.http import Session, make_session

TOKEN = "sandbox-test-token"


def session(retries: int) -> Session:
    return make_session(token=TOKEN, retries=retries, backoff=0.01, timeout=(2.0, 5.0),
                        user_agent="reconciler-tests/1")


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
