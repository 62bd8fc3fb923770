"""A run that waits on the network says so: each retry that waits a second or more, and
each throttle wait, is one "note:" line on stderr (none with -q); nothing else changes."""

from __future__ import annotations

import logging

import pytest

from cli_helpers import run_cli
from local_app import Scripted, json_response, serve
from reconciler.http import make_session
from reconciler.providers.synapse import THROTTLE

TOKEN = "sandbox-test-token-1234"


def failing_first(n: int, status: int = 503, reason: str = "Service Unavailable") -> Scripted:
    def respond(request):
        if len(app.seen) <= n:
            return json_response({"reason": reason}, status)
        return json_response({"results": [], "totalNumberOfResults": 0})

    app = Scripted(respond)
    return app


def write_spec(tmp_spec, url: str):
    return tmp_spec(f"""\
        version: 1
        provider: {{type: synapse, endpoint: "{url}"}}
        queues:
          - id: "9615000"
        """)


def test_a_retry_that_waits_is_announced_with_what_failed(caplog):
    app = failing_first(2)
    with serve(app) as url, caplog.at_level(logging.WARNING, logger="reconciler"):
        session = make_session(token=TOKEN, retries=3, backoff=0.6, timeout=(2.0, 5.0), user_agent="t/1")
        assert session.get(f"{url}/evaluation/9615000/submission/status/all").status_code == 200
    notes = [r.getMessage() for r in caplog.records]
    # the first retry waits under a second (not worth a line), the second over one
    assert len(notes) == 1, notes
    assert notes[0].startswith("GET /repo/v1/evaluation/9615000/submission/status/all: HTTP 503; retry 2 of 3 in ")
    assert len(app.seen) == 3


@pytest.mark.slow
def test_the_cli_prints_retry_notes_on_stderr_and_keeps_stdout_clean(tmp_spec):
    app = failing_first(2)
    with serve(app) as url:
        spec = write_spec(tmp_spec, url)
        result = run_cli("plan", spec, env={"SYNAPSE_AUTH_TOKEN": TOKEN})
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and " HTTP 503; retry 2 of 5 in " in notes[0]
    assert "note:" not in result.out and TOKEN not in result.err


@pytest.mark.slow
def test_quiet_silences_retry_notes(tmp_spec):
    app = failing_first(2)
    with serve(app) as url:
        spec = write_spec(tmp_spec, url)
        result = run_cli("-q", "plan", spec, env={"SYNAPSE_AUTH_TOKEN": TOKEN})
    assert result.code == 0, result.err
    assert "note:" not in result.err


@pytest.mark.slow  # waits out a real throttle with a 1.5 s backoff
def test_a_throttle_wait_is_announced_with_the_servers_reason_on_one_line(caplog):
    reason = "Requests are too frequent.\x1b[2J Allowed 1 requests every 1 seconds."
    app = failing_first(1, status=429, reason=reason)
    with serve(app) as url, caplog.at_level(logging.WARNING, logger="reconciler"):
        session = make_session(
            token=TOKEN, retries=2, backoff=1.5, timeout=(2.0, 5.0), user_agent="t/1", dialect=THROTTLE
        )
        assert session.get(f"{url}/x").status_code == 200
    (note,) = [r.getMessage() for r in caplog.records]
    # a control is written as a visible escape, as in every message (untrusted_text.one_line)
    assert note.startswith("GET /repo/v1/x: throttled (HTTP 429: Requests are too frequent.\\u001b[2J Allowed")
    assert "\x1b" not in note and "; waiting " in note
