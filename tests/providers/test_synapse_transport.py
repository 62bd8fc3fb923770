"""Transport guarantees of the Synapse provider that test_http.py (the session) and
providers/test_synapse.py (the provider's errors) leave open: a bounded wait on a server
that never answers, TLS verification that really refuses an unknown certificate, plain
http:// to a remote host refused offline, and malformed responses reported by the CLI as
one line, never a traceback."""

from __future__ import annotations

import math
import socket
import threading
import time
from contextlib import contextmanager
from collections.abc import Iterator

import pytest
import requests
from werkzeug.wrappers import Response

from cli_helpers import run_cli
from local_app import Scripted, json_response, serve
from reconciler import http
from reconciler.model import Change, FieldChange, ProviderConfig, QueueSpec, Source
from reconciler.providers.base import ProviderError, WriteFailed
from reconciler.providers.synapse import TIMEOUT, SynapseProvider

QUEUE = QueueSpec(id="9615000", source=Source("spec.yaml", 3))
LISTING = "/evaluation/9615000/submission/status/all?limit=100&offset=0"
ENV = {"SYNAPSE_AUTH_TOKEN": "transport-test-token"}


def spec_for(tmp_path, url: str):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\n'
        'queues:\n  - id: "9615000"\n    rules:\n'
        "      - {name: accept, where: {status: RECEIVED}, set: {status: ACCEPTED}}\n"
    )
    return spec


