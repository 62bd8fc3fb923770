"""AWS HealthOmics run batches through botocore (docs/omics.md).

A queue is a run group (or `all`: every batch of the region), an item a run batch. Its
tags are the batch's AWS tags; its status can only be set to CANCELLED, by
CancelRunBatch, which the service accepts from PENDING, SUBMITTING and INPROGRESS and
carries out asynchronously (STOPPING, then CANCELLED). The service has no etags: the
compare guard re-reads each batch right before writing.

botocore is the transport (credential chain, SigV4, endpoint rules); it is an optional
dependency, imported here only when an omics spec is opened. AWS serves batch operations
and tag operations on two hosts (`workflows-` and `tags-` host prefixes; two PrivateLink
endpoint services), so a custom endpoint comes as a pair, `endpoint` and `tags_endpoint`.
Retries are ours (reads and tag calls only, a bounded number within a bounded wait; a
cancel is re-sent only after a re-read). Each call, its retries and waits included, has
the HTTP layer's deadline, and each answer its size cap (omics_transport.py). Every
botocore error, and every answer botocore cannot parse, is turned into a ProviderError of
one line naming the operation and the path, with anything that looks like a credential
removed and control characters escaped.
"""

from __future__ import annotations

import html
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import date, datetime
from typing import Any, ClassVar
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import quote, urlsplit

from .. import http
from ..answer_bounds import AnswerDeadline, AnswerRefused, expired, watching
from ..http import shown_reason
from ..model import Change, Item, ProviderConfig, QueueSpec, StatusRules
from ..netcheck import check_endpoint, is_loopback, shown_url
from .listed_fields import ListedFields
from .base import (
    Capabilities,
    ConfigError,
    ListingMoved,
    Progress,
    Provider,
    ProviderError,
    Relisted,
    SpecProblem,
    WriteResult,
    digest_etag,
    read_twice,
    url_option_schema,
)
from .checks import spots
from .guarded import OK, Answer, Call, Calls, Fresh, GuardedService, guarded_write
from .service_client import unexpected_response

INSTALL_HINT = "pip install 'evalqueue-reconciler[omics]'"
REQUIRED_OPERATIONS = ("ListBatch", "GetBatch", "CancelRunBatch", "TagResource", "UntagResource")
PAGE_SIZE = 100  # ListBatch's maximum maxItems
MAX_IN_FLIGHT = 8  # GetBatch / tag calls sent at once (one connection each)
BATCH_LIMIT = 100  # changes per write call: one guard re-read round, then their writes
MAX_TAG_KEYS = 50  # per TagResource / UntagResource call
MAX_KEY_CHARS, MAX_VALUE_CHARS = 128, 256
RETRY_ATTEMPTS = 6  # of a read or tag call, counting the first
RETRY_BUDGET = 15.0  # seconds of waiting between attempts of one call, at most
BACKOFF_BASE, BACKOFF_CAP = 0.5, 8.0  # seconds: jittered, doubling (AWS's own scheme)
TIMEOUTS = {"connect_timeout": 10, "read_timeout": 60}
CANCELLED = "CANCELLED"
# Every batch status (the service model's RunBatchStatus), which a rule may match.
BATCH_STATUSES = (
    "CREATING",
    "PENDING",
    "SUBMITTING",
    "INPROGRESS",
    "STOPPING",
    "CANCELLED",
    "FAILED",
    "PROCESSED",
    "RUNS_DELETING",
    "RUNS_DELETE_FAILED",
    "RUNS_DELETED",
)
CANCELLABLE = frozenset({"PENDING", "SUBMITTING", "INPROGRESS"})
STOPPING = "STOPPING"
LOCK_VALUE = "true"
_ID = re.compile(r"[0-9]{1,18}")
# Transient failures a cancel may be re-sent after (once a re-read shows it did not land).
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestTimeoutException",
        "InternalServerException",
        "ServiceUnavailableException",
        "InternalFailure",
    }
)
_SECRETISH = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b|Credential=[^,\s]+|Signature=[0-9a-f]+")
_USERINFO = re.compile(r"(?<=://)[^\s'\"]*@")  # user:password@ of a URL, up to its last @
# What botocore raises, beside its own errors, on an answer it cannot parse: a list or
# null where an object belongs, JSON nested too deeply, a body that is not UTF-8.
_UNPARSABLE = (ValueError, TypeError, AttributeError, LookupError, RecursionError)
# Where the endpoint pair is explained (every refusal names the fix).
_PAIR_HINT = (
    "HealthOmics serves tag operations on another host than batch operations "
    "(`tags-` and `workflows-`; two VPC endpoints): give both `endpoint:` (workflows-omics) "
    "and `tags_endpoint:` (tags-omics) in the provider block, or neither to use AWS's"
)


