"""The one place HTTP sessions are made (docs/architecture.md, docs/RELIABILITY.md
"Secrets and transport"): no provider hand-rolls transport.

Every policy that must hold for *every* request lives on the session, not at call sites:
the endpoint policy, a default timeout, the bearer token, transport retries with
backoff, a cap on requests in flight, and a log line per request that carries no
secret. Call sites only say what to fetch.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NoReturn
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, InvalidHeader, MaxRetryError
from urllib3.util.retry import Retry

from . import __version__
from .answer_bounds import MiB, AnswerDeadline, AnswerRefused, Watch, arm, expired, read_capped, watching
from .answer_bounds import current as current_watch
from .netcheck import check_endpoint
from .untrusted_text import SCANNED, body_reason, one_line

LOG = logging.getLogger(__name__)

# 429 is retried by Session itself (it has to read the reason); these by urllib3.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
THROTTLED = 429
DEFAULT_IN_FLIGHT = 3  # requests one session has in flight at most, unless a provider says
# Retry-After comes from an untrusted server; urllib3 would honour up to six hours.
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 30.0
NOTICE_AFTER = 1.0  # seconds: a shorter wait before a retry is not announced
# One request, from its first attempt to the last byte of its answer (retries, waits for
# a 429, headers and body), ends within this many seconds (answer_bounds.py); the read
# timeout alone is per read and a server sending a byte at a time never meets it.
REQUEST_DEADLINE = 300.0
# An answer's body, decoded (gzip included), is refused past this size: the largest page
# a provider asks for is a few MiB at most.
MAX_ANSWER_BYTES = 64 * MiB

_WINDOW_MEMORY = 10_000  # answer times remembered; a larger allowance is never waited for
_PENDING_POLL = 0.05  # seconds between looks at a window held full by requests in flight

_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
REDACTED = "***"
# A shorter token is scrubbed only where it follows "Bearer": replaced wherever it
# occurs, "a" or "id" would mangle every message, and no real credential is that short
# (Synapse's personal access tokens are JWTs of hundreds of characters).
MIN_REDACTED_LENGTH = 8


def redact(text: str, secret: str | None) -> str:
    """`text` with the secret (if not too short to tell from ordinary text) and any
    bearer credential replaced by `***`."""
    if secret and len(secret) >= MIN_REDACTED_LENGTH:
        text = text.replace(secret, REDACTED)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


MAX_REASON_CHARS = 500


def error_body(response: requests.Response) -> Any:
    """An error answer's JSON body, or None when it is not JSON or nests too deeply to
    parse (RecursionError): the body is untrusted, and a bad one is simply no detail."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def shown_reason(response: requests.Response, text: object, redact_text: Callable[[str], str]) -> str:
    """A service's error for a message: the words it gave (`text`), else what its body
    says (an HTML page's title; untrusted_text.body_reason), else the status line's
    reason; on one line, controls escaped, redacted and cut, since bodies are untrusted."""
    if text is None:
        head = response.content[: 4 * SCANNED].decode(response.encoding or "utf-8", "replace")
        text = body_reason(head, response.headers.get("Content-Type", "")) or response.reason or ""
    return one_line(redact_text(str(text)), MAX_REASON_CHARS)


def written(response: requests.Response) -> bool:
    """Whether a write's answer says it was done: 2xx only. requests' `ok` is true for
    any status under 400, but a redirect (never followed here) or a "304 Not Modified"
    from a proxy or cache in front of the service says nothing was written."""
    return 200 <= response.status_code < 300


def nothing_sent(exc: requests.RequestException) -> bool:
    """Whether every attempt failed before a connection was made (refused, unresolvable
    host, connect timeout), so the server cannot have seen the request."""
    return bool(exc.args) and isinstance(exc.args[0], NeverConnected)


