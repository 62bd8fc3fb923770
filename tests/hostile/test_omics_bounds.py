"""The omics provider's requests have the HTTP layer's bounds (issue 29 items 4 and 6):
one deadline per call, retries and waits included, and a cap on an answer's size, each
refused in one line. Against tests/hostile_server.py on loopback, botocore talking to it
through `endpoint`; the bounds made small as for the other providers (http.REQUEST_DEADLINE,
http.MAX_ANSWER_BYTES)."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("botocore")

from cli_helpers import run_cli
from hostile_server import MiB, Answer
from hostile.test_omics import BATCH, LISTED, aws_env, one_line_failure, spec  # noqa: F401

from reconciler import http

DEADLINE = 1.0


@pytest.fixture(autouse=True)
def small_bounds(monkeypatch):
    monkeypatch.setattr(http, "REQUEST_DEADLINE", DEADLINE)
    monkeypatch.setattr(http, "MAX_ANSWER_BYTES", MiB)


def plan(tmp_path, hostile):
    started = time.monotonic()
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    return line, time.monotonic() - started


LISTING = json.dumps(LISTED).encode()
# Before the deadline, each trickle ended on its own after about 6 s (read timeout: 60 s).
TRICKLES = {
    "status line": Answer(body=LISTING, trickle=0.05),
    "body": Answer(body=LISTING + b" " * 60, trickle=0.05, trickle_body_only=True),
}


@pytest.mark.parametrize("answer", TRICKLES.values(), ids=TRICKLES.keys())
def test_a_trickling_answer_ends_at_the_deadline_in_one_line(hostile, tmp_path, answer):
    hostile.route("/runBatch", answer)
    line, elapsed = plan(tmp_path, hostile)
    assert "omics ListBatch GET /runBatch: no complete answer within the 1 s deadline of a request" in line
    assert elapsed < DEADLINE + 1, elapsed
    assert len(hostile.seen) == 1  # not sent again


def test_the_deadline_covers_retries_and_their_waits(hostile, tmp_path):
    # a 500 (retried after a wait), then an answer that trickles past the deadline
    hostile.route(
        "/runBatch",
        [
            Answer(500, body=b'{"message": "later"}', headers={"x-amzn-ErrorType": "InternalServerException"}),
            Answer(body=LISTING, trickle=0.05),
        ],
    )
    line, elapsed = plan(tmp_path, hostile)
    assert "no complete answer within the 1 s deadline of a request" in line
    assert elapsed < DEADLINE + 1, elapsed


def test_a_batch_read_trickling_ends_at_the_deadline(hostile, tmp_path):
    hostile.route("/runBatch", Answer(body=LISTING))
    hostile.route("/runBatch/", Answer(body=json.dumps(BATCH).encode(), trickle=0.05))
    line, elapsed = plan(tmp_path, hostile)
    assert "omics GetBatch GET /runBatch/1000001: no complete answer within the 1 s deadline" in line
    assert elapsed < DEADLINE + 1, elapsed


class Chunked(Answer):
    """An answer of one chunk and no Content-Length: the cap must count what arrives."""

    def wire(self) -> bytes:
        body = self.encoded()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )


@pytest.mark.parametrize("kind", [Answer, Chunked], ids=["with Content-Length", "chunked"])
def test_an_answer_over_the_size_cap_is_refused_in_one_line(hostile, tmp_path, kind):
    hostile.route("/runBatch", kind(body=b'{"items": [], "x": "' + b"a" * (2 * MiB) + b'"}'))
    line, _ = plan(tmp_path, hostile)
    assert "omics ListBatch GET /runBatch: answer refused: its body is over the 1 MiB cap" in line
    assert len(hostile.seen) == 1  # not fetched again


def test_an_answer_under_the_cap_and_in_time_is_read(hostile, tmp_path):
    hostile.route("/runBatch", Answer(body=LISTING))
    hostile.route("/runBatch/", Answer(body=json.dumps(BATCH).encode()))
    result = run_cli("plan", spec(tmp_path, hostile.url))
    assert result.code in (0, 2) and "Traceback" not in result.err, (result.code, result.err)