# Read-only batch fields a `where: {item: …}` may test, all in the GetBatch answer the
# listing already reads (docs/omics.md "Service fields"): name → type, and where it is.
_RUN_COUNTS = (
    "pendingRunCount",
    "startingRunCount",
    "runningRunCount",
    "stoppingRunCount",
    "completedRunCount",
    "failedRunCount",
    "cancelledRunCount",
    "deletedRunCount",
)
FIELD_PATHS = {
    "creationTime": ("creationTime",),
    "submittedTime": ("submittedTime",),
    "processedTime": ("processedTime",),
    "failedTime": ("failedTime",),
    "totalRuns": ("totalRuns",),
    "name": ("defaultRunSetting", "name"),
    "workflowId": ("defaultRunSetting", "workflowId"),
    **{f"runSummary.{n}": ("runSummary", n) for n in _RUN_COUNTS},
}
FIELDS = {
    **{n: "timestamp" for n in ("creationTime", "submittedTime", "processedTime", "failedTime")},
    "totalRuns": "integer",
    "name": "string",
    "workflowId": "string",
    **{f"runSummary.{n}": "integer" for n in _RUN_COUNTS},
}


class OmicsProvider(GuardedService, Provider):
    type = "omics"
    max_in_flight = MAX_IN_FLIGHT
    resend_wait = BACKOFF_BASE
    capabilities = Capabilities(
        batch_limit=BATCH_LIMIT,
        text_tags=True,
        lock_option="tag",
        guard="compare",
        atomic_batches=False,
        status=StatusRules(
            values=(CANCELLED,),
            allowed_from={CANCELLED: CANCELLABLE},
            settles={CANCELLED: frozenset({STOPPING})},
            # finished on its own: no cancel will ever apply (settled otherwise, a note)
            ends={CANCELLED: frozenset({"PROCESSED", "FAILED", "RUNS_DELETING", "RUNS_DELETE_FAILED", "RUNS_DELETED"})},
            known=BATCH_STATUSES,
            name="HealthOmics run batch status",
        ),
        fields=FIELDS,
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": (
            "AWS HealthOmics run batches (needs the omics extra: pip install 'evalqueue-reconciler[omics]'); "
            "credentials come from the AWS chain (environment, AWS_PROFILE, ~/.aws/config, SSO), never from the spec."
        ),
        "properties": {
            "region": {
                "description": "AWS region. Default: AWS_REGION, AWS_DEFAULT_REGION or the profile's region.",
                "type": "string",
                "pattern": "^[a-z]{2}(-[a-z]+)+-[0-9]+$",
                "errorMessage": "expected an AWS region such as us-east-1",
            },
            "profile": {
                "description": (
                    "Profile of ~/.aws/config and ~/.aws/credentials. Default: AWS_PROFILE, else the default chain."
                ),
                "type": "string",
                "minLength": 1,
            },
            "endpoint": url_option_schema(
                "Endpoint URL of the batch operations instead of AWS's (the workflows-omics VPC endpoint, "
                "the sandbox); plain http only for loopback. Needs `tags_endpoint` too unless loopback. "
                "Default: AWS_ENDPOINT_URL_OMICS, AWS_ENDPOINT_URL (loopback only), else AWS's."
            ),
            "tags_endpoint": url_option_schema(
                "Endpoint URL of the tag operations (the tags-omics VPC endpoint, the sandbox's tags port), "
                "given together with `endpoint`. Default: `endpoint` when that is loopback."
            ),
        },
    }

    def __init__(
        self,
        client: Any,
        tags_client: Any,
        region: str,
        profile: str | None,
        secrets: Sequence[str] = (),
        endpoints: tuple[str, str] | None = None,
    ) -> None:
        self._client = client  # batch operations (workflows host); botocore retries off
        self._tags_client = tags_client  # tag operations (tags host); may be `client`
        self._region, self._profile = region, profile
        self._secrets = tuple(s for s in secrets if s)
        hosts = endpoints or (client.meta.endpoint_url.rstrip("/"), tags_client.meta.endpoint_url.rstrip("/"))
        self._endpoint: str = hosts[0]
        self._tags_endpoint: str = hosts[1]
        self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="omics")
        self._sent = 0  # every attempt botocore sends, retries included (the report's count)
        self._sent_lock = threading.Lock()
        from .omics_transport import bound

        for each in {id(c): c for c in (client, tags_client)}.values():
            each.meta.events.register("before-send.omics", self._count_sent)
            bound(each, lambda: http.MAX_ANSWER_BYTES)  # read when used: tests make it small

    def __repr__(self) -> str:
        return f"OmicsProvider(endpoint={self._endpoint!r}, region={self._region!r})"

    # ------------------------------------------------------------- opening
    @classmethod
    def from_config(cls, config: ProviderConfig) -> OmicsProvider:
        options = cls.checked_options(config.options)
        endpoints = _endpoints(options, os.environ)  # checked before anything is sent
        profile = (
            options.get("profile") or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or None
        )
        return cls.open(region=options.get("region"), profile=profile, endpoints=endpoints)

    @classmethod
    def endpoint_problem(cls, endpoint: object) -> str | None:
        return _endpoint_problem(endpoint, "endpoint")

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """`validate`'s view of the endpoint pair, at the line of the option to fix."""
        problems = [
            (name, p) for name in ("endpoint", "tags_endpoint") if (p := _endpoint_problem(options.get(name), name))
        ]
        if not problems:
            try:
                _pair(options.get("endpoint"), options.get("tags_endpoint"), "`endpoint`")
            except ConfigError as exc:
                where = "endpoint" if options.get("endpoint") else "tags_endpoint"
                problems.append((where, str(exc)))
        return problems

    @classmethod
    def open(cls, *, region: str | None, profile: str | None, endpoints: tuple[str, str] | None) -> OmicsProvider:
        try:
            import botocore.session
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ProfileNotFound
        except ImportError:
            raise ConfigError(f"provider omics needs botocore, which is not installed: {INSTALL_HINT}") from None
        try:
            session = botocore.session.Session(profile=profile)
            model = session.get_service_model("omics")
        except ProfileNotFound as exc:
            raise ConfigError(f"provider omics: {exc}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"provider omics: botocore cannot load the omics service: {exc}") from None
        missing = [op for op in REQUIRED_OPERATIONS if op not in model.operation_names]
        if missing:
            raise ConfigError(
                f"provider omics: botocore {botocore.__version__} has no {', '.join(missing)} "
                f"(run batches are newer): {INSTALL_HINT} --upgrade"
            )
        try:
            region = region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
        except ProfileNotFound as exc:
            raise ConfigError(f"provider omics: {exc}") from None
        if not region:
            raise ConfigError(
                "provider omics: no AWS region; set `region:` in the provider block, AWS_REGION "
                "or AWS_DEFAULT_REGION, or a region in the profile"
            )
        try:
            credentials = session.get_credentials()
        except BotoCoreError as exc:
            raise ConfigError(f"provider omics: cannot load AWS credentials: {_scrub(str(exc), ())}") from None
        if credentials is None:
            raise ConfigError(
                "provider omics: no AWS credentials found (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or `profile:`, ~/.aws/config; for SSO run "
                "`aws sso login` first)"
            )
        frozen = credentials.get_frozen_credentials()
        secrets = (frozen.access_key, frozen.secret_key, frozen.token or "")
        for what, value in (
            ("access key id", frozen.access_key),
            ("secret access key", frozen.secret_key),
            ("session token", frozen.token or ""),
        ):
            if value != value.strip() or any(c in value for c in "\r\n\0"):
                # botocore would send it anyway and quote it whole in its header error
                raise ConfigError(
                    f"provider omics: the AWS {what} has spaces or a line break in it "
                    f"(AWS_SESSION_TOKEN, AWS_ACCESS_KEY_ID and the rest come from "
                    f"the environment or the profile); remove them"
                )
        # Custom endpoints (the sandbox, VPC endpoints) are the hosts themselves:
        # botocore would otherwise prepend `workflows-` / `tags-` to them. An
        # `endpoint_url` in ~/.aws/config is not followed: it is one URL for both hosts.
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            **TIMEOUTS,
            max_pool_connections=MAX_IN_FLIGHT,
            inject_host_prefix=endpoints is None,
            ignore_configured_endpoint_urls=True,
            user_agent_appid="reconciler",
        )
        workflows, tags = endpoints or (None, None)
        try:
            client = session.create_client("omics", region_name=region, endpoint_url=workflows, config=config)
            tags_client = (
                client
                if tags == workflows
                else session.create_client("omics", region_name=region, endpoint_url=tags, config=config)
            )
        except BotoCoreError as exc:
            raise ConfigError(f"provider omics: {_scrub(str(exc), secrets)}") from None
        except ValueError as exc:  # botocore's own URL check, which repeats the URL
            raise ConfigError(f"provider omics: {_scrub(str(exc), secrets)}") from None
        if endpoints is None:  # AWS's: the hosts the prefixes make, recorded in plan files
            default = client.meta.endpoint_url.rstrip("/")
            check_endpoint(default)
            endpoints = (_prefixed(default, "workflows-"), _prefixed(default, "tags-"))
        from .omics_transport import Unbounded

        try:
            return cls(client, tags_client, region, profile, secrets, endpoints)
        except Unbounded as exc:
            raise ConfigError(
                f"provider omics: botocore {botocore.__version__} cannot be used: {exc} "
                f"(its requests would have no deadline or size cap): {INSTALL_HINT}"
            ) from None

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def plan_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"region": self._region, "tags_endpoint": self._tags_endpoint}
        if self._profile:
            options["profile"] = self._profile
        return options

    def _count_sent(self, **_: Any) -> None:
        """botocore's `before-send` fires once per attempt; returning None sends it."""
        with self._sent_lock:
            self._sent += 1

    def requests_sent(self) -> int:
        return self._sent

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
        if self._tags_client is not self._client:
            self._tags_client.close()

    # ------------------------------------------------------------- checks
    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        problems: list[SpecProblem] = []
        if queue.id != "all" and not _ID.fullmatch(queue.id):
            problems.append(
                SpecProblem(
                    f"queue id {queue.id!r} is not a HealthOmics run group id (1 to 18 digits) or `all`",
                    ("id",),
                )
            )
        problems += [SpecProblem(p, ("lock", "tag")) for p in _key_problems(queue.lock_key, None)]
        for spot in spots(queue):
            if spot.kind == "id" and not _ID.fullmatch(spot.value):
                problems.append(_bad_id(spot.value, spot.path))
            elif spot.kind == "tag":
                problems += [SpecProblem(p, spot.path) for p in _key_problems(spot.key, queue.lock_key)]
                if spot.value is not None:
                    problems += [SpecProblem(p, spot.path) for p in _value_problems(spot.key, spot.value)]
        return problems

    # ------------------------------------------------------------- reading
    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """ListBatch pages of 100, each followed by its batches' GetBatch (tags and arn
        are only there), MAX_IN_FLIGHT at a time. The service documents no order for
        ListBatch; a batch listed twice means the listing moved under us: read it again."""
        return read_twice(
            lambda: self._pages_once(queue, progress),
            lambda exc: f"run group {queue.id}: {exc}; the run group kept changing while it was read, try again",
        )

    def _pages_once(self, queue: QueueSpec, progress: Progress | None) -> Iterator[list[Item]]:
        seen: set[str] = set()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"maxItems": PAGE_SIZE}
            if queue.id != "all":
                params["runGroupId"] = queue.id
            if token:
                params["startingToken"] = token
            page = self._call(self._client, "ListBatch", "GET /runBatch", **params)
            listed = page.get("items")
            if not isinstance(listed, list) or not all(
                isinstance(b, dict) and isinstance(b.get("id"), str) and _ID.fullmatch(b["id"]) for b in listed
            ):  # ids end up in paths and messages: only what AWS's pattern allows
                raise self._unexpected("GET /runBatch", "items is not a list of batches with ids of 1 to 18 digits")
            ids = [b["id"] for b in listed]
            for batch_id in ids:
                if batch_id in seen:
                    raise ListingMoved(f"batch {batch_id} was listed twice")
                seen.add(batch_id)
            # A batch deleted between the listing and its GetBatch is simply not there.
            items = [item for item in self._get_many(ids, queue) if item is not None]
            if progress and items:
                progress(len(items))
            yield items
            token = page.get("nextToken")
            if token is not None and not isinstance(token, str):
                raise self._unexpected("GET /runBatch", "nextToken is not a string")
            if not token:
                return

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        wanted = [i for i in dict.fromkeys(ids) if _ID.fullmatch(i)]
        return [item for item in self._get_many(wanted, queue) if item is not None]

    def _get_many(self, ids: Sequence[str], queue: QueueSpec) -> list[Item | None]:
        """Every read answered (or given up) before the first failure is raised: no
        request is still being sent, or retried, once the caller has moved on."""
        futures = [self._pool.submit(self._get_one, batch_id, queue) for batch_id in ids]
        wait(futures)
        return [future.result() for future in futures]

    def _get_one(self, batch_id: str, queue: QueueSpec) -> Item | None:
        path = f"GET /runBatch/{batch_id}"
        try:
            batch = self._call(self._client, "GetBatch", path, batchId=batch_id)
        except _NotFound:
            return None
        item = self._item(batch, queue, path)
        if item.id != batch_id:
            raise self._unexpected(path, f"answered batch {item.id!r}")
        group = _run_group(batch)
        # ListBatch's runGroupId filter is trusted: GetBatch need not repeat the group in
        # `defaultRunSetting` (AWS documents the field as optional); only a batch that
        # names another run group is not (or no longer) this queue's.
        if queue.id != "all" and group is not None and group != queue.id:
            return None
        return item

    def _item(self, batch: Mapping[str, Any], queue: QueueSpec, path: str) -> Item:
        batch_id, status, arn = batch.get("id"), batch.get("status"), batch.get("arn")
        if not isinstance(batch_id, str) or not isinstance(status, str) or not isinstance(arn, str):
            raise self._unexpected(path, "a batch needs string id, status and arn")
        raw_tags = batch.get("tags") or {}
        if not isinstance(raw_tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw_tags.items()
        ):
            raise self._unexpected(path, "tags is not a map of strings")
        locked = raw_tags.get(queue.lock_key) == LOCK_VALUE
        tags = {k: (v,) for k, v in raw_tags.items() if k != queue.lock_key}
        return Item(
            id=batch_id,
            etag=digest_etag(status, tags, locked, queue.managed_tags),
            status=status,
            tags=tags,
            locked=locked,
            base=_json_safe(batch),
            fields=ListedFields(batch, FIELDS, FIELD_PATHS),
        )

    # ------------------------------------------------------------- writing
    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        """The guarded write (guarded.py); per batch: untag, tag, cancel, and the lock
        tag last when the change locks (the change lands before its lock)."""
        return guarded_write(self, queue, changes)

    def guard_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> dict[str, Fresh]:
        return {item.id: Fresh(item) for item in self.get(queue, [c.item_id for c in changes])}

    def guard_calls(self, queue: QueueSpec, pairs: Sequence[tuple[Change, Fresh]]) -> Calls:
        out = Calls()
        for change, fresh in pairs:
            out.calls += self._calls(queue, change, fresh.item)
        return out

    def _calls(self, queue: QueueSpec, change: Change, fresh: Item) -> list[Call]:
        """A batch's calls: tag calls (idempotent, so `_call` re-sends them after a
        transient failure), then the cancel (settled by a re-read after a lost answer)."""
        arn = fresh.base["arn"]
        tag_path = f"/tags/{quote(arn, safe='')}"
        upserts = {k: v[0] for k, v in change.tag_changes.items() if v is not None}
        removals = [k for k, v in change.tag_changes.items() if v is None]
        if change.lock == "unlock":
            removals.append(queue.lock_key)
        lock_last = change.lock == "lock"
        cancel = change.changes_field("status") and change.after_value("status") == CANCELLED
        if lock_last and not cancel:
            upserts[queue.lock_key] = LOCK_VALUE  # with the change: one call
            lock_last = False

        def call(what: str, send: Any, landed: Any = None) -> Call:
            return Call(
                [change.item_id],
                what,
                lambda _ids, _fresh: _answer(send, landed is not None),
                landed or (lambda _id, _fresh: False),
            )

        calls = [
            call(
                f"untag {', '.join(keys)}",
                lambda keys=keys: self._call(
                    self._tags_client, "UntagResource", f"DELETE {tag_path}", resourceArn=arn, tagKeys=keys
                ),
            )
            for keys in _chunks(sorted(removals))
        ]
        calls += [
            call(
                f"tag {', '.join(keys)}",
                lambda keys=keys: self._call(
                    self._tags_client,
                    "TagResource",
                    f"POST {tag_path}",
                    resourceArn=arn,
                    tags={k: upserts[k] for k in keys},
                ),
            )
            for keys in _chunks(sorted(upserts))
        ]
        if cancel:
            calls.append(
                call(
                    "cancel",
                    lambda: self._call(
                        self._client, "CancelRunBatch", "POST /runBatch/cancel", retry=False, batchId=change.item_id
                    ),
                    _cancel_landed,
                )
            )
        if lock_last:
            calls.append(
                call(
                    f"lock tag {queue.lock_key}",
                    lambda: self._call(
                        self._tags_client,
                        "TagResource",
                        f"POST {tag_path}",
                        resourceArn=arn,
                        tags={queue.lock_key: LOCK_VALUE},
                    ),
                )
            )
        return calls

    # ------------------------------------------------------------- transport
    def _call(self, client: Any, operation: str, path: str, *, retry: bool = True, **params: Any) -> dict[str, Any]:
        """One operation; a throttle, a 5xx or a lost answer is re-sent (with `retry`)
        up to RETRY_ATTEMPTS times while the waits stay within RETRY_BUDGET, whatever
        the service says (botocore reads no `Retry-After`; a garbage one changes nothing).
        All of it, every attempt and wait, within one deadline (answer_bounds' watchdog
        shuts the socket of an answer still coming when it passes)."""
        waited = 0.0
        with watching(http.REQUEST_DEADLINE) as watch:
            for attempt in range(1, RETRY_ATTEMPTS + 1):
                try:
                    return self._call_once(client, operation, path, params)
                except _Lost:
                    raise  # final: the deadline passed, or the answer was refused whole
                except _Transient as exc:
                    delay = random.random() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                    if not retry or attempt == RETRY_ATTEMPTS or waited + delay > RETRY_BUDGET:
                        if retry:
                            raise type(exc)(f"{exc} (after {attempt} attempts)") from None
                        raise
                    if delay >= watch.remaining():  # a wait that would pass the deadline
                        raise _Lost(f"{self._past_deadline(operation, path)} (after {attempt} attempts)") from None
                time.sleep(delay)
                waited += delay
        raise AssertionError("unreachable")

    @staticmethod
    def _past_deadline(operation: str, path: str) -> str:
        """The HTTP layer's words; REQUEST_DEADLINE is read when used (tests make it small)."""
        return (
            f"omics {operation} {path}: no complete answer within the {http.REQUEST_DEADLINE:g} s deadline of a request"
        )

    def _call_once(self, client: Any, operation: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        method = getattr(client, _snake(operation))
        try:
            response = method(**params)
        except AnswerDeadline:
            raise _Lost(self._past_deadline(operation, path)) from None
        except AnswerRefused as exc:  # over the size cap
            raise _Lost(f"omics {operation} {path}: {exc}") from None
        except ClientError as exc:
            raw = _object(exc.response)
            error, meta = _object(raw.get("Error")), _object(raw.get("ResponseMetadata"))
            code = self._shown(str(error.get("Code") or "Unknown"))[:100]
            message = self._shown(_reason(str(error.get("Message") or "")))
            status = meta.get("HTTPStatusCode")
            text = (
                f"omics {operation} {path}: {code}"
                + (f" ({status})" if status else "")
                + (f": {message}" if message else "")
            )
            if code == "ResourceNotFoundException":
                raise _NotFound(text) from None
            if code in (
                "AccessDeniedException",
                "UnrecognizedClientException",
                "InvalidSignatureException",
                "ExpiredTokenException",
            ):
                raise _Denied(text) from None
            if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
                raise _Transient(text) from None
            if code == "UnknownOperationException":
                raise ProviderError(f"{text}; this endpoint does not serve {operation}: {_PAIR_HINT}") from None
            raise ProviderError(text) from None
        except (BotoConnectionError, HTTPClientError) as exc:  # no answer: it may have landed
            if expired():  # the watchdog shut the socket
                raise _Lost(self._past_deadline(operation, path)) from None
            raise _Transient(f"omics {operation} {path}: {self._shown(str(exc))}") from None
        except BotoCoreError as exc:
            raise ProviderError(f"omics {operation} {path}: {self._shown(str(exc))}") from None
        except _UNPARSABLE as exc:  # an answer botocore cannot parse is not our bug
            raise self._unexpected(path, _unparsable(exc)) from None
        if not isinstance(response, dict):
            raise self._unexpected(path, "the answer is not an object")
        response.pop("ResponseMetadata", None)
        return response

    def _shown(self, text: str) -> str:
        """Service or botocore text for a message: one line, capped, control characters
        escaped, credentials removed."""
        shown = shown_reason(None, text, self._scrub)  # type: ignore[arg-type]  # text given: no response read
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), shown)

    def _scrub(self, text: str) -> str:
        return _scrub(text, self._secrets)

    @staticmethod
    def _unexpected(path: str, what: str) -> ProviderError:
        return ProviderError(unexpected_response(f"omics {path}", what))


