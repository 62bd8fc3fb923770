"""The omics provider against a hostile HTTP server on loopback (botocore talks to it
through `endpoint`): malformed, huge, mis-encoded or flooding answers, and secrets that
must never reach a message. A bad answer is one line and exit 1, never a crash (exit 3)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("botocore")

from aws_env import isolate_aws
from cli_helpers import run_cli
from reconciler.errors import ConfigError
from reconciler.model import ProviderConfig
from reconciler.providers import omics
from reconciler.providers.omics import OmicsProvider

KEY = "AKIDHOSTILETEST1"
SECRET = "hostile-secret-never-shown"
JSON = {"Content-Type": "application/json"}
BATCH = {
    "id": "1000001",
    "arn": "arn:aws:omics:us-east-1:123456789012:runBatch/1000001",
    "status": "PENDING",
    "tags": {},
    "defaultRunSetting": {"runGroupId": "4242"},
}
LISTED = {"items": [{"id": "1000001", "status": "PENDING"}]}


class Hostile:
    """A loopback server answering every request with `answers[path kind]`, recording
    what it was sent."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                hostile.requests.append((self.command, self.path, dict(self.headers)))
                kind = (
                    "list"
                    if self.path.startswith("/runBatch?") or self.path == "/runBatch"
                    else "get"
                    if self.path.startswith("/runBatch/")
                    else "tags"
                )
                status, headers, body = hostile.answers.get(kind, (200, JSON, b"{}"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def hostile():
    server = Hostile()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    isolate_aws(monkeypatch, tmp_path, KEY, SECRET)


def spec(tmp_path: Path, endpoint: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        f'version: 1\nprovider: {{type: omics, region: us-east-1, endpoint: "{endpoint}"}}\n'
        'queues:\n  - id: "4242"\n    rules:\n      - {name: r, where: {}, set: {tags: {a: b}}}\n'
    )
    return path


def one_line_failure(result) -> str:
    assert result.code == 1, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    [line] = result.err.strip().splitlines()
    return line


DEEP = b"[" * 100_000 + b"]" * 100_000
MALFORMED = {
    "a list for GetBatch": {"get": (200, JSON, b"[1, 2]")},
    "null for GetBatch": {"get": (200, JSON, b"null")},
    "a list for ListBatch": {"list": (200, JSON, b"[]")},
    "null for ListBatch": {"list": (200, JSON, b"null")},
    "items as an object": {"list": (200, JSON, b'{"items": {"a": 1}}')},
    "tags as a list": {"get": (200, JSON, json.dumps({**BATCH, "tags": [1]}).encode())},
    "deeply nested JSON": {"get": (200, JSON, DEEP)},
    "a non-UTF-8 body": {"get": (200, JSON, b'{"id": "\xff\xfe"}')},
    "a gzip body": {"get": (200, {**JSON, "Content-Encoding": "gzip"}, gzip.compress(json.dumps(BATCH).encode()))},
    "a Latin-1 error page": {
        "get": (
            400,
            {"Content-Type": "text/html; charset=latin-1"},
            "<html><body><h1>Requête refusée</h1>\n<p>é</p></body></html>".encode("latin-1"),
        )
    },
}


@pytest.mark.parametrize("answers", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_is_one_line_and_exit_1_never_a_crash(hostile, tmp_path, answers):
    hostile.answers = {"list": (200, JSON, json.dumps(LISTED).encode()), **answers}
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    assert "omics" in line and len(line) < 700


def test_an_html_error_page_is_one_line_with_its_title(hostile, tmp_path):
    page = (
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
        "<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n" * 3
    )
    hostile.answers = {
        "list": (400, {"Content-Type": "text/html", "x-amzn-ErrorType": "ValidationException"}, page.encode())
    }
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    assert "ValidationException (400): 502 Bad Gateway" in line and "<" not in line


def test_a_multi_line_message_with_control_characters_is_one_escaped_line(hostile, tmp_path):
    message = "first line\nsecond line\r\n\x1b[2J\x1b[32mApply complete! Resources: 0 added\x1b[0m\n" * 5
    hostile.answers = {
        "list": (400, {**JSON, "x-amzn-ErrorType": "ValidationException"}, json.dumps({"message": message}).encode())
    }
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    assert "\x1b" not in line and "\\u001b[2J" in line and "first line second line" in line
    assert len(line) < 700


@pytest.mark.slow
@pytest.mark.parametrize("retry_after", ["-5", "garbage", "99999999999999999999"])
def test_a_429_with_a_bad_retry_after_fails_within_the_stated_bound(hostile, tmp_path, retry_after):
    hostile.answers = {
        "list": (
            429,
            {
                **JSON,
                "x-amzn-ErrorType": "ThrottlingException",
                "Retry-After": retry_after,
                "x-amz-retry-after": retry_after,
            },
            b'{"message": "Rate exceeded"}',
        )
    }
    started = time.monotonic()
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    elapsed = time.monotonic() - started
    assert elapsed < omics.RETRY_BUDGET + 5, elapsed
    assert len(hostile.requests) <= omics.RETRY_ATTEMPTS
    assert "ThrottlingException (429)" in line and f"after {len(hostile.requests)} attempts" in line


# ----------------------------------------------------------------- secrets in messages
def test_a_password_in_a_malformed_spec_endpoint_is_never_shown(tmp_path):
    path = spec(tmp_path, "http://user:hunter2-password@127.0.0.1:99999")
    for command in ("validate", "plan"):
        result = run_cli(command, path)
        assert result.code == 1 and "hunter2" not in result.err + result.out, result.err
        assert "***@127.0.0.1:99999" in result.err


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2-password@127.0.0.1:99999",
        "http://user:hunter2-password@[::1",
        "https://user:hunter2-password@example.com",
    ],
)
def test_a_password_in_aws_endpoint_url_omics_is_never_shown(tmp_path, monkeypatch, url):
    path = tmp_path / "spec.yaml"
    path.write_text('version: 1\nprovider: {type: omics, region: us-east-1}\nqueues:\n  - id: "4242"\n')
    monkeypatch.setenv("AWS_ENDPOINT_URL_OMICS", url)
    result = run_cli("plan", path)
    assert result.code == 1 and "hunter2" not in result.err + result.out, result.err


def test_a_session_token_ending_in_a_newline_is_never_shown(hostile, tmp_path, monkeypatch):
    token = "IQoJb3JpZ2luX2VjEHostileSessionToken0123456789"
    monkeypatch.setenv("AWS_SESSION_TOKEN", token + "\n")
    hostile.answers = {"list": (200, JSON, json.dumps({"items": []}).encode())}
    result = run_cli("plan", spec(tmp_path, hostile.url))
    assert token not in result.err + result.out and "IQoJb3JpZ2lu" not in result.err + result.out
    assert result.code == 1 and "Traceback" not in result.err, result.err


def test_provider_errors_never_hold_the_secret_key(hostile):
    hostile.answers = {
        "list": (
            403,
            {**JSON, "x-amzn-ErrorType": "AccessDeniedException"},
            json.dumps({"message": f"denied for {KEY} / {SECRET}"}).encode(),
        )
    }
    from reconciler.errors import ProviderError

    from builders import queue

    with (
        OmicsProvider.from_config(ProviderConfig("omics", {"endpoint": hostile.url}, "/")) as p,
        pytest.raises(ProviderError) as caught,
    ):
        p.list_items(queue(id="4242"))
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(ConfigError):
        OmicsProvider.from_config(ProviderConfig("omics", {"endpoint": "http://u:p4ssw0rd-x@[::1"}, "/"))


def test_a_listed_id_that_is_not_a_batch_id_is_refused_before_it_reaches_a_path(hostile, tmp_path):
    hostile.answers = {"list": (200, JSON, json.dumps({"items": [{"id": "1\x1b[2J/../x"}]}).encode())}
    line = one_line_failure(run_cli("plan", spec(tmp_path, hostile.url)))
    assert "\x1b" not in line and "1 to 18 digits" in line
    assert [path for _, path, _ in hostile.requests] == ["/runBatch?maxItems=100&runGroupId=4242"]