def connection_refused(exc: requests.RequestException) -> bool:
    """Whether the last attempt was refused outright (nothing listens at that port)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return _refused(reason)


def _refused(error: object) -> bool:
    # urllib3 wraps the socket's ConnectionRefusedError in NewConnectionError (`from e`)
    return isinstance(error, ConnectTimeoutError) and isinstance(error.__cause__, ConnectionRefusedError)


def failure_name(exc: requests.RequestException) -> str:
    """What went wrong, in one word and without the URL: after retries requests wraps
    the last failure (a read timeout, a refused or dropped connection) in a generic
    ConnectionError, so the name of the underlying urllib3 error is more telling."""
    if isinstance(exc, AnswerRefused):
        return str(exc)
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return type(reason).__name__ if isinstance(reason, Exception) else type(exc).__name__


class HeaderAuth(AuthBase):
    """Puts the token in one header (`x-access-token: T`, `Synapse-Access-Token: Token
    T`…), the way each service's own client does; its repr never shows the token."""

    __slots__ = ("_header", "_prefix", "_token")

    def __init__(self, header: str, token: str, prefix: str = "") -> None:
        self._header, self._token, self._prefix = header, token, prefix

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self._header] = f"{self._prefix}{self._token}"
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._header}: {REDACTED})"

    def redact(self, text: str) -> str:
        return redact(text, self._token)


class BearerAuth(HeaderAuth):
    """Adds `Authorization: Bearer …`."""

    __slots__ = ()

    def __init__(self, token: str) -> None:
        super().__init__("Authorization", token, "Bearer ")

    def __repr__(self) -> str:
        return f"BearerAuth({REDACTED})"


@dataclass(frozen=True)
class ThrottleDialect:
    """How a service explains a 429, so the session waits as long as it asks.

    `reason` reads the service's error text from a response; `allowance` matches a
    per-credential sliding window in it and `endpoint_limit` one endpoint's own limit,
    each with groups (count, seconds). A service that says neither gets Retry-After or
    exponential backoff, as for 5xx.
    """

    reason: Callable[[requests.Response], str | None] = lambda response: None
    allowance: re.Pattern[str] | None = None
    endpoint_limit: re.Pattern[str] | None = None


PLAIN = ThrottleDialect()


class NeverConnected(MaxRetryError):
    """Retries ran out and no attempt got as far as a connection: nothing was sent."""


class _Retry(Retry):
    """urllib3's Retry with Retry-After capped and a malformed one ignored; 429 is left
    to Session, which reads the throttle's reason."""

    announced = False  # whether a retry note was logged yet (carried over by new())
    on_retry: Callable[[], None] | None = None  # counts each re-sent attempt (Session.sent)

    def new(self, **kwargs: Any) -> _Retry:
        retry = super().new(**kwargs)
        retry.announced, retry.on_retry = self.announced, self.on_retry
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> _Retry:
        """As Retry's, but when retries run out after only connect failures (urllib3's
        NewConnectionError is a ConnectTimeoutError) the error says so: requests keeps
        only the last failure, and an earlier attempt may have reached the server.

        A refused connection is not retried: nothing listens at that address (a stopped
        sandbox, a wrong port), and waiting out the backoff series only delays the
        answer by half a minute."""
        error = kwargs.get("error")
        if expired():  # the request's deadline passed: another attempt would only wait
            url = kwargs.get("url", args[1] if len(args) > 1 else None)
            raise MaxRetryError(kwargs.get("_pool"), url, error)  # type: ignore[arg-type]
        if _refused(error):
            url = kwargs.get("url", args[1] if len(args) > 1 else None)
            final = MaxRetryError(kwargs.get("_pool"), url, error)  # type: ignore[arg-type]
            return self._give_up(final)
        try:
            return super().increment(*args, **kwargs)
        except MaxRetryError as exc:
            self._give_up(exc)
            raise

    def _give_up(self, exc: MaxRetryError) -> NoReturn:
        errors = [attempt.error for attempt in self.history] + [exc.reason]
        if all(isinstance(error, ConnectTimeoutError) for error in errors):
            raise NeverConnected(exc.pool, exc.url, exc.reason) from exc.reason
        raise exc from exc.reason

    def get_backoff_time(self) -> float:
        """The wait before the next attempt, announced when it is long enough to notice
        (urllib3 asks for it only just before sleeping)."""
        seconds = super().get_backoff_time()
        if seconds >= NOTICE_AFTER and self.history:
            last = self.history[-1]
            what = f"HTTP {last.status}" if last.status else type(last.error).__name__
            number = len(self.history)
            LOG.warning(
                "%s %s: %s; retry %d of %d in %.1f s%s",
                last.method,
                last.url,
                what,
                number,
                number + (self.total or 0),
                seconds,
                self._unannounced(number),
            )
            self.announced = True
        return seconds

    def _unannounced(self, number: int) -> str:
        """On the first note, the retries before it that waited too little to be
        announced, so the count does not seem to start at 2."""
        if self.announced or number == 1:
            return ""
        if number == 2:
            return " (retry 1 was immediate)"
        return f" (retries 1-{number - 1} waited under {NOTICE_AFTER:g} s)"

    def sleep(self, response: Any = None) -> None:
        """As Retry's (Retry-After if the answer gave one, else the backoff), but a wait
        that would pass the request's deadline is not waited: the request ends now
        (Session reports it as past its deadline). urllib3 calls this right before it
        sends the request again, so the attempt is counted here (on_retry)."""
        after = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = after or self.get_backoff_time()
        watch = current_watch()
        if watch is not None and wait >= watch.remaining():
            watch.expired = True
            raise MaxRetryError(None, "", None)  # type: ignore[arg-type]
        if self.on_retry is not None:
            self.on_retry()
        if wait > 0:
            time.sleep(wait)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code != THROTTLED and super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


