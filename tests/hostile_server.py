"""A hostile HTTP server on 127.0.0.1 for tests: answers what a broken or malicious
service (or a proxy in front of one) may send and werkzeug's server will not, byte by
byte on a raw socket: a status line trickled a byte at a time, a gzip bomb, a redirect,
any status, headers and body per route. Real HTTP, no patched `requests`.

    with HostileServer() as server:
        server.route("/repo/v1/x", Answer(302, headers={"Location": "https://elsewhere/"}))
        server.route("/big", Answer(body=gzip_bomb(2 * GiB), headers={"Content-Encoding": "gzip"}))
        server.route("/slow", Answer(body=b"{}", trickle=5.0))   # a byte every 5 s
        server.route("/seq", [Answer(429), Answer(200, body=b"[]")])  # in turn, the last repeats
        server.route("/fn", lambda request: Answer(body=request.body))
        requests.get(server.url + "/x")
        server.seen  # every Request, in order

Routes match by the longest path prefix (query strings ignored); anything else is 404.
Each answer closes its connection.
"""

from __future__ import annotations

import socketserver
import threading
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Callable

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between bytes, from the status line on (0: all at once)
    trickle_body_only: bool = False  # the status line and headers at once, then trickle
    trickle_after: int = 0  # bytes sent at once before the trickle starts
    reason: str = "Whatever"
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body

    def wire(self) -> bytes:
        body = self.encoded()
        headers = {
            "Content-Type": self.content_type,
            "Content-Length": str(len(body)),
            "Connection": "close",
            **self.headers,
        }
        head = f"HTTP/1.1 {self.status} {self.reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode("latin-1") + b"\r\n" + body


Route = Answer | list[Answer] | Callable[[Request], Answer]


@lru_cache(maxsize=4)
def gzip_bomb(decoded_bytes: int) -> bytes:
    """A gzip body that inflates to `decoded_bytes` zeros, about 1/1000 of that on the
    wire (gzip members of 1 MiB of zeros, one after another: made in milliseconds)."""
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    one = member.compress(bytes(MiB)) + member.flush()
    whole, rest = divmod(decoded_bytes, MiB)
    tail = zlib.compressobj(9, zlib.DEFLATED, 31)
    return one * whole + (tail.compress(bytes(rest)) + tail.flush() if rest else b"")


class HostileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Request] = []
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._handle(self)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def route(self, path: str, answer: Route) -> None:
        with self._lock:
            self.routes[path] = answer
            self._turns[path] = 0

    def __enter__(self) -> HostileServer:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()  # trickling answers stop at their next byte
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    # ------------------------------------------------------------------ serving
    def _handle(self, handler: socketserver.StreamRequestHandler) -> None:
        request = _read_request(handler.rfile)
        if request is None:
            return
        with self._lock:
            self.seen.append(request)
        answer = self._answer(request)
        data = answer.wire()
        try:
            if not answer.trickle:
                handler.wfile.write(data)
                return
            start = len(data) - len(answer.encoded()) if answer.trickle_body_only else answer.trickle_after
            handler.wfile.write(data[:start])
            for i in range(start, len(data)):
                handler.wfile.write(data[i : i + 1])
                handler.wfile.flush()
                if self._stopping.wait(answer.trickle):
                    return
        except OSError:
            pass  # the client hung up (what a bounded client does)

    def _answer(self, request: Request) -> Answer:
        bare = request.path.split("?", 1)[0]
        with self._lock:
            prefix = max((p for p in self.routes if bare.startswith(p)), key=len, default=None)
            if prefix is None:
                return Answer(404, body=b'{"reason": "no such route"}')
            route = self.routes[prefix]
            if isinstance(route, list):
                turn = self._turns[prefix]
                self._turns[prefix] = turn + 1
                return route[min(turn, len(route) - 1)]
        return route(request) if callable(route) else route


def _read_request(rfile) -> Request | None:
    line = rfile.readline(65537).decode("latin-1").strip()
    if not line:
        return None
    method, path, _version = (line.split(" ", 2) + ["", ""])[:3]
    headers: dict[str, str] = {}
    while True:
        header = rfile.readline(65537).decode("latin-1")
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = rfile.read(int(headers.get("content-length") or 0))
    return Request(method, path, headers, body)
