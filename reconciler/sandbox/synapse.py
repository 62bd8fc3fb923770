"""The Synapse fake: SubmissionStatus endpoints over the embedded store.

Request handling follows Synapse's order of checks (docs/sandbox.md, "What is faithful to
Synapse"): filters first (injected 503, bearer token, throttles: the harness), then each
endpoint's own validation in the order the server performs it, so a client sees the same
error Synapse would send.
"""

from __future__ import annotations

import hmac
import json
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping

if TYPE_CHECKING:
    from .server import SandboxConfig

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ..errors import UserError
from ..model import TagValue, format_scalar, to_scalar
from ..seed import load_seed
from ..store import NewItem, Record, StaleRecord, StaleToken, Store, Update, create_new
from ..providers.synapse_facts import BATCH_LIMIT, MAX_BODY_BYTES
from .faults import Faults
from .harness import BadJson, BodyTooLarge, FakeService, read_json
from .quirks import Quirk
from .synapse_json import (
    SANDBOX_USER_ID,
    SUBMISSION_FIELDS,
    SUBMITTER_FIELDS,
    InvalidStatus,
    StatusIn,
    bundle_json,
    parse_status,
    parse_status_filter,
    require_fields,
    status_json,
    validate_content,
)

PREFIX = "/repo/v1"
# `reconciler serve --quirk`: none; Synapse's behaviour is documented and observed, so
# the fake has one mode (its test-only faults are SandboxConfig fields, docs/sandbox.md)
QUIRKS: tuple[Quirk, ...] = ()
FIRST_SYNTHETIC_ID = 9700001
# What a new Synapse submission's status carries besides the modelled fields.
NEW_STATUS_EXTRA = {"canCancel": False, "cancelRequested": False}
MAX_BATCH = BATCH_LIMIT
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
ERROR_TYPE = "org.sagebionetworks.repo.model.ErrorResponse"
RETRYABLE = {429, 500, 502, 503, 504}
# Reason texts on which the official client retries any status (docs/synapse.md, "Retries and backoff");
# a 4xx that echoes user input containing them must not make a client spin for 30 min.
_RETRY_MARKERS = re.compile(
    r"proxy error|slow down|slowdown|timeout|timed out|connection reset by peer|"
    r"unknown ssl protocol error|couldn't connect to host|try again",
    re.IGNORECASE,
)