class _Window:
    """When this session's admitted requests were answered, and the per-user allowance
    once the server has named it.

    After the first "too frequent" 429 every request first waits until the window has
    room, so a long run meets the throttle once instead of on every request past the
    allowance; until then nothing is delayed, so a server without the throttle (or a
    run under the allowance) pays nothing. Answer times, not send times, are kept: the
    server counts a request somewhere in between, so waiting from the answer is never
    too early. Requests let through but not yet answered hold a place in the window
    (`reserve`), so threads sharing the session never take the same free place: one
    place freed lets one request through, not one per thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answered: deque[float] = deque(maxlen=_WINDOW_MEMORY)
        self._allowance: tuple[int, float] | None = None
        self._pending = 0  # let through by reserve(), not yet answered

    def reserve(self) -> float:
        """0 and a place held for one request if it fits the allowance now; else the
        seconds to wait before asking again (nothing held)."""
        with self._lock:
            wait = self._wait()
            if not wait:
                self._pending += 1
            return wait

    def record(self, answered: bool = True) -> None:
        """A reserved request is over: answered (it counts), or refused or failed."""
        with self._lock:
            self._pending = max(0, self._pending - 1)
            if answered:
                self._answered.append(time.monotonic())

    def learn(self, reason: str, pattern: re.Pattern[str] | None) -> bool:
        """Take the allowance from a throttle reason; False if it names none."""
        match = pattern.search(reason) if pattern is not None else None
        if not match or int(match.group(1)) < 1:
            return False
        with self._lock:
            self._allowance = (int(match.group(1)), float(match.group(2)))
        return True

    def wait(self) -> float:
        """Seconds until one more request fits the allowance as far as this session
        knows (0 before the allowance is known or while fewer requests were answered)."""
        with self._lock:
            return self._wait()

    def _wait(self) -> float:
        if self._allowance is None:
            return 0.0
        count, period = self._allowance
        free = count - self._pending  # places not held by requests still in flight
        if free < 1:
            return _PENDING_POLL  # the window is full of requests not yet answered
        if free > len(self._answered):
            return 0.0
        return max(0.0, self._answered[-free] + period - time.monotonic())


class Session(requests.Session):
    """requests.Session that applies the module's policies to every request."""

    def __init__(
        self,
        timeout: tuple[float, float],
        retries: int = 0,
        backoff: float = 0.0,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
        dialect: ThrottleDialect = PLAIN,
        deadline: float | None = None,
        max_answer_bytes: int | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout
        # None: the module's figures, read at each request
        self.deadline, self.max_answer_bytes = deadline, max_answer_bytes
        self.retries, self.backoff = retries, backoff
        self.dialect = dialect
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._window = _Window()
        self._environment: dict[tuple[str, str], Any] = {}  # requests' settings, per scheme and host
        self._sent = 0
        self._sent_lock = threading.Lock()

    @property
    def sent(self) -> int:
        """Requests attempted so far, every retry included (429s here, 5xx and transport
        failures by urllib3 below): what a report says was sent."""
        return self._sent

    def count_sent(self) -> None:
        with self._sent_lock:
            self._sent += 1

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """One request, re-sent on 429 after the wait the throttle asks for (at most
        `retries` times); 5xx and transport failures are retried by urllib3 below."""
        check_endpoint(url)
        if kwargs.get("timeout") is None:  # requests' None means "wait forever"
            kwargs["timeout"] = self.timeout
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        with watching(self.deadline or REQUEST_DEADLINE) as watch:
            return self._attempts(method, url, path, watch, *args, **kwargs)

    def _attempts(self, method: str, url: str, path: str, watch: Watch, *args: Any, **kwargs: Any) -> requests.Response:
        attempt = 0
        while True:
            announced = False
            while paced := self._window.reserve():
                if paced >= NOTICE_AFTER and not announced:
                    LOG.warning(
                        "%s %s: keeping to the service's request allowance; waiting %.1f s", method, path, paced
                    )
                    announced = True
                _sleep(paced)
            try:
                response = self._send(method, url, path, *args, **kwargs)
            except BaseException:
                self._window.record(answered=False)
                raise
            self._window.record(answered=response.status_code != THROTTLED)
            if response.status_code != THROTTLED:
                return response
            if attempt >= self.retries:
                return response
            attempt += 1
            reason = self.dialect.reason(response) or ""
            delay = self._throttle_delay(response, reason, attempt)
            # None: the window says how long; waited here, so the pacing at the top of
            # the loop finds it over and does not announce the same wait again
            wait = self._window.wait() if delay is None else delay
            if wait >= watch.remaining():
                return response  # the 429 stands: waiting would pass the request's deadline
            if wait >= NOTICE_AFTER:
                LOG.warning(
                    "%s %s: throttled (HTTP 429: %s); waiting %.1f s",
                    method,
                    path,
                    one_line(self.redact(reason), 200) or "no reason given",
                    wait,
                )
            _sleep(wait)

    def _send(self, method: str, url: str, path: str, *args: Any, **kwargs: Any) -> requests.Response:
        """One request and its whole answer, read here under the size cap (requests would
        inflate a compressed body whole before anyone could look at its size)."""
        start = time.monotonic()
        kwargs["stream"] = True
        self.count_sent()
        try:
            with self._slots:
                response = super().request(method, url, *args, **kwargs)
                read_capped(response, self.max_answer_bytes or MAX_ANSWER_BYTES)
            if expired():  # cut mid-headers, http.client sees their end and an empty body
                raise requests.ConnectionError("cut at the deadline")
        except requests.RequestException as exc:
            if expired() and not isinstance(exc, AnswerRefused):
                exc = AnswerDeadline(
                    f"no complete answer within the {self.deadline or REQUEST_DEADLINE:g} s deadline of a request"
                )
            LOG.info("%s %s -> %s after %d ms", method, path, failure_name(exc), _ms(start))
            raise exc from None
        LOG.info("%s %s -> %d in %d ms", method, path, response.status_code, _ms(start))
        return response

    def _throttle_delay(self, response: requests.Response, reason: str, attempt: int) -> float | None:
        """Retry-After (capped) if sent; none if the reason names the per-user allowance
        (the window then says how long); one call's share of the period if it names one
        endpoint's limit; else exponential backoff with jitter, as for 5xx
        (e.g. "too many concurrent requests" from another client with this token)."""
        header = response.headers.get("Retry-After")
        if header is not None:
            try:
                return min(_Retry.DEFAULT.parse_retry_after(header), MAX_RETRY_AFTER)
            except InvalidHeader:
                pass
        limit = self.dialect.endpoint_limit
        per_api = limit.search(reason) if limit is not None else None
        if per_api and int(per_api.group(1)) >= 1:
            # this request waits one call's share of that endpoint's period, no more
            share = float(per_api.group(2)) / int(per_api.group(1))
            return min(share, MAX_RETRY_AFTER) + random.uniform(0, self.backoff)
        if self._window.learn(reason, self.dialect.allowance) and self._window.wait():
            return None  # our own requests fill the window: wait until the oldest leaves
        return min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF) + random.uniform(0, self.backoff)

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """requests reads proxy and CA settings from the environment on every request,
        which adds up over a listing (BENCHMARKS.md); every request here goes to one endpoint with the same
        arguments, so the answer is kept per scheme and host."""
        if proxies or stream is not None or verify is not None or cert is not None or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, None, None, None)
        return {**settings, "proxies": dict(settings["proxies"])}

    def mount(self, prefix: str | bytes, adapter: BaseAdapter) -> None:
        """Every adapter, a provider's own too, reports its sockets to the deadline."""
        arm(adapter)
        super().mount(prefix, adapter)

    def get_redirect_target(self, response: requests.Response) -> None:
        """Never follow a redirect: it would bypass check_endpoint (and the Synapse API
        does not redirect), so a 3xx is returned as it is."""
        return None

    def redact(self, text: str) -> str:
        """Scrub this session's token from text bound for a message or a log."""
        auth = self.auth
        return auth.redact(text) if isinstance(auth, HeaderAuth) else redact(text, None)


