"""Synapse evaluation queues over the REST API (docs/synapse.md).

Reads page through `GET /evaluation/{id}/submission/status/all`; writes are one
`PUT /evaluation/{id}/statusBatch` per batch. Transport failures are retried by the
session (reconciler.http); this module turns what is left into the provider errors of
base.py. Every response is untrusted: a wrong shape is a ProviderError naming the URL,
never a crash.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, ClassVar
from collections.abc import Callable, Iterator, Mapping, Sequence
from urllib.parse import quote

import requests

from ..auth import HOW_TO, find_token
from ..http import ThrottleDialect, error_body, make_session, nothing_sent, written
from ..model import Change, Item, ProviderConfig, QueueSpec, StatusRules
from .base import (
    ListingMoved,
    Batch,
    Capabilities,
    Progress,
    ProviderError,
    QueueNotFound,
    Relisted,
    SpecProblem,
    StaleEtag,
    WriteFailed,
    gather,
    read_twice,
    url_option_schema,
)
from .service_client import HttpProvider, ServiceClient, configured_endpoint, open_endpoint
from .synapse_annotations import MalformedStatus, status_for_write, status_to_item
from .synapse_fields import FIELDS, fields_read, reads_bundles, row_to_item
from .synapse_facts import BATCH_LIMIT, MAX_BODY_BYTES, PAGE_LIMIT, STATUSES

DEFAULT_ENDPOINT = "https://repo-prod.prod.sagebase.org/repo/v1"
RETRIES = 5
BACKOFF = 1.0  # seconds; waits 0, 2, 4, 8, 16 s (+ up to 1 s jitter each)
TIMEOUT = (10.0, 120.0)  # connect, read: a 500-status batch can take a while
# Synapse counts concurrent requests per user and answers the fourth with 429
# ("Allowed 3 concurrent connections at any time"). Staying at 3 means the limit is
# never hit by this process, so retries are spent on real failures.
MAX_IN_FLIGHT = 3


def reason_of(response: requests.Response) -> str | None:
    """The `reason` string of a Synapse error body (ErrorResponse); None if the body is
    not a JSON object with one. The body is untrusted: not JSON, or nested too deeply
    to parse (RecursionError), is simply no reason."""
    body = error_body(response)
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else None


# Synapse's throttles (docs/synapse.md, "Retries and backoff"). The per-user one is a sliding window ("Allowed
# 600 requests every 60 seconds") sent without Retry-After, so the session works the
# wait out from the reason and its own request times. One endpoint's own limit
# (THROTTLE_RULES, e.g. 1 call per second for a single status): "Requests are too
# frequent for API call: %s. Allowed %d requests every %d seconds." says nothing about
# other endpoints, so it must not slow the whole session down.
THROTTLE = ThrottleDialect(
    reason=reason_of,
    allowance=re.compile(r"too frequent\. Allowed (\d+) requests every (\d+) seconds"),
    endpoint_limit=re.compile(r"too frequent for API call: .*Allowed (\d+) requests every (\d+) seconds"),
)

_STALE = re.compile(r"Submission Status: (\S+) was updated since")
_NUMERIC = re.compile(r"[0-9]+")
# Pages asked for but not yet taken by the caller; the readers wait at this many.
_PAGES_AHEAD = 8


# A page as read: the path it came from, its raw results, and the most results the
# queue can hold by its totalNumberOfResults (None: Synapse's estimate, saying nothing).
_Page = tuple[str, list[Any], "int | None"]


class _Listing:
    """One pass over a queue's pages: page 0 read on the caller's thread, then up to
    `readers` reader threads each asking for the next unissued offset as soon as its
    last request is answered, until a page comes back short (or a request fails), or
    the total the service stated is reached (no offset at or past it is asked for).

    `known` (a re-read, which knows the queue held that many items when planned): the
    pages before it are read concurrently, but one past them only after the page
    before came back full, so an unchanged queue costs exactly floor(known/100) + 1
    requests, none in flight past the end.

    Pages are handed out in offset order (`take`). Each arriving page is checked for
    repeated ids along the frontier, in offset order and under the lock, so a repeat is
    found as soon as the pages before it are in and no offset is issued after it; the
    pages after the first short (or failed, or repeating) one are dropped unread, as the
    one-reader listing never asked for them. Readers stay at most `ahead` pages ahead of
    the caller, and `close` stops them: no new request is sent, the ones in flight are
    waited for (each is one request), the threads are joined.
    """

    def __init__(self, read: Callable[[int], _Page], readers: int, ahead: int, known: int | None = None) -> None:
        self._read, self._readers, self._ahead = read, readers, ahead
        self._known = None if known is None else known // PAGE_LIMIT  # last page sure to be needed
        self._full: set[int] = set()  # pages that came back full
        self._bound: int | None = None  # the fewest results any page's total allowed
        self._cond = threading.Condition()
        self._done: dict[int, _Page | BaseException] = {}
        self._seen: set[str] = set()
        self._issued = 0  # pages asked for (indexes 0 .. issued-1)
        self._checked = 0  # pages before this index are in and checked for repeats
        self._end: int | None = None  # the first short, failed or repeating page seen
        self._taken = 0  # pages handed to the caller
        self._stopped = False
        self._threads: list[threading.Thread] = []

    def take(self, index: int) -> _Page:
        """Page `index` (the caller takes them in order), or its exception raised."""
        if index == 0:
            self._issued = 1
            self._arrived(0, self._fetch(0))
            if self._end is None:  # a full first page: read the rest concurrently
                self._threads = [
                    threading.Thread(target=self._run, name="synapse-pages", daemon=True) for _ in range(self._readers)
                ]
                for thread in self._threads:
                    thread.start()
        with self._cond:
            while index >= self._checked:
                self._cond.wait()
            page = self._done.pop(index)
            self._taken = index + 1
            self._cond.notify_all()
        if isinstance(page, BaseException):
            raise page
        return page

    def ended(self, index: int) -> bool:
        """Whether page `index` (taken) is the last: short, or the stated total reached."""
        with self._cond:
            return self._end is not None and index >= self._end

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while (
                    not self._stopped
                    and self._end is None
                    and (self._issued - self._taken >= self._ahead or not self._may_issue(self._issued))
                ):
                    self._cond.wait()
                if self._stopped or self._end is not None:
                    return  # every page before the end was issued before it was known
                index = self._issued
                self._issued += 1
            self._arrived(index, self._fetch(index))

    def _may_issue(self, index: int) -> bool:
        """Whether page `index` may be asked for yet: never at or past a stated total
        (the page before it then ends the listing), and past `known` pages only once
        the page before came back full. Whoever waits on this is woken by that page."""
        if self._bound is not None and index * PAGE_LIMIT >= self._bound:
            return False
        return self._known is None or index <= self._known or index - 1 in self._full

    def _fetch(self, index: int) -> _Page | BaseException:
        try:
            return self._read(index * PAGE_LIMIT)
        except BaseException as exc:  # handed to the caller's thread, raised there
            return exc

    def _arrived(self, index: int, page: _Page | BaseException) -> None:
        with self._cond:
            self._done[index] = page
            if not isinstance(page, BaseException):
                listed = index * PAGE_LIMIT + len(page[1])
                if page[2] is not None:
                    self._bound = page[2] if self._bound is None else min(self._bound, page[2])
                if self._bound is not None and listed > self._bound:
                    self._done[index] = ListingMoved(
                        f"the listing passed the {self._bound} results Synapse said the queue has"
                    )
                elif len(page[1]) == PAGE_LIMIT and (self._bound is None or listed < self._bound):
                    self._full.add(index)
            if index not in self._full:  # short, failed, inconsistent, or the stated total reached
                self._end = index if self._end is None else min(self._end, index)
            while self._checked in self._done and (self._end is None or self._checked <= self._end):
                self._check(self._checked)
                self._checked += 1
            self._cond.notify_all()

    def _check(self, index: int) -> None:
        """Record page `index`'s ids; a repeat replaces the page with ListingMoved and
        ends the listing there."""
        page = self._done[index]
        if isinstance(page, BaseException):
            return
        for status in page[1]:
            sid = status.get("id") if isinstance(status, dict) else None
            if isinstance(sid, str) and sid:  # an empty one is malformed: the caller says so
                if sid in self._seen:
                    self._done[index] = ListingMoved(f"submission {sid} was listed twice")
                    self._end = index if self._end is None else min(self._end, index)
                    return
                self._seen.add(sid)


class SynapseProvider(HttpProvider):
    type = "synapse"
    capabilities = Capabilities(
        batch_limit=BATCH_LIMIT,
        lock_option="annotation",
        status=StatusRules(values=STATUSES, name="Synapse submission status"),
        fields=FIELDS,
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": (
            "Synapse evaluation queues; the token comes from SYNAPSE_AUTH_TOKEN or ~/.synapseConfig, "
            "never from the spec."
        ),
        "properties": {
            "endpoint": url_option_schema(
                f"Synapse REST endpoint. Default: {DEFAULT_ENDPOINT} (plain http only for loopback)."
            ),
        },
    }

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: tuple[float, float] = TIMEOUT,
        readers: int = MAX_IN_FLIGHT,
    ) -> None:
        if not 1 <= readers <= MAX_IN_FLIGHT:
            raise ValueError(f"readers must be between 1 and {MAX_IN_FLIGHT}, not {readers}")
        self._readers = readers
        session = make_session(
            token=token,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            max_in_flight=MAX_IN_FLIGHT,
            dialect=THROTTLE,
        )
        self.client = ServiceClient("Synapse", open_endpoint(endpoint), session, reason_of=reason_of, token_help=HOW_TO)

    @classmethod
    def from_config(cls, config: ProviderConfig) -> SynapseProvider:
        options = cls.checked_options(config.options)
        return cls(configured_endpoint("synapse", options, DEFAULT_ENDPOINT), find_token())

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        from .synapse_checks import check_queue

        return check_queue(queue)

    # ----------------------------------------------------------------- reading
    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """Pages of 100, up to `readers` requests at a time, in offset order, until a
        short page (docs/synapse.md "Reading: paging").

        The first page is read alone, so a queue of fewer than 100 items (or one that
        cannot be read) costs one request. After a full first page, reader threads keep
        up to `readers` pages in flight (Synapse serves 3 at a time per user). The total
        Synapse reports is only an estimate (offset + page + 1 while pages are full), so
        the end is known only when a page comes back short: no page after it is asked
        for from then on, and the pages already in flight past the end (at most
        `readers` − 1) are the price of reading ahead: at most floor(N/100) + 1 +
        (readers − 1) requests for N items. Synapse pages without ORDER BY, so a queue
        that changes mid-listing can repeat (or skip) a row: a repeat is detected and the
        queue listed once more, after RELISTED.
        """
        return self._pages(queue, progress, None)

    def _pages(
        self, queue: QueueSpec, progress: Progress | None, known: int | None
    ) -> Iterator[Sequence[Item] | Relisted]:
        return read_twice(
            lambda: self._pages_once(queue, progress, known),
            lambda exc: f"evaluation {queue.id}: {exc}; the queue kept changing while it was read, try again",
        )

    def reread(self, queue: QueueSpec, ids: Sequence[str], queue_size: int) -> list[Item]:
        """After a conflict: the queue listed again (floor(N/100) + 1 pages for the N
        items the plan listed, none read ahead past them), since one page holds 100
        statuses while the single-status GET returns one and is limited to 1 call a
        second. Only a few ids (at most one round of requests in flight, and fewer than
        the pages) are read one by one."""
        wanted = set(ids)
        # One status GET has no bundle fields: a spec reading them re-lists instead.
        few = len(wanted) <= MAX_IN_FLIGHT and len(wanted) < queue_size // PAGE_LIMIT + 1
        if few and not reads_bundles(fields_read(queue)):
            return self.get(queue, ids)
        return [item for item in gather(self._pages(queue, None, queue_size)) if item.id in wanted]

    def _pages_once(self, queue: QueueSpec, progress: Progress | None, known: int | None) -> Iterator[list[Item]]:
        wanted = fields_read(queue)
        bundles = reads_bundles(wanted)
        listing = _Listing(lambda offset: self._read_page(queue, offset, bundles), self._readers, _PAGES_AHEAD, known)
        try:
            index = 0
            while True:
                path, results, _ = listing.take(index)
                try:
                    items = [row_to_item(row, queue.lock_key, wanted, bundles) for row in results]
                except MalformedStatus as exc:
                    raise self.client.unexpected(path, str(exc)) from None
                if progress and results:
                    progress(len(results))
                yield items
                if listing.ended(index):
                    return
                index += 1
        finally:
            listing.close()

    def _read_page(self, queue: QueueSpec, offset: int, bundles: bool = False) -> _Page:
        """One page's `results`, still raw: (the path it came from, the results, the
        most results its `totalNumberOfResults` allows the queue, if it says). With
        `bundles`, the same page of the bundle listing (synapse_fields.py)."""
        listing = "bundle" if bundles else "status"
        url = self._url(f"/evaluation/{_segment(queue.id)}/submission/{listing}/all?limit={PAGE_LIMIT}&offset={offset}")
        response = self.client.send("GET", url)
        if response.status_code == 403:
            raise QueueNotFound(f"evaluation {queue.id} not found or not readable")
        self.client.check(response, f"GET {url}")
        body = self.client.json(response, url)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) > PAGE_LIMIT:
            raise self.client.unexpected(url, "expected an object with a `results` array of at most 100")
        total = body.get("totalNumberOfResults")
        if total is not None and (type(total) is not int or total < 0):
            raise self.client.unexpected(url, "`totalNumberOfResults` is not a non-negative integer")
        return url, results, _stated_total(offset, len(results), total)

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        from concurrent.futures import ThreadPoolExecutor  # only conflict re-reads need it

        wanted = [i for i in dict.fromkeys(ids) if _NUMERIC.fullmatch(i)]  # no other id exists
        with ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT) as pool:
            found = pool.map(lambda sid: self._get_one(queue, sid), wanted)
            return [item for item in found if item is not None]

    def _get_one(self, queue: QueueSpec, submission_id: str) -> Item | None:
        url = self._url(f"/evaluation/submission/{submission_id}/status")
        response = self.client.send("GET", url)
        if response.status_code == 404:
            return None
        if response.status_code == 403:
            raise ProviderError(f"evaluation {queue.id}: submission {submission_id} is not readable (HTTP 403)")
        self.client.check(response, f"GET {url}")
        try:
            item = row_to_item(self.client.json(response, url), queue.lock_key, fields_read(queue), False)
        except MalformedStatus as exc:
            raise self.client.unexpected(url, str(exc)) from None
        if item.id != submission_id:
            raise self.client.unexpected(url, f"asked for submission {submission_id}, got {item.id}")
        return item

    # ----------------------------------------------------------------- writing
    def batches(self, queue: QueueSpec, changes: Sequence[Change]) -> list[Batch]:
        """At most 500 statuses and under 2 MiB of JSON per batch, in order.

        Each status is encoded here to measure it, and each batch carries those bytes
        (EncodedBatch) to `write`, which would otherwise build and encode every status a
        second time (BENCHMARKS.md, "each status encoded once")."""
        envelope = len(encode_body(batch_body([])))
        out: list[Batch] = []
        current: list[Change] = []
        encoded: list[bytes] = []
        size = envelope
        for change in changes:
            status = encode_body(_status(change, queue.lock_key))
            grows = len(status) + (1 if current else 0)
            if current and (len(current) >= BATCH_LIMIT or size + grows >= MAX_BODY_BYTES):
                out.append(EncodedBatch(current, encoded, queue.lock_key))
                current, encoded, size = [], [], envelope
                grows -= 1
            current.append(change)
            encoded.append(status)
            size += grows
        if current:
            out.append(EncodedBatch(current, encoded, queue.lock_key))
        return out

    def item_of(self, queue: QueueSpec, base: Mapping[str, Any]) -> Item | None:
        """A plan's `base` is the SubmissionStatus as read."""
        try:
            return status_to_item(base, queue.lock_key)
        except MalformedStatus:
            return None

    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> None:
        """One statusBatch request, sent as its own single-batch series.

        `isFirstBatch` and `isLastBatch` are both true and no token is sent. A series'
        token is the evaluation-wide etag that *any* write to the queue rotates (another
        scorer's single PUT, a new submission, a cancellation request), so a multi-batch
        series fails with 412 for reasons unrelated to our items. Nothing is lost
        without it: each batch commits atomically on its own in Synapse anyway, and
        every status still carries its own etag.
        """
        if not changes:
            return
        if isinstance(changes, EncodedBatch) and changes.lock_key == queue.lock_key:
            statuses: Sequence[bytes] = changes.encoded
        else:
            statuses = [encode_body(_status(c, queue.lock_key)) for c in changes]
        body = _BODY_START + b",".join(statuses) + _BODY_END
        if len(body) >= MAX_BODY_BYTES:
            raise WriteFailed(
                f"evaluation {queue.id}: a batch of {len(changes)} statuses is {len(body)} bytes, "
                f"over Synapse's {MAX_BODY_BYTES} byte request limit"
            )
        try:
            response = self.client.session.put(
                self._url(f"/evaluation/{_segment(queue.id)}/statusBatch"),
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except requests.RequestException as exc:
            lost = self.client.lost("statusBatch", exc)
            if nothing_sent(exc):
                raise WriteFailed(f"evaluation {queue.id}: {lost}; it was not written") from None
            raise WriteFailed(
                f"evaluation {queue.id}: {lost}; it may or may not have been written, run plan again"
            ) from None
        if written(response):
            return
        if response.status_code == 401:
            raise self.client.token_refused(response)
        if response.status_code == 412:
            match = _STALE.search(self.client.reason(response))
            if match and match.group(1) in {c.item_id for c in changes}:
                raise StaleEtag(match.group(1))
            # A conflict we cannot pin on one item: nothing was written, but retrying
            # blindly could loop, so the batch fails with Synapse's words.
        raise WriteFailed(f"evaluation {queue.id}: {self.client.status_text('statusBatch', response)}")

    def _url(self, path: str) -> str:
        return self.client.endpoint + path


PROVIDER = SynapseProvider


class EncodedBatch(Batch):
    """A batch with each change's status as encoded for the queue's lock annotation
    (`lock_key`), in the same order: the bytes `write` joins into the request body."""

    encoded: tuple[bytes, ...]
    lock_key: str

    def __new__(cls, changes: Sequence[Change], encoded: Sequence[bytes], lock_key: str) -> EncodedBatch:
        batch = super().__new__(cls, changes)
        batch.encoded, batch.lock_key = tuple(encoded), lock_key
        return batch

    def __getitem__(self, index: Any) -> Any:  # a slice keeps the encodings alongside
        if isinstance(index, slice):
            return EncodedBatch(tuple.__getitem__(self, index), self.encoded[index], self.lock_key)
        return tuple.__getitem__(self, index)


def _stated_total(offset: int, count: int, total: int | None) -> int | None:
    """The most results a page's `totalNumberOfResults` allows the queue, or None when
    it says nothing: Synapse only estimates it, as offset + count + 1 while pages are
    full ("at least one more"), which bounds nothing. Any other value is taken at its
    word: a listing never asks past it, and a page past it means the queue moved."""
    if total is None or (count == PAGE_LIMIT and total == offset + PAGE_LIMIT + 1):
        return None
    return total


def batch_body(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """A SubmissionStatusBatch that is a whole series by itself (see `write`)."""
    return {"statuses": statuses, "isFirstBatch": True, "isLastBatch": True}


# encode_body(batch_body(statuses)) around statuses encoded one by one
_BODY_START, _BODY_END = (b'{"statuses":[', b'],"isFirstBatch":true,"isLastBatch":true}')


def encode_body(body: Any) -> bytes:
    """The exact bytes sent, so that sizes measured for batching are the real ones."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _status(change: Change, lock_key: str) -> dict[str, Any]:
    try:
        return status_for_write(change, lock_key)
    except MalformedStatus as exc:
        raise WriteFailed(f"submission {change.item_id}: {exc}") from None


def _segment(value: str) -> str:
    return quote(value, safe="")