# ------------------------------------------------------------------- timeouts
@contextmanager
def silent_server() -> Iterator[str]:
    """A port whose connections are accepted by the kernel and never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/repo/v1"


def a_change() -> Change:
    base = {"id": "9700001", "etag": "e1", "status": "RECEIVED", "statusVersion": 1}
    return Change("9700001", "e1", (FieldChange("status", "RECEIVED", "SCORED", None),), base=base)


@pytest.mark.parametrize("call", ["list", "get", "write"])
def test_every_provider_request_gives_up_within_its_timeout_on_a_silent_server(call):
    with silent_server() as url:
        provider = SynapseProvider(url, "t", retries=0, timeout=(1.0, 0.3))
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            if call == "list":
                provider.list_items(QUEUE)
            elif call == "get":
                provider.get(QUEUE, ["9700001"])
            else:
                provider.write(QUEUE, [a_change()])
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5
    expected = {
        "list": f"GET {url}{LISTING}: no response after retries (ReadTimeoutError)",
        "get": f"GET {url}/evaluation/submission/9700001/status: no response after retries (ReadTimeoutError)",
        "write": "evaluation 9615000: statusBatch got no response (ReadTimeoutError); "
        "it may or may not have been written, run plan again",
    }[call]
    assert str(caught.value) == expected
    assert isinstance(caught.value, WriteFailed) == (call == "write")


def test_a_write_refused_at_every_connect_says_it_was_not_written():
    with socket.socket() as bound:  # bound but not listening: every connect is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/repo/v1"
        provider = SynapseProvider(url, "t", retries=2, backoff=0.0)
        with pytest.raises(WriteFailed) as caught:
            provider.write(QUEUE, [a_change()])
    # refused connections are not retried (nothing listens there), so the message names the fix
    assert str(caught.value) == (
        f"evaluation 9615000: statusBatch got no connection (connection refused "
        f"at {url}; is the server running, on that port?); it was not written"
    )


def test_a_write_sent_once_before_connects_were_refused_may_have_been_written():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/repo/v1"

    def take_one_then_go_away() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)  # the request arrived...
        listener.close()  # ...the retry will be refused...
        connection.close()  # ...and this attempt gets no answer

    taker = threading.Thread(target=take_one_then_go_away, daemon=True)
    taker.start()
    provider = SynapseProvider(url, "t", retries=1, backoff=0.0)
    with pytest.raises(WriteFailed) as caught:
        provider.write(QUEUE, [a_change()])
    taker.join(5)
    assert str(caught.value) == (
        "evaluation 9615000: statusBatch got no response (NewConnectionError); "
        "it may or may not have been written, run plan again"
    )


def test_the_provider_a_spec_opens_has_a_finite_timeout(monkeypatch):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", "t")
    provider = SynapseProvider.from_config(ProviderConfig("synapse", {}, "."))
    assert provider.client.session.timeout == TIMEOUT
    assert all(0 < t < math.inf for t in TIMEOUT)


# ------------------------------------------------------------------------ TLS
def self_signed_server(app):
    pytest.importorskip("cryptography")  # werkzeug's ad-hoc certificate needs it
    return serve(app, tls=True)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # the control request
@pytest.mark.parametrize(
    "environment", [{}, {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}], ids=["default", "empty-ca-bundle-variables"]
)
def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(monkeypatch, environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app = Scripted(lambda r: json_response({"results": []}))
    with self_signed_server(app) as url:
        provider = SynapseProvider(url, "t", retries=2, backoff=0.0)
        assert provider.client.session.verify is True
        with pytest.raises(ProviderError) as caught:
            provider.list_items(QUEUE)
        reachable = requests.get(url + "/x", verify=False, timeout=5)  # the control: it does answer
    assert str(caught.value) == f"GET {url}{LISTING}: no response after retries (SSLError)"
    assert reachable.status_code == 200
    assert [seen.path for seen in app.seen] == ["/repo/v1/x"]  # no request of the provider's got through


# --------------------------------------------------------- plain http, remote
PLAIN_HTTP = (
    "uses plain http://, which is only allowed for a loopback address (127.0.0.1, ::1, localhost); use https://"
)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.255.255.1/repo/v1",
        "http://localhost.example.com/repo/v1",
        "http://[::ffff:10.0.0.1]/repo/v1",
        "http://0.0.0.0:8080/repo/v1",
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan", "export"])
def test_plain_http_to_a_remote_host_is_refused_at_its_spec_line_before_any_request(
    tmp_path, monkeypatch, url, command
):
    monkeypatch.chdir(tmp_path)
    spec_for(tmp_path, url)
    args = (command, "spec.yaml") + (("-o", "-") if command == "export" else ())
    started = time.monotonic()
    result = run_cli(*args, env=ENV)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: spec.yaml:2:37: endpoint '{url}' {PLAIN_HTTP}\n"
    assert time.monotonic() - started < 1.0  # 10.255.255.1 never answers: nothing was tried


# --------------------------------------------------------- malformed responses
def status(sid: str = "9700001", **extra) -> dict:
    return {"id": sid, "etag": "e1", "status": "RECEIVED", "statusVersion": 1, **extra}


NOT_JSON = "the body is not JSON"
NOT_A_PAGE = "expected an object with a `results` array of at most 100"


@pytest.mark.parametrize(
    "body, detail",
    [
        ("<html><body>Down for maintenance</body></html>", NOT_JSON),
        ("", NOT_JSON),
        (b"\xff\xfe\x00 not text", NOT_JSON),
        ('{"results": [', NOT_JSON),
        ("null", NOT_A_PAGE),
        ("[]", NOT_A_PAGE),
        ('{"results": "9700001"}', NOT_A_PAGE),
        ('{"totalNumberOfResults": 1}', NOT_A_PAGE),
        ('{"results": [1]}', "a status is a number, not an object"),
        ('{"results": [1.5]}', "a status is a number, not an object"),
        ('{"results": [true]}', "a status is a boolean, not an object"),
        ('{"results": [null]}', "a status is null, not an object"),
        ('{"results": [[]]}', "a status is an array, not an object"),
        ('{"results": [{"id": 9700001, "etag": "e1", "status": "RECEIVED"}]}', "status 9700001 has no string 'id'"),
        ('{"results": [{"id": "9700001", "status": "RECEIVED"}]}', "status '9700001' has no string 'etag'"),
        (
            '{"results": [{"id": "9700001", "etag": "e1", "status": ["RECEIVED"]}]}',
            "status '9700001' has no string 'status'",
        ),
    ],
    ids=[
        "html",
        "empty",
        "binary",
        "truncated",
        "null",
        "array",
        "results-string",
        "no-results",
        "status-number",
        "status-float",
        "status-boolean",
        "status-null",
        "status-array",
        "id-number",
        "no-etag",
        "status-list",
    ],
)
def test_a_malformed_listing_is_one_error_line_through_the_cli(tmp_path, body, detail):
    app = Scripted(lambda r: Response(body, 200, content_type="application/json"))
    with serve(app) as url:
        result = run_cli("plan", spec_for(tmp_path, url), env=ENV)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: unexpected response from {url}{LISTING}: {detail}\n"
    assert len(app.seen) == 1


@pytest.mark.parametrize(
    "code, body, reason",
    [
        # an HTML page is reduced to its title, else its visible text (issue 29 item 10)
        (404, "<html>\n<h1>Not Found</h1>\n</html>", "Not Found"),
        (400, '{"reason": "Bad\\nrequest"}', "Bad request"),
        (302, "", "FOUND"),
        (418, "x" * 5000, "x" * 498 + " …"),  # cut at MAX_REASON_CHARS, with a mark
    ],
)
def test_an_unexpected_status_is_one_error_line_through_the_cli(tmp_path, code, body, reason):
    app = Scripted(lambda r: Response(body, code, content_type="text/html"))
    with serve(app) as url:
        result = run_cli("plan", spec_for(tmp_path, url), env=ENV)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: GET {url}{LISTING} failed (HTTP {code}): {reason}\n"


def test_a_deeply_nested_response_is_one_error_line_through_the_cli(tmp_path):
    body = "[" * 100_000 + "]" * 100_000
    with serve(Scripted(lambda r: json_response(body))) as url:
        result = run_cli("plan", spec_for(tmp_path, url), env=ENV)
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: unexpected response from {url}{LISTING}: {NOT_JSON}\n"


@pytest.mark.parametrize("code", [400, 429, 500])
def test_a_deeply_nested_error_body_is_quoted_as_text(code):
    body = "[" * 100_000 + "]" * 100_000  # 429: the throttle's reason is read; 500: retried
    app = Scripted(lambda r: json_response(body, status=code))
    with serve(app) as url:
        provider = SynapseProvider(url, "t", retries=1, backoff=0.0)
        with pytest.raises(ProviderError) as caught:
            provider.list_items(QUEUE)
    assert str(caught.value) == f"GET {url}{LISTING} failed (HTTP {code}): {'[' * 498} …"  # cut, with a mark
    assert len(app.seen) == (1 if code == 400 else 2)


def test_a_one_letter_token_does_not_mangle_the_servers_reason():
    app = Scripted(lambda r: json_response({"reason": f"a bad request; {r.headers['Authorization']}"}, status=400))
    with serve(app) as url:
        provider = SynapseProvider(url, "a", retries=0)
        with pytest.raises(ProviderError) as caught:
            provider.list_items(QUEUE)
    assert str(caught.value) == f"GET {url}{LISTING} failed (HTTP 400): a bad request; Bearer ***"


def test_a_failed_write_with_a_garbage_answer_is_reported_in_one_line_per_item(tmp_path, monkeypatch):
    monkeypatch.setattr(http, "MAX_BACKOFF", 0.0)

    def respond(request):
        if request.method == "GET":
            return json_response({"results": [status()], "totalNumberOfResults": 1})
        return Response("<html>\n  <b>Internal</b> error\n</html>", 500, content_type="text/html")

    app = Scripted(respond)
    with serve(app) as url:
        result = run_cli("apply", spec_for(tmp_path, url), "--auto-approve", "--force", env=ENV)
    assert result.code == 1 and result.err == ""
    assert (
        "  queue 9615000, item 9700001: evaluation 9615000: statusBatch failed (HTTP 500): Internal error\n"
    ) in result.out  # an HTML page's words, not its markup
    assert [s.method for s in app.seen] == ["GET"] + ["PUT"] * 6  # the first try and 5 retries