def _sleep(seconds: float | None) -> None:
    if seconds:
        time.sleep(min(seconds, MAX_RETRY_AFTER))


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


# What may be re-sent after a failure: reads, and writes that carry their own guard
# (Synapse's PUT with an etag; a whole-document PUT that lands twice writes the same).
# POST is not: a provider whose writes are POSTs re-reads to decide instead.
IDEMPOTENT = frozenset({"GET", "PUT", "HEAD", "OPTIONS"})


def make_session(
    *,
    token: str | None = None,
    auth: HeaderAuth | None = None,
    retries: int,
    backoff: float,
    timeout: tuple[float, float],
    user_agent: str | None = None,
    max_in_flight: int = DEFAULT_IN_FLIGHT,
    dialect: ThrottleDialect = PLAIN,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
    retry_methods: frozenset[str] = IDEMPOTENT,
    deadline: float | None = None,
    max_answer_bytes: int | None = None,
) -> Session:
    """A session with transport retries, a default timeout, auth and TLS verification.

    Retried: connection failures, read timeouts and `retry_statuses` (default
    500/502/503/504) for `retry_methods`, plus 429 by Session, which waits as long as
    the throttle asks. `token` is sent as a bearer token, or `auth` says how the
    service wants it. `max_in_flight` caps concurrent requests (a service that counts
    them per credential answers the one too many with 429). `user_agent` defaults to
    reconciler's version and requests'. `deadline` (seconds for a whole request) and
    `max_answer_bytes` (decoded) default to REQUEST_DEADLINE and MAX_ANSWER_BYTES.
    """
    retry = _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,  # e.g. TLS certificate errors: retrying cannot fix them
        backoff_factor=backoff,
        backoff_jitter=backoff,
        backoff_max=MAX_BACKOFF,
        status_forcelist=retry_statuses - {THROTTLED},
        allowed_methods=retry_methods,
        respect_retry_after_header=True,
        raise_on_status=False,  # the caller turns the final response into its own error
    )
    session = Session(
        timeout,
        retries=retries,
        backoff=backoff,
        max_in_flight=max_in_flight,
        dialect=dialect,
        deadline=deadline,
        max_answer_bytes=max_answer_bytes,
    )
    retry.on_retry = session.count_sent
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=max_in_flight)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = True
    session.headers["User-Agent"] = user_agent or f"reconciler/{__version__} {requests.utils.default_user_agent()}"
    session.headers["Accept"] = "application/json"
    if auth is not None:
        session.auth = auth
    elif token is not None:
        session.auth = BearerAuth(token)
    return session