class _NotFound(ProviderError):
    pass


class _Denied(ProviderError):
    pass


class _Transient(ProviderError):
    pass


class _Lost(_Transient):
    """No whole answer (past the deadline, over the size cap): the call may have landed,
    and it is not sent again."""


def _answer(send: Any, once: bool) -> Answer:
    """A call's outcome: a transient failure of a call sent once (the cancel) may have
    landed; the service failing for good (after retries) or refusing our credentials
    is no property of this batch and stops the run."""
    try:
        send()
    except _Transient as exc:
        return Answer("lost" if once else "refused", str(exc), fatal=True)
    except ProviderError as exc:
        return Answer("refused", str(exc), fatal=isinstance(exc, _Denied))
    return OK


def _cancel_landed(batch_id: str, fresh: Fresh) -> bool | str:
    """After a lost cancel answer: STOPPING or CANCELLED, ours landed; still
    cancellable, send it again; anything else never will."""
    status = fresh.item.status
    if status in (STOPPING, CANCELLED):
        return True
    if status in CANCELLABLE:
        return False
    return f"omics POST /runBatch/cancel: batch {batch_id} is now {status} and cannot be cancelled"


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
            stripped = secret.strip()  # a token with a stray newline is shown without it
            if len(stripped) >= 8:
                text = text.replace(stripped, "***")
    return _USERINFO.sub("***@", _SECRETISH.sub("***", text))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ----------------------------------------------------------------- endpoints
