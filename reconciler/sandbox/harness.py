"""What every fake service shares (docs/sandbox.md): the WSGI wrapper that injects
faults, latency and throttles, answers a crash in the fake as a 500, and writes one JSON
line per request.

A fake only implements `FakeService`: its probes, its authentication and its routes, in
its own service's dialect (error bodies, status codes). The harness decides *whether* a
request is served; the fake decides *what* it answers. Keeping the two apart is what lets
one set of `serve` options (faults, latency, throttles, request log) mean the same thing
for every service.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from collections.abc import Callable

from werkzeug.wrappers import Request, Response

from ..errors import UserError
from .faults import Faults, Throttled


class FakeService(ABC):
    """One service's fake: routes and dialect only."""

    #: URL path under which clients reach the service ("/repo/v1" for Synapse, "" at root)
    prefix: str = ""
    #: what `serve` prints when it starts listening
    title: str = "sandbox"
    #: the hosts the service answers on, one port each (HealthOmics splits its API over
    #: two); a request's host name is in environ["sandbox.host"]; the first is `root`
    hosts: tuple[str, ...] = ("",)

    def probe(self, request: Request) -> Response | None:
        """An answer the real service gives without authentication (an official client's
        start-up probe), or None to go on with faults, authentication and routing."""
        return None

    @abstractmethod
    def authenticate(self, request: Request) -> Response | None:
        """None if the request carries the sandbox token, else the refusal to send."""

    @abstractmethod
    def route(self, request: Request) -> Response:
        """The service's answer to an authenticated, admitted request."""

    @abstractmethod
    def error(self, code: int, message: str) -> Response:
        """An error in the service's own dialect (used for injected 503s, 429s and 500s)."""

    def throttled(self, reason: str) -> Response:
        return self.error(429, reason)

    def close(self) -> None:  # noqa: B027 - optional: a fake without a store keeps it
        """Release the fake's state (its store)."""


def _opened_log(path: Path) -> Any:
    """The request log, open for the server's life (closed by `Harness.close`: no `with`
    spans that); a path that cannot be written is the user's mistake, said in one line."""
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as e:
        raise UserError(f"--log-requests {path}: cannot write there: {e.strerror or e}") from None


class Harness:
    """The WSGI app `serve` runs: faults and logging around one FakeService."""

    def __init__(self, service: FakeService, faults: Faults, log_path: Path | None = None) -> None:
        self.service, self.faults = service, faults
        self._log_lock = threading.Lock()
        self._log = _opened_log(log_path) if log_path else None

    def close(self) -> None:
        if self._log:
            with self._log_lock:
                self._log.close()
        self.service.close()

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        started = time.perf_counter()
        request = Request(environ)
        environ["sandbox.bytes_in"] = 0
        try:
            response = self._respond(request)
        except Exception:  # a bug in the fake: answer like the service's 500 and show it
            traceback.print_exc()
            response = self.service.error(500, "An internal error occurred in the sandbox.")
        dropped = self.faults.should_drop(request.method, request.path)
        self._write_log(request, response, started, dropped)
        if dropped:
            # The work is committed; the client only loses the answer (a lost response).
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("sandbox drop_rate")
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        probed = self.service.probe(request)
        if probed is not None:
            return probed
        unserved = self.faults.unserved_status(request.method, request.path)
        if unserved is not None:  # a redirect elsewhere, the least convenient target
            return Response(b"", status=unserved, headers={"Location": "http://127.0.0.1:9/moved"})
        if self.faults.should_fail(request.method, request.path):
            return self.service.error(503, "Service temporarily unavailable, please try again later.")
        denied = self.service.authenticate(request)
        if denied is not None:
            return denied
        self.faults.wait_if_held(request.path)
        if self.faults.refuses(request.path):
            return self.service.error(403, "Forbidden: the sandbox refuses further requests (refuse_after).")
        try:
            with self.faults.admitted():
                return self.service.route(request)
        except Throttled as e:
            return self.service.throttled(str(e))

    def _write_log(self, request: Request, response: Response, started: float, dropped: bool) -> None:
        """One JSON line per request; never a header, so never the token."""
        if self._log is None:
            return
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "status": response.status_code,
            "bytes_in": request.environ["sandbox.bytes_in"] or request.content_length or 0,
            "bytes_out": len(response.get_data()),
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if dropped:
            entry["dropped"] = True
        with self._log_lock:
            self._log.write(json.dumps(entry) + "\n")
            self._log.flush()


class BodyTooLarge(Exception):
    pass


class BadJson(Exception):
    pass


def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON, read with a bound (bodies are untrusted); records the
    size for the request log. Raises BodyTooLarge or BadJson for the fake to answer in
    its own dialect."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise BodyTooLarge()
    data = request.stream.read(max_bytes + 1)
    request.environ["sandbox.bytes_in"] = len(data)
    if len(data) > max_bytes:
        raise BodyTooLarge()
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise BadJson(str(e)) from None


def json_response(code: int, body: Any, content_type: str = "application/json") -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=code, content_type=content_type)
