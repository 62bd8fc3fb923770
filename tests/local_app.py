"""A scripted HTTP server on 127.0.0.1 for responses the sandbox never sends on purpose
(malformed JSON, odd headers, a 412 without an id): real HTTP, no mocked requests."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterator

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Seen:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """Answers each request with `respond(request)`; remembers every request."""

    respond: Callable[[Request], Response]
    seen: list[Seen] = field(default_factory=list)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        self.seen.append(Seen(request.method, request.full_path.rstrip("?"), dict(request.headers), request.get_data()))
        return self.respond(request)(environ, start_response)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return Response(text, status=status, headers=headers, content_type="application/json")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Callable, *, tls: bool = False) -> Iterator[str]:
    """Serve `app` in a thread; yields `http://127.0.0.1:PORT/repo/v1` (https with a
    self-signed certificate that no client trusts when `tls`)."""
    ssl_context = "adhoc" if tls else None  # werkzeug's ad-hoc certificate
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.port}/repo/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
