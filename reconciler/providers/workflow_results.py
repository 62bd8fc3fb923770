"""CHIME/FRB workflow Results pipelines (docs/workflow-results.md).

A queue is a pipeline, an item one Work result: `status` (success | failure), `tags` (a
list of labels) and the native lock `results.locked`. The service has no etags and no
conditional write (PUT /results replaces whole documents, last writer wins), so this
provider uses the compare guard: it re-reads the works of a write in full right before
sending them, writes those fresh documents with only the planned fields changed, and
reads them back after the PUT (another writer's whole-document PUT can erase ours).
A 2xx whose answer is falsy means "not updated", as the official client reads it.

Reads are POSTs (`/view`, `/view/count`) and are re-sent by the session after a 5xx or
a lost answer; a PUT is never re-sent blindly: after a failure the works are read again
and only those still as they were are sent again (guarded.py). Every response is
untrusted: a wrong shape is a ProviderError naming the path, never a crash.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from typing import Any, ClassVar
from collections.abc import Iterator, Mapping, Sequence

import requests

from ..auth import checked_token
from ..http import HeaderAuth, RETRY_STATUSES, error_body, make_session, shown_reason, written
from ..model import Change, FieldChange, Item, ManagedTags, ProviderConfig, QueueSpec, StatusRules
from .listed_fields import ListedFields, fields_read
from .base import (
    Capabilities,
    ListingMoved,
    Progress,
    QueueNotFound,
    Relisted,
    SpecProblem,
    WriteResult,
    chunk,
    digest_etag,
    read_twice,
    url_option_schema,
)
from .guarded import OK, Answer, Call, Calls, Fresh, GuardedService, guarded_write
from .service_client import HttpProvider, ServiceClient, configured_endpoint, first_text, open_endpoint

ENDPOINT_ENV = "WORKFLOW_HTTP_BASEURL"
TOKEN_ENVS = ("WORKFLOW_HTTP_TOKEN", "WORKFLOW_TOKEN", "GITHUB_TOKEN", "GITHUB_PAT")
TOKEN_HEADER = "x-access-token"
PAGE_LIMIT = 100
BATCH_LIMIT = 100  # works per write: one re-read and one PUT
MAX_PUT_BYTES = 4 * 1024 * 1024  # one PUT body; docs/workflow-results.md caps a work at 4 MB
RETRIES = 5
BACKOFF = 1.0  # seconds, doubled per retry (transport retries and re-sent PUTs alike)
TIMEOUT = (10.0, 60.0)
# What a plan reads of a work: the managed fields, nothing else
PROJECTION = {"id": True, "status": True, "tags": True, "results.locked": True}
# Read-only work fields a `where: {item: …}` may test (docs/workflow-results.md); the
# listing's projection asks for them only when a rule reads one.
FIELDS = {"creation": "timestamp", "event": "integer", "site": "string", "user": "string", "pipeline": "string"}
PIPELINE = re.compile(r"[A-Za-z0-9-]{1,128}")


_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def objectid_order(item_id: str) -> tuple[int, int, str]:
    """Works in creation order: a BSON ObjectId starts with its creation time and ends
    with a counter, so its value as a number is that order; ordering digit-only ids
    apart (diff.item_order) would list `…0010` before `…000a`. Anything else after."""
    if _OBJECT_ID.fullmatch(item_id):
        return (0, int(item_id, 16), "")
    return (1, 0, item_id)


class _Malformed(Exception):
    pass


class WorkflowResultsProvider(GuardedService, HttpProvider):
    type = "workflow-results"
    reads_back = True  # another writer's whole-document PUT can erase ours at once
    kept_why = "the server did not store the change; run plan again"
    capabilities = Capabilities(
        batch_limit=BATCH_LIMIT,
        lock_option=None,  # native: results.locked
        label_tags=True,
        guard="compare",
        atomic_batches=False,
        status=StatusRules(values=("success", "failure")),
        order=objectid_order,
        fields=FIELDS,
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": (
            "CHIME/FRB workflow Results pipelines; the token (if the server needs one) comes "
            "from WORKFLOW_HTTP_TOKEN, WORKFLOW_TOKEN, GITHUB_TOKEN or GITHUB_PAT, never from "
            "the spec."
        ),
        "properties": {
            "endpoint": url_option_schema(
                f"Base URL of the Results server. Default: the {ENDPOINT_ENV} environment "
                "variable (e.g. https://frb.chimenet.ca/workflow/results; plain http only "
                "for loopback)."
            ),
        },
    }

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.resend_wait = backoff
        # No token: the official client then sends no header, and a server without auth
        # accepts that (the session still redacts a bearer credential echoed in an error)
        session = make_session(
            auth=HeaderAuth(TOKEN_HEADER, token) if token else None,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            # /view and /view/count are reads; this provider never deposits (POST /results).
            # A PUT is not re-sent by the session: `write` re-reads first.
            retry_methods=frozenset({"GET", "HEAD", "POST"}),
        )
        variables = ", ".join(TOKEN_ENVS)
        self.client = ServiceClient(
            "the workflow Results server",
            open_endpoint(endpoint),
            session,
            reason_of=_error_text,
            token_help=f"set one of {variables} to a token it accepts" if token else f"set one of {variables}",
            token_sent=bool(token),
        )

    @classmethod
    def from_config(cls, config: ProviderConfig) -> WorkflowResultsProvider:
        options = cls.checked_options(config.options)
        endpoint = configured_endpoint(
            "workflow-results",
            options,
            os.environ.get(ENDPOINT_ENV),
            missing=(
                "workflow-results provider: no endpoint; set `endpoint:` in the spec's "
                f"provider block or the {ENDPOINT_ENV} environment variable "
                "(e.g. https://frb.chimenet.ca/workflow/results)"
            ),
        )
        return cls(endpoint, find_token(), retries=RETRIES, backoff=BACKOFF, timeout=TIMEOUT)

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        if PIPELINE.fullmatch(queue.id):
            return []
        return [
            SpecProblem(
                f"a workflow-results queue id is a pipeline name: 1 to 128 letters, digits or '-', "
                f"not {json.dumps(queue.id)}",
                ("id",),
            )
        ]

    # ----------------------------------------------------------------- reading
    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """`/view/count`, then pages of 100 (skip 0, 100, ...) of the managed fields only,
        then every id (limit 0, ids only): ceil(N/100) + 2 requests.

        The server's order is unspecified, so a pipeline that changes while it is read
        can repeat or skip a work: a repeated id, pages short of or beyond the count, or
        ids at the end that are not the ids read make the pipeline be read once more,
        after RELISTED."""
        return read_twice(
            lambda: self._pages_once(queue, progress),
            lambda exc: f"pipeline {queue.id}: {exc}; the pipeline kept changing while it was read, try again",
        )

    def _pages_once(self, queue: QueueSpec, progress: Progress | None) -> Iterator[list[Item]]:
        total = self._count(queue)
        if total == 0:
            self._require_known(queue)
            return
        seen: set[str] = set()
        read = 0
        while read < total:
            docs = self._view(queue, {}, _projection(queue), skip=read, limit=PAGE_LIMIT)
            if len(docs) > PAGE_LIMIT:
                raise self._unexpected("/view", f"asked for at most {PAGE_LIMIT} works, got {len(docs)}")
            items = [self._item(doc, "/view", queue.managed_tags) for doc in docs]
            for item in items:
                if item.id in seen:
                    raise ListingMoved(f"work {item.id} was listed twice")
                seen.add(item.id)
            read += len(items)
            if read > total:
                raise ListingMoved(f"more works were listed than the {total} counted")
            if progress and items:
                progress(len(items))
            yield items
            if len(docs) < PAGE_LIMIT:
                break
        if read != total:
            raise ListingMoved(f"{read} works were listed of the {total} counted")
        # A work deleted and another deposited keep the count but shift every later
        # work back by one, so a work can slip past a page boundary unseen: the ids as
        # they are now (one request, ids only) must be exactly the ids read.
        now = [doc.get("id") for doc in self._view(queue, {}, {"id": True}, skip=0, limit=0)]
        if len(now) != len(seen) or set(now) != seen:
            gone, new = len(seen - set(now)), len(set(now) - seen)
            raise ListingMoved(f"works changed while they were listed ({new} new, {gone} gone, {len(now)} listed now)")

    def _require_known(self, queue: QueueSpec) -> None:
        """An empty listing: a pipeline the server knows of, or a typo in the spec?"""
        body = self._call("GET", "/status")
        if not isinstance(body, dict):
            raise self._unexpected("/status", "expected an object of pipeline counts")
        if queue.id not in body:
            raise QueueNotFound(
                f"pipeline {queue.id} has no works on {self.endpoint} (not in /status; "
                "a typo in the queue id, or nothing deposited yet)"
            )

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        docs = self._by_id(queue, ids, _projection(queue))
        return [self._item(docs[i], "/view", queue.managed_tags) for i in dict.fromkeys(ids) if i in docs]

    # ----------------------------------------------------------------- writing
    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        """The guarded write (guarded.py): re-read the works in full (one `/view` by
        id), judge each with the compare guard, PUT the fresh documents with only the
        planned fields changed, in requests of at most MAX_PUT_BYTES, then read them back
        (managed fields only): 3 requests per batch when nothing fails.

        A PUT without an answer (or a 5xx) may have landed: its works are read again;
        stored as sent: written; still as they were: sent again. A falsy 2xx answer is
        "not updated": the works are read again, never re-sent. A refusal (4xx) fails
        its request's works with the server's words; later requests are not attempted."""
        result = self._write(queue, [c for c in changes if not c.relock])
        relocked = [c for c in changes if c.relock]
        if relocked and not result.error:
            self._write_relocked(queue, relocked, result)
        return result

    def _write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        return guarded_write(self, queue, changes)

    def guard_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> dict[str, Fresh | str]:
        """The works in full (what a PUT sends back), one `/view` by id per 100."""
        return _fresh(self._by_id(queue, [c.item_id for c in changes], None), queue.managed_tags)

    def confirm_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> dict[str, Fresh | str]:
        """The read-back reads the managed fields only."""
        return _fresh(self._by_id(queue, [c.item_id for c in changes], PROJECTION), queue.managed_tags)

    def guard_calls(self, queue: QueueSpec, pairs: Sequence[tuple[Change, Fresh]]) -> Calls:
        """One PUT per group of works under MAX_PUT_BYTES, each work the fresh document
        with only the planned fields changed."""
        out = Calls()
        docs: list[tuple[Change, dict[str, Any]]] = []
        for change, fresh in pairs:
            try:
                docs.append((change, updated_work(fresh.raw, change)))
            except _Malformed as exc:
                out.unwritable[change.item_id] = str(exc)
        for group in self._put_groups(docs, out.unwritable):
            out.calls.append(_PutCall(self, {c.item_id: c for c, _ in group}).call())
        return out

    def _write_relocked(self, queue: QueueSpec, changes: Sequence[Change], result: WriteResult) -> None:
        """`--replace`: the lock is native, and a server that enforces it refuses an
        update that keeps a work locked, so a relocked change is two guarded writes: the
        change with the unlock, then the lock alone (guarded by the state the first one
        left). A work whose second write fails is reported failed, saying it was left
        unlocked, so nobody mistakes it for done."""
        opened = [
            replace(c, fields=c.fields + (FieldChange("locked", True, False, None),), lock="unlock", relock=False)
            for c in changes
        ]
        first = self._write(queue, opened)
        result.stale.update(first.stale)
        result.failed.update(first.failed)
        result.overwritten.update(first.overwritten)
        ready = [c for c in opened if c.item_id in (*first.applied, *first.unchanged)]
        closing = [_relocking(c, queue.managed_tags) for c in ready]
        second = self._write(queue, closing) if closing and not first.error else WriteResult()
        result.applied += second.applied + second.unchanged
        unlocked = "changed, but left UNLOCKED: relocking it"
        for change in ready:
            reason = second.failed.get(change.item_id)
            if change.item_id in second.stale or change.item_id in second.overwritten:
                result.failed[change.item_id] = f"{unlocked} was refused: it changed again meanwhile"
            elif reason is not None:
                result.failed[change.item_id] = f"{unlocked} failed: {reason}"
            elif change.item_id not in result.applied:
                result.failed[change.item_id] = f"{unlocked} was not attempted"
        result.error = result.error or first.error or second.error

    def _put_groups(
        self, pairs: list[tuple[Change, dict[str, Any]]], unwritable: dict[str, str]
    ) -> list[list[tuple[Change, dict[str, Any]]]]:
        """Consecutive works whose PUT body stays under MAX_PUT_BYTES."""
        groups: list[list[tuple[Change, dict[str, Any]]]] = []
        size = 0
        for change, doc in pairs:
            grows = len(_encode(doc)) + 1
            if grows + 1 > MAX_PUT_BYTES:
                unwritable[change.item_id] = (
                    f"the work is {grows - 1} bytes as JSON, over the {MAX_PUT_BYTES}-byte limit of one request"
                )
                continue
            if not groups or size + grows > MAX_PUT_BYTES:
                groups.append([])
                size = 1
            groups[-1].append((change, doc))
            size += grows
        return groups

    def _put(self, docs: Sequence[dict[str, Any]]) -> Answer:
        """PUT /results. A 2xx with a truthful answer: written. A 2xx whose body is
        falsy (`false`, `0`, `null`, empty) or not JSON: not updated, as the official
        client reads it (declined). No answer, a 5xx, a 429: it may have landed (lost).
        Another refusal (4xx) names the work the server's words name, if any."""
        body = b"[" + b",".join(_encode(doc) for doc in docs) + b"]"
        try:
            response = self.client.session.put(
                self._url("/results"),
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
        except requests.RequestException as exc:
            return Answer("lost", self.client.lost("PUT /results", exc))
        code = response.status_code
        if written(response):
            answer = error_body(response)
            if answer:
                return OK
            if answer is not None:
                shown = json.dumps(answer)
            else:
                shown = shown_reason(response, None, self.client.redact) if response.content.strip() else ""
            return Answer("declined", f"PUT /results answered {shown or 'nothing'} (HTTP {code}): not updated")
        if code == 401:
            return Answer("refused", str(self.client.token_refused(response)), fatal=True)
        reason = self.client.status_text("PUT /results", response)
        if code in RETRY_STATUSES or code == 429:
            return Answer("lost", reason)
        ids = [str(doc.get("id")) for doc in docs]
        named = next((i for i in ids if i in reason), None)
        others = f"the request holding it was refused because of work {named} (HTTP {code}); run plan again"
        return Answer(
            "refused", reason, fatal=True, named={} if named is None else {i: others for i in ids if i != named}
        )

    # --------------------------------------------------------------- plumbing
    def _count(self, queue: QueueSpec) -> int:
        body = self._call("POST", "/view/count", {"query": {"pipeline": queue.id}})
        if not isinstance(body, int) or isinstance(body, bool) or body < 0:
            raise self._unexpected("/view/count", "expected a non-negative integer")
        return body

    def _view(
        self, queue: QueueSpec, query: dict[str, Any], projection: Mapping[str, bool] | None, *, skip: int, limit: int
    ) -> list[dict[str, Any]]:
        body = self._call(
            "POST",
            "/view",
            {
                "query": {**query, "pipeline": queue.id},
                "projection": dict(projection or {}),
                "skip": skip,
                "limit": limit,
            },
        )
        if not isinstance(body, list) or not all(isinstance(d, dict) for d in body):
            raise self._unexpected("/view", "expected a list of works")
        return body

    def _by_id(
        self, queue: QueueSpec, ids: Sequence[str], projection: Mapping[str, bool] | None
    ) -> dict[str, dict[str, Any]]:
        """The works with these ids (None: whole documents), 100 ids a request; ids the
        server does not return are left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        for part in chunk(wanted, PAGE_LIMIT):
            for doc in self._view(queue, {"id": {"$in": part}}, projection, skip=0, limit=0):
                work_id = doc.get("id")
                if isinstance(work_id, str) and work_id in part:
                    found[work_id] = doc
        return found

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        if body is None:
            return self.client.call(method, self._url(path))
        return self.client.call(
            method, self._url(path), data=_encode(body), headers={"Content-Type": "application/json; charset=utf-8"}
        )

    def _item(self, doc: dict[str, Any], path: str, managed: ManagedTags) -> Item:
        try:
            return _to_item(doc, managed)
        except _Malformed as exc:
            raise self._unexpected(path, str(exc)) from None

    def _unexpected(self, path: str, detail: str) -> Exception:
        return self.client.unexpected(self._url(path), detail)

    def _url(self, path: str) -> str:
        return self.client.endpoint + path


def _error_text(response: requests.Response) -> str | None:
    """The error body's `error` (or `detail`, `message`)."""
    return first_text(error_body(response), "error", "detail", "message")


PROVIDER = WorkflowResultsProvider


def find_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The first token set among TOKEN_ENVS (the official client's order), or None: the
    official client then sends no token, which a server without auth accepts (one that
    needs a token answers 401, and that message names the variables)."""
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENVS:
        token = environ.get(name, "").strip()
        if token:
            return checked_token(token, f"the {name} environment variable", "workflow Results")
    return None


class _PutCall:
    """One PUT of a group of works: rebuilt from the works as last read each time it
    is sent; a work landed when it is stored exactly as sent."""

    def __init__(self, provider: WorkflowResultsProvider, changes: Mapping[str, Change]) -> None:
        self._provider, self._changes = provider, changes
        self._sent: dict[str, dict[str, Any]] = {}

    def call(self) -> Call:
        return Call(list(self._changes), "the work", self.send, self.landed)

    def send(self, ids: Sequence[str], fresh: Mapping[str, Fresh]) -> Answer:
        self._sent = {i: updated_work(fresh[i].raw, self._changes[i]) for i in ids}
        return self._provider._put(list(self._sent.values()))

    def landed(self, item_id: str, fresh: Fresh) -> bool:
        return fresh.raw == self._sent.get(item_id)


def _fresh(docs: Mapping[str, dict[str, Any]], managed: ManagedTags) -> dict[str, Fresh | str]:
    out: dict[str, Fresh | str] = {}
    for work_id, doc in docs.items():
        try:
            out[work_id] = Fresh(_to_item(doc, managed), doc)
        except _Malformed as exc:
            out[work_id] = f"the stored work is malformed ({exc})"
    return out


# ------------------------------------------------------------------ mapping
def _to_item(doc: Mapping[str, Any], managed: ManagedTags) -> Item:
    work_id = doc.get("id")
    if not isinstance(work_id, str) or not work_id:
        raise _Malformed("a work without a string id")
    status = doc.get("status")
    if not isinstance(status, str):
        raise _Malformed(f"work {work_id}: status is not a string")
    labels = doc.get("tags")
    if labels is None:
        labels = []
    if not isinstance(labels, list) or not all(isinstance(t, str) for t in labels):
        raise _Malformed(f"work {work_id}: tags is not a list of strings")
    locked = _locked(doc, work_id)
    tags = {label: (True,) for label in labels}
    return Item(
        id=work_id,
        etag=digest_etag(status, tags, locked, managed),
        status=status,
        tags=tags,
        locked=locked,
        base=_as_planned(doc),
        fields=ListedFields(doc, FIELDS),
    )


def _projection(queue: QueueSpec) -> dict[str, bool]:
    """PROJECTION, plus the service fields the queue's rules read."""
    wanted = fields_read(queue)
    return PROJECTION if not wanted else {**PROJECTION, **{name: True for name in sorted(wanted)}}


def _as_planned(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The work cut to PROJECTION, as a plan reads it: MongoDB's inclusion projection
    (`results` kept as an object holding only `locked`; left out when it is not an
    object). The guard's fresh copies are whole documents cut the same way, so a stale
    report compares like with like, whatever the server's projection does at the edges."""
    out: dict[str, Any] = {"id": doc["id"]}
    for name in ("status", "tags"):
        if name in doc:
            out[name] = doc[name]
    results = doc.get("results")
    if isinstance(results, dict):
        out["results"] = {"locked": results["locked"]} if "locked" in results else {}
    return out


def _locked(doc: Mapping[str, Any], work_id: str) -> bool:
    """`results.locked`; a work without results (null, absent, or no `locked`) is unlocked."""
    results = doc.get("results")
    if results is None:
        return False
    if not isinstance(results, dict):
        raise _Malformed(f"work {work_id}: results is not an object")
    locked = results.get("locked")
    if locked is None:
        return False
    if not isinstance(locked, bool):
        raise _Malformed(f"work {work_id}: results.locked is not true or false")
    return locked


def _relocking(opened: Change, managed: ManagedTags) -> Change:
    """The lock-only change that follows `opened` (a change with its unlock): guarded by
    the digest of the state `opened` leaves."""
    after = _to_item(updated_work(opened.base, opened), managed)
    return Change(opened.item_id, after.etag, (FieldChange("locked", False, True, None),), base=after.base, lock="lock")


def updated_work(doc: Mapping[str, Any], change: Change) -> dict[str, Any]:
    """The whole stored work with only the planned fields changed: status, the label
    list (old labels in their order, minus the removed, plus the added in sorted order)
    and results.locked; every other field as stored."""
    work = dict(doc)
    if change.changes_field("status"):
        work["status"] = change.after_value("status")
    tag_changes = change.tag_changes
    if tag_changes:
        for label, value in tag_changes.items():
            if value is not None and tuple(value) != (True,):
                raise _Malformed(f"label {label}: a label can only be set (true) or removed (null)")
        old = work.get("tags")
        labels = list(old) if isinstance(old, list) else []
        removed = {label for label, value in tag_changes.items() if value is None}
        kept = [t for t in labels if t not in removed]
        added = sorted(label for label, value in tag_changes.items() if value is not None and label not in kept)
        new = kept + added
        work["tags"] = new if (new or old is not None) else None
    if change.changes_field("locked"):
        results = work.get("results")
        if results is not None and not isinstance(results, dict):
            raise _Malformed("results is not an object, so results.locked cannot be set")
        work["results"] = {**(results or {}), "locked": bool(change.after_value("locked"))}
    return work


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
