"""Bounds on one answer from a service, whatever the service sends (issue 29: a trickling
answer never timed out, a 2 MB gzip body inflated to 2 GiB in memory).

urllib3's read timeout applies to each read from the socket, so a server sending a byte
every few seconds holds a request forever; and requests inflates a compressed body
whole before anyone can look at its size. Here a request has one deadline for all of
it (every attempt, the headers and the body), enforced by a watchdog that shuts the
request's socket when it passes, and its body is read in chunks, decoded, and counted
against a cap. The session (http.py) applies both to every request.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MiB = 1024 * 1024
CHUNK = 64 * 1024  # decoded bytes read at a time: what one step can add to memory


class AnswerRefused(requests.RequestException):
    """An answer reconciler will not take in full; `str()` is one line saying why, with
    no URL (callers name the request)."""


class AnswerTooLarge(AnswerRefused):
    pass


class AnswerDeadline(AnswerRefused, requests.Timeout):
    pass


# --------------------------------------------------------------------- the watchdog
class Watch:
    """One request's deadline: the socket it is reading from is shut when it passes, so
    a read blocked on a trickling server returns at once (the socket's own timeout is
    per read and never fires)."""

    __slots__ = ("_lock", "_sock", "at", "expired")

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self._lock = threading.Lock()
        self._sock: Any = None

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def attach(self, sock: Any) -> None:
        """The socket the request now waits on (called when a connection starts to
        read an answer)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.at == _DROPPED:
                return  # the request ended as its deadline came
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: Any) -> None:
    # already closed, or not a plain socket (TLS inside a TLS proxy): nothing to end
    with contextlib.suppress(OSError, TypeError):
        # socket.socket's own shutdown, also for an SSLSocket: it ends a read blocked in
        # another thread without touching the TLS state that thread is using
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every session: expires watches at their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._wake:
            heapq.heappush(self._heap, (watch.at, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="answer-deadline", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:  # due before all others: the thread must wait less
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                _, _, watch = heapq.heappop(self._heap)
            watch.expire()

    @staticmethod
    def drop(watch: Watch) -> None:
        """The request is over: its watch is skipped when due, and never shuts the
        (pooled) connection another request may be using by then."""
        with watch._lock:
            watch.at, watch._sock = _DROPPED, None


_DROPPED = float("inf")
WATCHDOG = _Watchdog()
_current = threading.local()  # the Watch of the request this thread is making


def current() -> Watch | None:
    return getattr(_current, "watch", None)


def expired() -> bool:
    watch = current()
    return watch is not None and watch.expired


class watching:
    """`with watching(seconds):` the requests this thread makes meanwhile share one
    deadline."""

    def __init__(self, seconds: float) -> None:
        self.watch = Watch(time.monotonic() + seconds)
        self._outer: Watch | None = None

    def __enter__(self) -> Watch:
        self._outer, _current.watch = current(), self.watch
        WATCHDOG.add(self.watch)
        return self.watch

    def __exit__(self, *exc: object) -> None:
        _current.watch = self._outer
        WATCHDOG.drop(self.watch)


# ------------------------------------------- connections that report their socket
class _Watched:
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch = current()
        if watch is not None and self.sock is not None:  # type: ignore[attr-defined]
            watch.attach(self.sock)  # type: ignore[attr-defined]
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


def watched_pools(http_pool: type[HTTPConnectionPool], https_pool: type[HTTPConnectionPool]) -> dict[str, type]:
    """A urllib3 pool manager's class map (`pool_classes_by_scheme`) from two pool
    classes, subclassed so that their connections report their socket to the deadline
    watch (urllib3's own here; botocore's in providers/omics_transport.py)."""

    def watched(pool: type[HTTPConnectionPool]) -> type:
        connection = type(f"Watched{pool.ConnectionCls.__name__}", (_Watched, pool.ConnectionCls), {})
        return type(f"Watched{pool.__name__}", (pool,), {"ConnectionCls": connection})

    return {"http": watched(http_pool), "https": watched(https_pool)}


_POOLS = watched_pools(HTTPConnectionPool, HTTPSConnectionPool)


def arm(adapter: Any) -> None:
    """Make an adapter's connections report their socket to the deadline watch, those
    through a proxy too (idempotent: the session arms every adapter mounted on it,
    including those a provider mounts itself)."""
    if not isinstance(adapter, HTTPAdapter) or getattr(adapter, "_deadline_armed", False):
        return
    adapter.poolmanager.pool_classes_by_scheme = _POOLS
    for manager in adapter.proxy_manager.values():
        manager.pool_classes_by_scheme = _POOLS
    plain = adapter.proxy_manager_for

    def proxy_manager_for(proxy: str, **kwargs: Any) -> Any:
        manager = plain(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager

    adapter.proxy_manager_for = proxy_manager_for  # type: ignore[method-assign]
    adapter._deadline_armed = True  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the body, capped
def read_capped(response: requests.Response, cap: int) -> None:
    """Read a streamed response's body, decoded, into `response.content`, refusing it
    past `cap` bytes: at most one chunk more than the cap is ever held."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > cap:
                raise too_large(cap, response.status_code, response.headers.get("Content-Encoding"))
            chunks.append(chunk)
    except BaseException:
        response.close()
        raise
    response._content = b"".join(chunks)  # what requests itself does without stream=True
    response._content_consumed = True  # type: ignore[attr-defined]  # requests' private twin of _content


def too_large(cap: int, status: int, encoding: str | None) -> AnswerTooLarge:
    """The one-line refusal of a body over `cap` bytes (decoded, where it is decoded)."""
    return AnswerTooLarge(
        f"answer refused: its body is over the {cap // MiB} MiB cap once decoded "
        f"(HTTP {status}, Content-Encoding {encoding or 'none'!r})"
    )