URLS = Map(
    [
        Rule(f"{PREFIX}/userProfile", endpoint="user_profile", methods=["GET"]),
        Rule(f"{PREFIX}/evaluation/submission/<sub_id>/status", endpoint="get_status", methods=["GET"]),
        Rule(f"{PREFIX}/evaluation/submission/<sub_id>/status", endpoint="put_status", methods=["PUT"]),
        Rule(f"{PREFIX}/evaluation/<eval_id>/submission/status/all", endpoint="list_statuses", methods=["GET"]),
        Rule(f"{PREFIX}/evaluation/<eval_id>/submission/bundle/all", endpoint="list_bundles", methods=["GET"]),
        Rule(f"{PREFIX}/evaluation/<eval_id>/statusBatch", endpoint="put_batch", methods=["PUT"]),
    ],
    strict_slashes=False,
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class SynapseFake(FakeService):
    prefix = PREFIX
    title = "Synapse-compatible sandbox"

    def __init__(self, store: Store, token: str, faults: Faults) -> None:
        self.store, self.faults = store, faults
        self._token = token.encode()

    def close(self) -> None:
        self.store.close()

    def probe(self, request: Request) -> Response | None:
        if request.method == "GET" and request.path.rstrip("/") == PREFIX:
            return _json(200, {})  # the official client's endpoint probe, unauthenticated
        return None

    def error(self, code: int, message: str) -> Response:
        return _error(code, message)

    def throttled(self, reason: str) -> Response:
        return _json(429, {"reason": reason})

    def authenticate(self, request: Request) -> Response | None:
        return self._authenticate(request)

    def route(self, request: Request) -> Response:
        return self._route(request)

    def _authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            reason = "Missing access token: send an 'Authorization: Bearer' header."
        elif header.startswith("Bearer ") and hmac.compare_digest(header[len("Bearer ") :].encode(), self._token):
            return None
        else:
            reason = "Invalid access token."
        response = _json(401, {"reason": reason})
        response.headers["WWW-Authenticate"] = 'Bearer realm="Synapse Repository Services"'
        return response

    def _route(self, request: Request) -> Response:
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return _error(405, f"{request.method} is not supported on {request.path}")
        except NotFound:
            return _error(404, f"No API at {request.path}")
        try:
            body = getattr(self, endpoint)(request, **args)
        except ApiError as e:
            return _error(e.code, e.reason)
        except InvalidStatus as e:
            return _error(400, str(e))
        return _json(200, body)

    # ------------------------------------------------------------- endpoints
    def user_profile(self, request: Request) -> dict:
        return {"ownerId": SANDBOX_USER_ID, "userName": "sandbox", "emails": []}

    def get_status(self, request: Request, sub_id: str) -> dict:
        return status_json(self._submission(sub_id))

    def put_status(self, request: Request, sub_id: str) -> dict:
        status = parse_status(self._body(request))
        if status.id != sub_id:
            raise InvalidStatus(f"Submission ID does not match requested ID: {sub_id}")
        record = self._submission(sub_id)
        tags, fields = validate_content(status, record.queue)
        update = self._update(status, *require_fields(status), tags, fields, record.extra)
        try:
            result = self.store.write(record.queue, [update])
        except StaleRecord as e:
            raise ApiError(412, _stale_message(e.item_id)) from None
        return status_json(result.records[0])

    def list_statuses(self, request: Request, eval_id: str) -> dict:
        records, limit, offset = self._page(request, eval_id, "READ")
        return _paginated([status_json(r) for r in records], limit, offset)

    def list_bundles(self, request: Request, eval_id: str) -> dict:
        records, limit, offset = self._page(request, eval_id, "READ_PRIVATE_SUBMISSION")
        return _paginated([bundle_json(r) for r in records], limit, offset)

    def put_batch(self, request: Request, eval_id: str) -> dict:
        """SubmissionManagerImpl.updateSubmissionStatusBatch, step by step (docs/sandbox.md,
        "What is faithful to Synapse")."""
        if self.faults.forbids_next_batch():
            raise ApiError(403, f"User lacks UPDATE_SUBMISSION access to Evaluation {eval_id}")
        batch = self._body(request)
        if not isinstance(batch, dict):
            raise InvalidStatus("SubmissionStatusBatch must be a JSONObject.")
        statuses = batch.get("statuses")
        if statuses is not None and not isinstance(statuses, list):
            raise InvalidStatus('JSONObject["statuses"] is not a JSONArray.')
        parsed = [None if s is None else parse_status(s) for s in statuses or []]
        for name in ("isFirstBatch", "isLastBatch"):
            if batch.get(name) is not None and not isinstance(batch[name], bool):
                raise InvalidStatus(f'JSONObject["{name}"] is not a boolean.')
        token = batch.get("batchToken")
        if token is not None and not isinstance(token, str):
            raise InvalidStatus('JSONObject["batchToken"] is not a string.')
        for name in ("isFirstBatch", "isLastBatch", "statuses"):
            if batch.get(name) is None:
                raise InvalidStatus(f"{name} is required.")
        if not parsed:
            raise InvalidStatus("statuses is required and must not be empty.")
        if len(parsed) > MAX_BATCH:
            raise InvalidStatus(f"Batch size cannot exceed {MAX_BATCH}")
        contents, present = [], []
        for status in parsed:
            if status is None:
                raise InvalidStatus("SubmissionStatus is required.")
            present.append(status)
            contents.append(validate_content(status, eval_id))
        records = self._batch_records([s.id for s in present if s.id is not None], eval_id)
        first, last = batch["isFirstBatch"], batch["isLastBatch"]
        if not first and token is None:
            raise InvalidStatus("batchToken is required.")
        seen: set[str] = set()
        updates = []
        for status, (tags, fields) in zip(present, contents, strict=True):
            sub_id, etag = require_fields(status)
            if sub_id in seen:
                raise InvalidStatus(f"Submission status {sub_id} occurs more than once in the batch.")
            seen.add(sub_id)
            updates.append(self._update(status, sub_id, etag, tags, fields, records[sub_id].extra))
        try:
            result = self.store.write(eval_id, updates, token=None if first else token)
        except StaleToken:
            raise ApiError(412, "Your batch token is out of date.  You must restart upload from first batch.") from None
        except StaleRecord as e:
            raise ApiError(412, _stale_message(e.item_id)) from None
        return {} if last else {"nextUploadToken": result.queue_token}

    # --------------------------------------------------------------- helpers
    def _submission(self, sub_id: str) -> Record:
        record = self.store.get(sub_id)
        if record is None:
            raise ApiError(404, "The resource you are attempting to access cannot be found")
        return record

    def _batch_records(self, ids: list[str], eval_id: str) -> dict[str, Record]:
        """getEvaluationIdForBatch (Synapse's SubmissionStatusDAOImpl): which evaluation the batch is for."""
        if not ids:
            raise InvalidStatus("SubmissionStatus batch has no Submission Ids.")
        records = self.store.get_many(ids)
        if not records:
            raise ApiError(404, "Submissions are not found in the system.")
        queues = {r.queue for r in records.values()}
        if len(queues) > 1:
            raise InvalidStatus("Submission batch must be for a single Evaluation queue.")
        if queues != {eval_id}:
            raise InvalidStatus("Specified Evaluation ID does not match submissions in the batch.")
        missing = [i for i in ids if i not in records]
        if missing:
            # Synapse fails here with a 500 (inferred); a 404 says what is wrong.
            raise ApiError(404, f"Submission could not be found with id :{missing[0]}")
        return records

    @staticmethod
    def _update(
        status: StatusIn,
        sub_id: str,
        etag: str,
        tags: dict[str, TagValue],
        fields: dict[str, Any],
        stored_extra: Mapping[str, Any],
    ) -> Update:
        """Full replacement of the status, except what Synapse takes from the Submission."""
        extra = dict(fields)
        extra.update({k: stored_extra[k] for k in SUBMISSION_FIELDS + SUBMITTER_FIELDS if k in stored_extra})
        return Update(id=sub_id, etag=etag, status=status.status, tags=tags, extra=extra)

    def _page(self, request: Request, eval_id: str, access: str) -> tuple[list[Record], int, int]:
        status = request.args.get("status")
        if status is not None:
            status = parse_status_filter(status)
        limit = _int_param(request, "limit", DEFAULT_LIMIT)
        offset = _int_param(request, "offset", 0)
        if not 0 <= limit <= MAX_LIMIT:
            raise InvalidStatus(f"limit must be between 0 and {MAX_LIMIT}")
        if offset < 0:
            raise InvalidStatus("'offset' may not be negative")
        if not self.store.has_queue(eval_id):
            raise ApiError(403, f"User lacks {access} access to Evaluation {eval_id}")
        return self.store.page(eval_id, offset, limit, status), limit, offset

    def _body(self, request: Request) -> Any:
        try:
            return read_json(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise ApiError(413, _too_large()) from None
        except BadJson as e:
            raise InvalidStatus(f"The request body is not valid JSON: {e}") from None


def _stale_message(item_id: str) -> str:
    return (
        f"Submission Status: {item_id} was updated since you last fetched it, retrieve it again and reapply the update"
    )


def _too_large() -> str:
    return f"Request body exceeds the maximum allowed size of {MAX_BODY_BYTES} bytes."


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidStatus(
            f"Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"{raw}\""
        ) from None


def _paginated(results: list, limit: int, offset: int) -> dict:
    """Synapse estimates the total (PaginatedResults.createWithLimitAndOffset)."""
    total = offset + len(results) + (1 if len(results) >= limit else 0)
    return {"totalNumberOfResults": total, "results": results}


def _json(code: int, body: Any) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=code, content_type="application/json;charset=UTF-8")


def _error(code: int, reason: str) -> Response:
    if code not in RETRYABLE:
        reason = _RETRY_MARKERS.sub(_defuse, reason)
    return _json(code, {"concreteType": ERROR_TYPE, "reason": reason})


def _defuse(match: re.Match) -> str:
    """`timeout` → `time-out`, `try again` → `try-again`: still readable, not retried."""
    text = match.group(0)
    if " " in text:
        return text.replace(" ", "-", 1)
    return text[:4] + "-" + text[4:]


# ------------------------------------------------------------------ building
def build(config: SandboxConfig, faults: Faults, quirks: Mapping[str, Any]) -> SynapseFake:
    for eval_id, _ in config.synthetic:
        if not eval_id.isdigit():
            raise UserError(f"--synthetic {eval_id}: a Synapse evaluation id is a number")
    return SynapseFake(open_store(config), config.token, faults)


def open_store(config: SandboxConfig) -> Store:
    """The sandbox's store, created from the seed and synthetic items if it is new."""
    seeded = load_seed(config.seed) if config.seed else {}

    def fill(store: Store) -> None:
        for queue_id, items in seeded.items():
            store.create_queue(queue_id)
            store.insert(queue_id, [_as_submission(item) for item in items])
        next_id = (
            max(
                [FIRST_SYNTHETIC_ID - 1]
                + [int(item.id) for items in seeded.values() for item in items if item.id.isdigit()]
            )
            + 1
        )
        for eval_id, count in config.synthetic:
            store.create_queue(eval_id)
            store.insert(eval_id, _synthetic(next_id, count))
            next_id += count

    path = (
        Path(config.db_path)
        if config.db_path is not None
        else Path(tempfile.mkdtemp(prefix="reconciler-sandbox-")) / "sandbox.db"
    )
    create_new(path, fill)
    return Store(path)


def _as_submission(item: NewItem) -> NewItem:
    """Synapse has no native lock: a seeded lock becomes the BOOLEAN annotation `locked`."""
    tags = dict(item.tags)
    if item.locked:
        tags["locked"] = (True,)
    return NewItem(id=item.id, status=item.status, tags=tags, extra={**NEW_STATUS_EXTRA, **item.extra})


def _synthetic(first: int, count: int) -> Iterator[NewItem]:
    """Items as a challenge has them: submitted over the past 30 days by some 300 users,
    every third one on behalf of one of 40 teams, a few asking for cancellation."""
    start = datetime.now(timezone.utc) - timedelta(days=30)
    for n in range(first, first + count):
        extra = {
            **NEW_STATUS_EXTRA,
            "userId": str(3350000 + n * 7919 % 300),
            "createdOn": format_scalar(to_scalar(start + timedelta(seconds=(n - first) * 30 * 86400 // max(count, 1)))),
        }
        if n % 3 == 0:
            team = n * 104729 % 40
            extra.update(teamId=str(3460000 + team), submitterAlias=f"team-{team}")
        if n % 97 == 0:
            extra.update(canCancel=True, cancelRequested=True)
        yield NewItem(id=str(n), extra=extra)
