"""Listings that never end (issue 29 item 5) against a small hostile server on loopback:
a server that keeps handing out new rows, or the same page under new links, must not
keep `plan` running. workflow-results is bounded by its own `/view/count`; datamaker's
cursor pages (which carry no count) by the project's count, repeated rows and links."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from datamaker_helpers import label_rule
from datamaker_helpers import queue as dm_queue
from reconciler.errors import ProviderError
from reconciler.model import QueueSpec, Safety, Source
from reconciler.providers.datamaker import DatamakerProvider
from reconciler.providers.workflow_results import WorkflowResultsProvider

Answer = Callable[[str, str, dict[str, list[str]], Any], Any]


@pytest.fixture
def hostile():
    """Start a loopback server whose JSON answers come from `answer(method, path,
    query, body)`; counts the requests it served."""
    servers = []

    def start(answer: Answer) -> tuple[str, list[int]]:
        served = [0]

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                served[0] += 1
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                data = json.dumps(answer(self.command, parts.path, parse_qs(parts.query), body)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", served

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def ends_in_one_line(read: Callable[[], Any]) -> str:
    started = time.monotonic()
    with pytest.raises(ProviderError) as e:
        read()
    assert time.monotonic() - started < 10
    assert "\n" not in str(e.value)
    return str(e.value)


# ------------------------------------------------------------------ workflow-results
def wfr_queue() -> QueueSpec:
    return QueueSpec(id="frb-search", source=Source("spec.yaml", 1), safety=Safety())


@pytest.mark.parametrize("kind", ["new ids", "same page"])
def test_a_results_server_listing_forever_is_bounded_by_its_own_count(hostile, kind):
    counter = iter(range(10**9))

    def answer(method, path, query, body):
        if path == "/view/count":
            return 250
        if path == "/view":
            if kind == "same page":
                return [{"id": f"w{i}", "status": "success"} for i in range(100)]
            return [{"id": f"w{next(counter)}", "status": "success"} for _ in range(100)]
        return {}

    url, served = hostile(answer)
    with WorkflowResultsProvider(url, None, retries=0, backoff=0.0) as p:
        message = ends_in_one_line(lambda: p.list_items(wfr_queue()))
    assert "kept changing while it was read" in message
    assert served[0] <= 10


# --------------------------------------------------------------------------- datamaker
def dm_answer(kind: str) -> Answer:
    counter = iter(range(10**9, 0, -1))

    def answer(method, path, query, body):
        if path == "/task_tags/":
            return {"count": 1, "next": None, "previous": None, "results": [{"id": 51, "name": "scored", "project": 7}]}
        if kind == "numbered pages":  # an old server: page numbers, a steady count, new rows
            page = int(query.get("page", ["1"])[0])
            return {
                "count": 250,
                "next": f"{url_of[0]}/sdk/tasks/?page={page + 1}",
                "previous": None,
                "results": [{"id": next(counter), "project": 7} for _ in range(100)],
            }
        if "cursor" not in query.get("pagination", []):  # the project's count
            return {"count": 250, "next": None, "previous": None, "results": [{"id": 1, "project": 7}]}
        if kind == "loop":  # the same `next` again
            nxt = "/sdk/tasks/?pagination=cursor&cursor=loop"
            rows = [{"id": next(counter), "project": 7}]
        elif kind == "same page":  # the same rows under new links
            nxt = f"/sdk/tasks/?pagination=cursor&cursor={base64.b64encode(str(time.monotonic_ns()).encode()).decode()}"
            rows = [{"id": i, "project": 7} for i in range(100, 0, -1)]
        else:  # new rows forever
            nxt = f"/sdk/tasks/?pagination=cursor&cursor={next(counter)}"
            rows = [{"id": next(counter), "project": 7} for _ in range(100)]
        return {"next": url_of[0] + nxt, "previous": None, "results": rows}

    url_of: list[str] = [""]
    answer.url_of = url_of  # type: ignore[attr-defined]
    return answer


@pytest.mark.parametrize("kind", ["new rows", "same page", "loop", "numbered pages"])
def test_a_datamaker_cursor_that_never_ends_or_loops_is_bounded(hostile, kind):
    answer = dm_answer(kind)
    url, served = hostile(answer)
    answer.url_of[0] = url  # type: ignore[attr-defined]
    q = dm_queue(label_rule("score", {"scored": True}))
    with DatamakerProvider(url, "token-for-the-hostile-server", retries=0, backoff=0.0) as p:
        message = ends_in_one_line(lambda: p.list_items(q))
    assert "kept changing" in message or "not a new page" in message
    assert served[0] <= 30