def _endpoints(options: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(workflows endpoint, tags endpoint), or None for AWS's. An endpoint from the
    environment (AWS_ENDPOINT_URL_OMICS, AWS_ENDPOINT_URL) is one URL, so only a
    loopback one (the sandbox) is taken: another would silently send tag calls to the
    workflows host."""
    endpoint, source = options.get("endpoint"), "`endpoint`"
    if endpoint is None:
        for name in ("AWS_ENDPOINT_URL_OMICS", "AWS_ENDPOINT_URL"):
            if environ.get(name):
                endpoint, source = environ[name], name
                break
        if options.get("tags_endpoint") is not None and endpoint is None:
            raise ConfigError(f"omics provider option `tags_endpoint` needs `endpoint` too: {_PAIR_HINT}")
    if endpoint is None:
        return None
    for value, name in ((endpoint, source), (options.get("tags_endpoint"), "`tags_endpoint`")):
        problem = _endpoint_problem(value, name)
        if problem:
            raise ConfigError(problem)
    return _pair(endpoint, options.get("tags_endpoint"), source)


def _pair(endpoint: str | None, tags_endpoint: str | None, source: str) -> tuple[str, str] | None:
    """The options rule no schema states (`options_schema` checks each URL alone): a
    non-loopback `endpoint` needs `tags_endpoint`, and `tags_endpoint` needs `endpoint`.
    The one place it is written; `option_problems` (validate) and `_endpoints` (opening)
    both ask it."""
    if endpoint is None:
        if tags_endpoint is not None:
            raise ConfigError(f"`tags_endpoint` without `endpoint`: {_PAIR_HINT}")
        return None
    endpoint = endpoint.rstrip("/")
    if tags_endpoint is None:
        if not is_loopback(urlsplit(endpoint).hostname or ""):
            raise ConfigError(f"{source} {shown_url(endpoint)!r} has no `tags_endpoint`: {_PAIR_HINT}")
        return endpoint, endpoint  # a loopback fake may serve both
    return endpoint, tags_endpoint.rstrip("/")


def _endpoint_problem(value: object, name: str) -> str | None:
    """check_endpoint's verdict (its messages show the URL through shown_url: no password)."""
    if not isinstance(value, str):
        return None
    try:
        check_endpoint(value.rstrip("/"))
    except ConfigError as exc:
        text = str(exc)
        return text if name == "endpoint" else text.replace("endpoint", name, 1)
    return None


def _prefixed(url: str, prefix: str) -> str:
    """AWS's URL with a host prefix, as botocore sends to it (`workflows-omics…`)."""
    parts = urlsplit(url)
    return parts._replace(netloc=prefix + parts.netloc).geturl()


def _unparsable(exc: BaseException) -> str:
    """What was wrong with an answer botocore could not parse, in the user's words."""
    if isinstance(exc, RecursionError):
        return "the JSON is nested too deeply to read"
    if isinstance(exc, UnicodeError):
        return "the body is not UTF-8 JSON (compressed, or another encoding such as an HTML page's)"
    if isinstance(exc, ValueError):
        return "the body is not JSON"
    return "the JSON does not have the shape of the service model (a list, null or a string where an object belongs)"


def _object(value: Any) -> dict[str, Any]:
    """`value` if botocore parsed a JSON object there, else empty: an error body is the
    service's (or a proxy's) to shape."""
    return value if isinstance(value, dict) else {}


def _reason(message: str) -> str:
    """The words of an error message that may be a whole HTML page (a proxy's or a load
    balancer's): its title, else its text without markup."""
    if "<" not in message:
        return message
    title = _TITLE.search(message)
    text = title.group(1) if title else _MARKUP.sub(" ", message)
    return html.unescape(text)


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_MARKUP = re.compile(r"<[^>]*>")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _run_group(batch: Mapping[str, Any]) -> Any:
    setting = batch.get("defaultRunSetting")
    return setting.get("runGroupId") if isinstance(setting, dict) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _chunks(keys: Sequence[str]) -> list[list[str]]:
    return [list(keys[i : i + MAX_TAG_KEYS]) for i in range(0, len(keys), MAX_TAG_KEYS)]


# ----------------------------------------------------------------- offline checks
def _bad_id(item_id: str, path: tuple[Any, ...]) -> SpecProblem:
    return SpecProblem(f"batch id {item_id!r} is not a HealthOmics run batch id (1 to 18 digits)", path)


def _key_problems(key: str, lock_key: str | None) -> list[str]:
    if lock_key is not None and key == lock_key:
        return [f"{key!r} is the lock tag of this queue; use `locked:`"]
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        return [f"tag key {key!r} has {len(key)} characters; AWS allows 1 to {MAX_KEY_CHARS}"]
    if key.lower().startswith("aws:"):
        return [f"tag key {key!r} begins with `aws:`, which AWS reserves"]
    return []


def _value_problems(key: str, value: tuple[Any, ...]) -> list[str]:
    if len(value) != 1 or not isinstance(value[0], str):
        return [
            f"tag {key!r} must be one string on HealthOmics (AWS tags are text; quote numbers and booleans, no lists)"
        ]
    if len(value[0]) > MAX_VALUE_CHARS:
        return [f"tag {key!r} has {len(value[0])} characters; AWS allows at most {MAX_VALUE_CHARS}"]
    return []


PROVIDER = OmicsProvider
