"""One client per HTTP service, above http.py's Session, and one base for HTTP providers.

http.py says how every request is sent (endpoint policy, retries, deadlines, size caps);
this module says, once, how what comes back is put into words, so one event reads the
same on every service (docs/RELIABILITY.md, "Errors users see"):

- no answer after retries: `METHOD URL: no response after retries (ReadTimeoutError)`;
- nothing listens there: `cannot connect to ENDPOINT: connection refused; is the server
  running, on that port?` (refused connections are not retried, http.py);
- a write whose answer is lost: `WHAT got no response (…)`, or `WHAT got no connection
  (…)` when nothing was sent (the caller says what that means for its items);
- the token refused (401): `SERVICE refused the token (HTTP 401: REASON); HELP`, or
  `SERVICE needs a token (…)` when none was sent, HELP naming where the token comes from;
- any other status: `WHAT failed (HTTP N): REASON`, REASON in the service's own words;
- a body that is not JSON, or JSON of the wrong shape: `unexpected response from URL:
  DETAIL`.

Every message goes through the session's redaction. A provider supplies only how its
service words an error (`reason_of`), its token help, and its calls.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Mapping

import requests

from ..errors import ConfigError, ProviderError
from ..http import Session, connection_refused, failure_name, nothing_sent, shown_reason
from ..netcheck import check_endpoint
from .base import Provider

Reason = Callable[[requests.Response], "str | None"]


# what to check when nothing listens at the endpoint, a read's or a write's
RUNNING_HINT = "is the server running, on that port?"


def refused_hint(endpoint: str) -> str:
    return f"connection refused at {endpoint}; {RUNNING_HINT}"


class ServiceClient:
    """Calls to one service at one endpoint, and the words for what goes wrong.

    `service` names it in messages ("Synapse", "datamaker"); `reason_of` reads the
    service's error text from an error answer (None: it said nothing usable; the body's
    start or the status line stands in); `token_help` says where the token comes from;
    `token_sent` is False when the provider sends no token (a 401 then "needs" one)."""

    def __init__(
        self,
        service: str,
        endpoint: str,
        session: Session,
        *,
        reason_of: Reason,
        token_help: str,
        token_sent: bool = True,
    ) -> None:
        self.service, self.endpoint, self.session = service, endpoint, session
        self._reason_of, self._token_help, self._token_sent = reason_of, token_help, token_sent

    def redact(self, text: str) -> str:
        return self.session.redact(text)

    # ----------------------------------------------------------------- calling
    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request (retried by the session as its policy says); no answer at all is
        a ProviderError (`no_answer`). Any status comes back: the caller decides."""
        try:
            return self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise self.no_answer(method, url, exc) from None

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        """`send`, then the JSON of a 200 answer (`check`, `json`)."""
        response = self.send(method, url, **kwargs)
        self.check(response, f"{method} {url}")
        return self.json(response, url)

    def check(self, response: requests.Response, what: str, ok: Callable[[int], bool] = (200).__eq__) -> None:
        """Raise for an answer that is not `ok`: the token refused, else the status."""
        if ok(response.status_code):
            return
        if response.status_code == 401:
            raise self.token_refused(response)
        raise ProviderError(self.status_text(what, response))

    def json(self, response: requests.Response, url: str) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            raise self.unexpected(url, "the body is not JSON") from None

    # ----------------------------------------------------------------- wording
    def no_answer(self, method: str, url: str, exc: requests.RequestException) -> ProviderError:
        """A read that got no answer: refused (with the hint), or none after retries."""
        if nothing_sent(exc) and connection_refused(exc):
            return ProviderError(f"cannot connect to {self.endpoint}: connection refused; {RUNNING_HINT}")
        return ProviderError(self.redact(f"{method} {url}: no response after retries ({failure_name(exc)})"))

    def lost(self, what: str, exc: requests.RequestException) -> str:
        """A write's failure to get an answer, `what` naming the call: no connection
        (nothing was sent; the hint if refused) or no response (it may have landed)."""
        if nothing_sent(exc):
            why = refused_hint(self.endpoint) if connection_refused(exc) else f"{failure_name(exc)} after retries"
            return self.redact(f"{what} got no connection ({why})")
        return self.redact(f"{what} got no response ({failure_name(exc)})")

    def reason(self, response: requests.Response) -> str:
        """The service's words for an error answer, on one line, redacted and cut."""
        return shown_reason(response, self._reason_of(response), self.redact)

    def status_text(self, what: str, response: requests.Response) -> str:
        return self.redact(f"{what} failed (HTTP {response.status_code}): {self.reason(response)}")

    def token_refused(self, response: requests.Response) -> ConfigError:
        verb = "refused the token" if self._token_sent else "needs a token"
        return ConfigError(
            f"{self.service} {verb} (HTTP {response.status_code}: {self.reason(response)}); {self._token_help}"
        )

    def unexpected(self, url: str, detail: str) -> ProviderError:
        """An answer of the wrong shape (or not JSON) from `url`."""
        return ProviderError(self.redact(unexpected_response(url, detail)))


def unexpected_response(where: str, detail: str) -> str:
    """The words for an answer of the wrong shape, or not JSON, from `where` (a URL, or
    what a provider reached through another client calls the request: omics)."""
    return f"unexpected response from {where}: {detail}"


def first_text(body: Any, *keys: str) -> str | None:
    """The first of `keys` whose value in an error body (a JSON object) is a string."""
    if not isinstance(body, dict):
        return None
    return next((body[k] for k in keys if isinstance(body.get(k), str)), None)


def open_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash, under the endpoint policy (netcheck)."""
    endpoint = endpoint.rstrip("/")
    check_endpoint(endpoint)
    return endpoint


def configured_endpoint(
    service: str, options: Mapping[str, Any], *fallbacks: str | None, missing: str | None = None
) -> str:
    """The `endpoint` option, else the first non-empty fallback (an environment
    variable, a config file's value, a default), checked before any token is looked
    for; `missing` is the error when there is none. `options` are checked ones
    (Provider.checked_options): the option is a URL string if given."""
    endpoint = options.get("endpoint")
    found = endpoint if endpoint is not None else next((f.strip() for f in fallbacks if f and f.strip()), None)
    if not found:
        raise ConfigError(missing or f"{service} provider: no endpoint; set `endpoint:` in the spec")
    check_endpoint(found.rstrip("/"))
    return found


class HttpProvider(Provider, base=True):
    """A provider reached over HTTP through one ServiceClient: its endpoint, request
    count and close come from the client, so a provider is its service's calls."""

    client: ServiceClient

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    def requests_sent(self) -> int:
        return self.client.session.sent

    def close(self) -> None:
        self.client.session.close()
