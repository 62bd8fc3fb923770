"""The HealthOmics provider's requests, bounded like every other provider's (issue 29):
one deadline per request, a cap on the size of an answer.

botocore sends through urllib3 (`botocore.httpsession.URLLib3Session`), whose read
timeout applies to each read, so a server trickling a byte every few seconds holds a
request forever, and whose `send` reads a body whole into memory. Nothing here copies
the HTTP layer's bounds: the deadline is answer_bounds' watchdog (the provider opens a
`watching(...)` around each call, retries included), and the size cap is counted as the
requests-based session counts it.

How botocore is made to take them, the least intrusive way found:

- Its connections report their socket to the watchdog: the client's URLLib3Session
  builds every connection pool (proxied ones too) from one class map, whose entries are
  swapped for botocore's own pool and connection classes made to report their socket
  (answer_bounds.watched_pools, as the HTTP layer's urllib3 pools are). TLS, proxies,
  client certificates and timeouts stay exactly as botocore configured them.
- The body is read here, counted: a `before-send` handler (botocore's documented way to
  answer a request in its place) sends the request through that same session asking for
  the headers only (`stream_output`), reads the body in chunks against the cap, and
  returns the response. botocore then parses it as if it had read it itself.

Both reach into botocore's client (`_endpoint.http_session` and the session's class
map); `bound` checks they are there and refuses to open the provider otherwise (a
botocore that changed them), so no request is ever sent unbounded.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from botocore.awsrequest import AWSHTTPConnectionPool, AWSHTTPSConnectionPool
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session
from urllib3.exceptions import HTTPError as URLLib3Error

from ..answer_bounds import CHUNK, AnswerDeadline, expired, too_large, watched_pools


class Unbounded(Exception):
    """This botocore sends in a way the bounds cannot be attached to."""


_WATCHED = watched_pools(AWSHTTPConnectionPool, AWSHTTPSConnectionPool)


def bound(client: Any, cap: Callable[[], int]) -> None:
    """Make every request of `client` report its socket to the calling thread's deadline
    watch, and refuse an answer whose body is over `cap()` bytes (AnswerTooLarge)."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    pools = getattr(session, "_pool_classes_by_scheme", None)
    if not isinstance(session, URLLib3Session) or not isinstance(pools, dict) or set(pools) != {"http", "https"}:
        raise Unbounded("its HTTP session is not the urllib3 one reconciler bounds")
    pools.update(_WATCHED)  # the very map the session's pool managers (proxied too) hold

    def send(request: Any, **_: Any) -> Any:
        request.stream_output = True  # the headers only: the body is read below, counted
        response = session.send(request)
        limit = cap()
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.raw.stream(CHUNK, decode_content=False):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit, response.status_code, response.headers.get("Content-Encoding"))
                chunks.append(chunk)
            if expired():  # the watchdog shut the socket: what was read is not the answer
                raise AnswerDeadline("cut at the deadline")
        except URLLib3Error as exc:  # as botocore reports a connection lost mid-body
            response.raw.close()
            raise ConnectionClosedError(error=exc, request=request, endpoint_url=request.url) from None
        except BaseException:
            response.raw.close()
            raise
        response._content = b"".join(chunks)  # what AWSResponse.content would have read whole
        return response

    client.meta.events.register_last("before-send.omics", send)
