"""Injected failures and Synapse's throttles, so clients can be tested against both.

Throttle texts are Synapse's own (docs/synapse.md, "Retries and backoff") with the configured numbers. The random
generators are seeded, so a single-threaded test sees the same faults on every run. Reads
(GET) draw from a stream of their own: a client that reads with several threads at once
(the Synapse provider's page readers) changes which read meets which fault, never which
write does.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from contextlib import contextmanager
from collections.abc import Iterator, Sequence


class Throttled(Exception):
    """Answer 429 with this reason."""


class Faults:
    def __init__(
        self,
        fail_rate: float = 0.0,
        drop_rate: float = 0.0,
        latency_ms: int = 0,
        max_concurrent: int | None = None,
        max_per_minute: int | None = None,
        seed: int | None = None,
        forbid_batches: Sequence[int] = (),
    ) -> None:
        for name, rate in (("fail_rate", fail_rate), ("drop_rate", drop_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {rate}")
        self.fail_rate, self.drop_rate, self.latency_ms = fail_rate, drop_rate, latency_ms
        self.max_concurrent, self.max_per_minute = max_concurrent, max_per_minute
        # one stream for reads (GET), one for everything else, each from the seed: a
        # client that only reads, or only writes, sees the faults a single stream gave it
        self._random = random.Random(seed)
        self._read_random = random.Random(seed)
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0  # the most requests ever admitted at once (for tests)
        self._recent: deque[float] = deque()
        self.forbid_batches = frozenset(forbid_batches)
        self._batches = 0
        self._admitted_before_refusal: int | None = None
        self._served_before_hold: int | None = None
        self._hold_path: str | None = None
        self._released = threading.Event()
        self._hijack: tuple[int, str, str] | None = None
        self._refuse_path: str | None = None
        self._targeted: dict[str, tuple[int, str]] = {}  # "lose"/"fail" -> (count, path part)

    def hold_after(self, count: int, path_contains: str | None = None) -> None:
        """Serve `count` more requests (with `path_contains`: `count` more whose path
        contains it, and every other one meanwhile), then hold every later request
        (before it is processed) until `release()`: a client killed while it waits has
        had exactly those requests served, whatever the timing (kill -9 tests)."""
        with self._lock:
            self._served_before_hold = count
            self._hold_path = path_contains
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._served_before_hold = None
            self._released.set()

    def wait_if_held(self, path: str = "") -> None:
        with self._lock:
            if self._served_before_hold is None:
                return
            if self._served_before_hold > 0:
                if self._hold_path is None or self._hold_path in path:
                    self._served_before_hold -= 1
                return
        self._released.wait()

    def answer_unserved(self, status: int | None, method: str = "", path_contains: str = "") -> None:
        """From now on answer every request with `method` (any if empty) whose path
        contains `path_contains` with a bare `status` and do nothing else, as a proxy or
        cache in front of a service may (a 302, 304 or 307 to a write): how tests show
        that an answer outside 2xx is never taken for a write. None: stop."""
        with self._lock:
            self._hijack = None if status is None else (status, method.upper(), path_contains)

    def unserved_status(self, method: str, path: str) -> int | None:
        """The status to answer this request with unserved (answer_unserved), or None."""
        with self._lock:
            hijack = self._hijack
        if hijack is None or hijack[1] not in ("", method) or hijack[2] not in path:
            return None
        return hijack[0]

    def refuse_after(self, count: int | None, path_contains: str | None = None) -> None:
        """From now on serve `count` more requests, then refuse every later one for good
        (403), as a service does when a permission is revoked mid-run: how tests make a
        write fail part-way on any fake. With `path_contains` only the requests whose
        path contains it are counted and refused (the second write call of a change,
        say). None: stop refusing."""
        with self._lock:
            self._admitted_before_refusal = count
            self._refuse_path = path_contains

    def refuses(self, path: str = "") -> bool:
        with self._lock:
            if self._admitted_before_refusal is None:
                return False
            if self._refuse_path is not None and self._refuse_path not in path:
                return False
            if self._admitted_before_refusal > 0:
                self._admitted_before_refusal -= 1
                return False
            return True

    def forbids_next_batch(self) -> bool:
        """Counts statusBatch requests; True for the configured ones (1-based), which
        the sandbox refuses for good, as Synapse does for a missing permission."""
        with self._lock:
            self._batches += 1
            return self._batches in self.forbid_batches

    def should_fail(self, method: str = "", path: str = "") -> bool:
        return self._targets("fail", path) or self._roll(self.fail_rate, method)

    def lose_answers(self, count: int, path_contains: str) -> None:
        """The next `count` requests whose path contains `path_contains` are carried out
        and their answers lost (the connection closes): a lost answer to a write, exactly
        where a test wants it, unlike the random drop_rate."""
        self._target("lose", count, path_contains)

    def fail_next(self, count: int, path_contains: str) -> None:
        """The next `count` requests whose path contains `path_contains` are answered 503
        and not carried out, exactly where a test wants it, unlike the random fail_rate."""
        self._target("fail", count, path_contains)

    def _target(self, kind: str, count: int, path_contains: str) -> None:
        with self._lock:
            self._target_left(kind, count, path_contains)

    def _targets(self, kind: str, path: str) -> bool:
        with self._lock:
            count, part = self._targeted.get(kind, (0, ""))
            if not count or part not in path:
                return False
            self._target_left(kind, count - 1, part)
            return True

    def _target_left(self, kind: str, count: int, part: str) -> None:
        if count > 0:
            self._targeted[kind] = (count, part)
        else:
            self._targeted.pop(kind, None)

    def should_drop(self, method: str = "", path: str = "") -> bool:
        return self._targets("lose", path) or self._roll(self.drop_rate, method)

    def _roll(self, rate: float, method: str) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            stream = self._read_random if method == "GET" else self._random
            return stream.random() < rate

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of the concurrent slots for the whole request, as Synapse's
        per-user semaphore does; raises Throttled when the request is refused."""
        with self._lock:
            if self.max_per_minute is not None:
                now = time.monotonic()
                while self._recent and now - self._recent[0] >= 60.0:
                    self._recent.popleft()
                if len(self._recent) >= self.max_per_minute:
                    raise Throttled(
                        f"Requests are too frequent. Allowed {self.max_per_minute} requests every 60 seconds."
                    )
                self._recent.append(now)
            if self.max_concurrent is not None and self._in_flight >= self.max_concurrent:
                raise Throttled(
                    f"Too many concurrent requests. Allowed {self.max_concurrent} concurrent connections at any time."
                )
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency_ms:
                time.sleep(self.latency_ms / 1000)
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
