"""The one place HTTP sessions are made (DESIGN §3, §8; STYLE: do not hand-roll transport).

Every policy that must hold for *every* request lives on the session, not at call sites:
the endpoint policy, a default timeout, the bearer token, transport retries with
backoff, a cap on requests in flight, and a log line per request that carries no
secret. Call sites only say what to fetch.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from .providers.base import ConfigError

LOG = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Synapse counts concurrent requests per user and answers the fourth with 429
# ("Allowed 3 concurrent connections at any time"). Staying at 3 means the limit is
# never hit by this process, so retries are spent on real failures.
MAX_IN_FLIGHT = 3
# Retry-After comes from an untrusted server; urllib3 would honour up to six hours.
MAX_RETRY_AFTER = 60.0
MAX_BACKOFF = 30.0

_LOOPBACK_NAMES = frozenset({"localhost"})
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
REDACTED = "***"


def check_endpoint(url: str) -> None:
    """Refuse what would send the token in clear text or to a surprising place.

    Plain http:// is only for the local sandbox (a loopback address). Credentials in
    the URL are refused because endpoints are printed and saved in plan files.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"endpoint {url!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(f"endpoint {url!r} must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("endpoint must not contain credentials (user:password@)")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"endpoint {url!r} uses plain http://, which is only allowed for a loopback "
            "address (127.0.0.1, ::1, localhost); use https://"
        )


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(text: str, secret: str | None) -> str:
    """`text` with the secret and any bearer credential replaced by `***`."""
    if secret:
        text = text.replace(secret, REDACTED)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def failure_name(exc: requests.RequestException) -> str:
    """What went wrong, in one word and without the URL: after retries requests wraps
    the last failure (a read timeout, a refused or dropped connection) in a generic
    ConnectionError, so the name of the underlying urllib3 error is more telling."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return type(reason).__name__ if isinstance(reason, Exception) else type(exc).__name__


class BearerAuth(AuthBase):
    """Adds `Authorization: Bearer …`; its repr never shows the token."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return f"BearerAuth({REDACTED})"

    def redact(self, text: str) -> str:
        return redact(text, self._token)


class _Retry(Retry):
    """urllib3's Retry with Retry-After capped and a malformed one ignored."""

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except InvalidHeader:
            return None
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


class Session(requests.Session):
    """requests.Session that applies the module's policies to every request."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout
        self._slots = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        check_endpoint(url)
        if kwargs.get("timeout") is None:  # requests' None means "wait forever"
            kwargs["timeout"] = self.timeout
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        start = time.monotonic()
        try:
            with self._slots:
                response = super().request(method, url, *args, **kwargs)
        except requests.RequestException as exc:
            LOG.info("%s %s -> %s after %d ms", method, path, failure_name(exc), _ms(start))
            raise
        LOG.info("%s %s -> %d in %d ms", method, path, response.status_code, _ms(start))
        return response

    def get_redirect_target(self, response: requests.Response) -> None:
        """Never follow a redirect: it would bypass check_endpoint (and the Synapse API
        does not redirect), so a 3xx is returned as it is."""
        return None

    def redact(self, text: str) -> str:
        """Scrub this session's token from text bound for a message or a log."""
        auth = self.auth
        return auth.redact(text) if isinstance(auth, BearerAuth) else redact(text, None)


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


def make_session(
    *,
    token: str | None,
    retries: int,
    backoff: float,
    timeout: tuple[float, float],
    user_agent: str,
) -> Session:
    """A session with transport retries, a default timeout, auth and TLS verification.

    Retried: connection failures, read timeouts and 429/500/502/503/504, for GET and
    PUT alike. Re-sending a PUT is safe because every status carries its etag: a
    write that did land makes the retry fail with 412 instead of writing twice.
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
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "PUT", "HEAD", "OPTIONS"}),
        respect_retry_after_header=True,
        raise_on_status=False,  # the caller turns the final response into its own error
    )
    session = Session(timeout)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=MAX_IN_FLIGHT)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = True
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    if token is not None:
        session.auth = BearerAuth(token)
    return session
