"""The AWS HealthOmics fake: run batches and their tags (docs/omics.md, docs/sandbox.md).

Six operations at the paths, methods and status codes of botocore's service model
(`omics` 2022-11-28), answering in AWS's rest-json dialect: errors carry the
`x-amzn-ErrorType` header and a `{"message"}` body, which is where botocore takes the
error code from. A request must be SigV4-signed with the sandbox token as its access key
id; the signature itself is not verified (the fake has no secret to check it with).

AWS serves batch operations on the `workflows-` host and tag operations on the `tags-`
host (two PrivateLink endpoint services); so does the fake, on two ports, and a call to
the wrong one gets what AWS answers for a route it does not have: 404
UnknownOperationException. `--quirk one-host` serves both on one port (a plain botocore client
with one `endpoint_url` and host prefixes off).

A batch's status moves only by CancelRunBatch (to STOPPING) and then, as on AWS,
asynchronously to CANCELLED: here after `settle_reads` reads of the batch (GetBatch or a
ListBatch page showing it), so tests can hold a batch in STOPPING or watch it settle
without waiting on a clock.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from .server import SandboxConfig

from ..errors import UserError
from .docstore import DocStore
from .faults import Faults
from .harness import BadJson, BodyTooLarge, FakeService, read_json
from .quirks import Quirk

COLLECTION = "batches"
WORKFLOWS, TAGS = "workflows", "tags"  # AWS's host prefixes: the fake's two hosts
REGION = "us-east-1"
ACCOUNT = "123456789012"
FIRST_SYNTHETIC_ID = 1000001
STATUSES = (
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
BUSY = frozenset({"STOPPING", "RUNS_DELETING"})  # a cancel or delete already under way
DEFAULT_SETTLE_READS = 3
# `reconciler serve --quirk NAME[=VALUE]` (docs/sandbox.md)
QUIRKS = (
    Quirk("one-host", "serve batch and tag operations on one port (AWS: two hosts), for a plain botocore client"),
)
MAX_ITEMS = 100
DEFAULT_MAX_ITEMS = 100  # AWS documents ListBatch's default maxItems as 100
MAX_TAG_KEYS = 50  # per TagResource / UntagResource call
MAX_TAGS_PER_RESOURCE = 50  # unverified for HealthOmics: the usual AWS limit
MAX_KEY_CHARS, MAX_VALUE_CHARS = 128, 256
MAX_BODY_BYTES = 1024 * 1024
_ID = re.compile(r"[0-9]{1,18}")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")
_FILTERS = ("status", "name", "runGroupId")
_ERROR_NAMES = {
    400: "ValidationException",
    402: "ServiceQuotaExceededException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    405: "ValidationException",
    408: "RequestTimeoutException",
    409: "ConflictException",
    413: "ValidationException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.name = name or _ERROR_NAMES.get(code, "InternalServerException")


def _validation(message: str) -> ApiError:
    return ApiError(400, message)


class OmicsFake(FakeService):
    prefix = ""
    title = "AWS HealthOmics sandbox (run batches)"

    def __init__(
        self, store: DocStore, token: str, faults: Faults, settle_reads: int = DEFAULT_SETTLE_READS, *, one_host: bool
    ) -> None:
        self.store, self.faults = store, faults
        self._token = token
        self.hosts = ("",) if one_host else (WORKFLOWS, TAGS)
        #: reads of a STOPPING batch after which it shows CANCELLED (tests may change it)
        self.settle_reads = settle_reads

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------- dialect
    def error(self, code: int, message: str) -> Response:
        return _error(ApiError(code, message))

    def throttled(self, reason: str) -> Response:
        return _error(ApiError(429, f"Rate exceeded: {reason}", "ThrottlingException"))

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        found = _CREDENTIAL.search(header) if header.startswith("AWS4-HMAC-SHA256 ") else None
        if found is None:
            return _error(ApiError(403, "Missing Authentication Token: sign the request with SigV4."))
        key_id, service = found.groups()
        if key_id != self._token or service != "omics":
            # Never echo the key id: it is the sandbox's credential.
            return _error(
                ApiError(
                    403,
                    "The security token included in the request is invalid."
                    if key_id != self._token
                    else "Credential should be scoped to correct service: 'omics'.",
                )
            )
        return None

    # ------------------------------------------------------------- routing
    def route(self, request: Request) -> Response:
        path = _raw_path(request)
        method = request.method
        try:
            host = request.environ.get("sandbox.host", "")
            if host and host != (TAGS if path.startswith("/tags/") else WORKFLOWS):
                raise ApiError(404, f"No operation at {method} {path} on the {host} host", "UnknownOperationException")
            if path == "/runBatch":
                if method != "GET":
                    raise ApiError(405, f"{method} is not supported on /runBatch")
                return _json(200, self.list_batch(request))
            if path == "/runBatch/cancel":
                if method != "POST":
                    raise ApiError(405, f"{method} is not supported on /runBatch/cancel")
                self.cancel_run_batch(request)
                return _json(202, {})
            if path.startswith("/runBatch/") and path.count("/") == 2:
                if method != "GET":
                    raise ApiError(405, f"{method} is not supported on /runBatch/{{batchId}}")
                return _json(200, self.get_batch(unquote(path[len("/runBatch/") :])))
            if path.startswith("/tags/") and path.count("/") == 2:
                arn = unquote(path[len("/tags/") :])
                if method == "GET":
                    return _json(200, {"tags": self._by_arn(arn)["tags"]})
                if method == "POST":
                    self.tag_resource(arn, request)
                    return Response(status=204)
                if method == "DELETE":
                    self.untag_resource(arn, request)
                    return Response(status=204)
                raise ApiError(405, f"{method} is not supported on /tags/{{resourceArn}}")
            raise ApiError(404, f"No operation at {method} {path}", "UnknownOperationException")
        except ApiError as e:
            return _error(e)

    # ---------------------------------------------------------- operations
    def list_batch(self, request: Request) -> dict:
        given = [name for name in _FILTERS if name in request.args]
        if len(given) > 1:
            raise _validation(f"Only one filter may be given per request; got {', '.join(given)}")
        max_items = _max_items(request.args.get("maxItems"))
        filter_name = given[0] if given else ""
        filter_value = request.args.get(filter_name, "") if given else ""
        if filter_name == "status" and filter_value not in STATUSES:
            raise _validation(f"status must be one of {', '.join(STATUSES)}")
        if filter_name == "runGroupId" and not _ID.fullmatch(filter_value):
            raise _validation("runGroupId must match [0-9]+ (at most 18 digits)")
        after = None
        token = request.args.get("startingToken")
        if token is not None:
            after = _read_token(token, filter_name, filter_value)
        items: list[dict] = []
        more = False
        with self.store.transaction():
            try:
                # from the token on, read as far as the page goes: the last page of a
                # large run group costs what the first does
                docs = self.store.iterate_after(COLLECTION, after)
            except KeyError:
                raise _validation("The pagination token is no longer valid (its batch was deleted)") from None
            for doc in docs:
                if not _matches(doc, filter_name, filter_value):
                    continue
                if len(items) == max_items:
                    more = True
                    break
                batch = self._read(doc)
                items.append(
                    {k: batch[k] for k in ("id", "name", "status", "totalRuns") if k in batch}
                    | {"createdAt": batch["creationTime"], "workflowId": batch["defaultRunSetting"]["workflowId"]}
                )
        body: dict[str, Any] = {"items": items}
        if more:
            body["nextToken"] = _make_token(filter_name, filter_value, items[-1]["id"])
        return body

    def get_batch(self, batch_id: str) -> dict:
        _check_id(batch_id)
        with self.store.transaction():
            doc = self.store.get(COLLECTION, batch_id)
            if doc is None:
                raise ApiError(404, f"Batch {batch_id} not found")
            return self._read(doc)

    def cancel_run_batch(self, request: Request) -> None:
        body = self._body(request)
        batch_id = body.get("batchId") if isinstance(body, dict) else None
        if not isinstance(batch_id, str):
            raise _validation("batchId is required")
        _check_id(batch_id)
        with self.store.transaction():
            doc = self.store.get(COLLECTION, batch_id)
            if doc is None:
                raise ApiError(404, f"Batch {batch_id} not found")
            status = doc["batch"]["status"]
            if status in BUSY:
                raise ApiError(409, f"Batch {batch_id} already has a cancel or delete in progress ({status})")
            if status not in CANCELLABLE:  # AWS: a ConflictException, like a busy batch
                raise ApiError(
                    409, f"The operation cannot be applied to the target resource in its current state ({status})"
                )
            doc["batch"]["status"] = "STOPPING"
            doc["readsUntilCancelled"] = self.settle_reads
            self.store.put(COLLECTION, batch_id, doc)

    def tag_resource(self, arn: str, request: Request) -> None:
        body = self._body(request)
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, dict) or not tags:
            raise _validation("tags is required and may not be empty")
        if len(tags) > MAX_TAG_KEYS:
            raise _validation(f"At most {MAX_TAG_KEYS} tags may be set per request; got {len(tags)}")
        for key, value in tags.items():
            _check_key(key)
            if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
                raise _validation(f"Tag value of {key!r} must be a string of at most {MAX_VALUE_CHARS} characters")
        with self.store.transaction():
            doc = self._doc_by_arn(arn)
            merged = {**doc["batch"]["tags"], **tags}
            if len(merged) > MAX_TAGS_PER_RESOURCE:
                raise _validation(
                    f"A resource may have at most {MAX_TAGS_PER_RESOURCE} tags; this request would make {len(merged)}"
                )
            doc["batch"]["tags"] = merged
            self.store.put(COLLECTION, doc["batch"]["id"], doc)

    def untag_resource(self, arn: str, request: Request) -> None:
        keys = request.args.getlist("tagKeys")
        if not keys:
            raise _validation("tagKeys is required")
        if len(keys) > MAX_TAG_KEYS:
            raise _validation(f"At most {MAX_TAG_KEYS} tag keys may be removed per request; got {len(keys)}")
        for key in keys:
            _check_key(key)
        with self.store.transaction():
            doc = self._doc_by_arn(arn)
            for key in keys:
                doc["batch"]["tags"].pop(key, None)
            self.store.put(COLLECTION, doc["batch"]["id"], doc)

    # ------------------------------------------------------------- helpers
    def _read(self, doc: dict) -> dict:
        """The batch as the service shows it now; a read of a STOPPING batch brings it
        one step closer to CANCELLED (call inside a transaction)."""
        left = doc.get("readsUntilCancelled")
        if left is not None:
            if left <= 1:
                batch = doc["batch"]
                batch["status"] = "CANCELLED"
                summary = batch["submissionSummary"]
                summary["successfulCancelSubmissionCount"] = batch["totalRuns"]
                summary["successfulStartSubmissionCount"] = 0
                doc.pop("readsUntilCancelled")
            else:
                doc["readsUntilCancelled"] = left - 1
            self.store.put(COLLECTION, doc["batch"]["id"], doc)
        return doc["batch"]

    def _doc_by_arn(self, arn: str) -> dict:
        found = _ARN.fullmatch(arn)
        if found is None:
            raise _validation(f"Invalid resource ARN: {arn}")
        doc = self.store.get(COLLECTION, found.group(1))
        if doc is None or doc["batch"]["arn"] != arn:
            raise ApiError(404, f"Resource {arn} not found")
        return doc

    def _by_arn(self, arn: str) -> dict:
        return self._doc_by_arn(arn)["batch"]

    def _body(self, request: Request) -> Any:
        try:
            return read_json(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise ApiError(413, "Request body too large") from None
        except BadJson:
            raise _validation("The request body is not valid JSON") from None


_ARN = re.compile(rf"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/([0-9]{{1,18}})")


def _raw_path(request: Request) -> str:
    """The path as sent, before the server decoded it: a whole percent-encoded ARN is one
    segment, as on AWS; an ARN sent with a bare `/` is not."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw is None:
        return request.path
    return raw.split("?", 1)[0]


def _matches(doc: dict, filter_name: str, value: str) -> bool:
    batch = doc["batch"]
    if filter_name == "status":
        return batch["status"] == value
    if filter_name == "name":
        return batch["name"] == value
    if filter_name == "runGroupId":  # kept beside the batch: GetBatch need not show it
        return doc.get("runGroupId", batch["defaultRunSetting"].get("runGroupId")) == value
    return True


def _max_items(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_MAX_ITEMS
    try:
        value = int(raw)
    except ValueError:
        raise _validation(f"maxItems must be an integer, got {raw!r}") from None
    if not 1 <= value <= MAX_ITEMS:
        raise _validation(f"maxItems must be between 1 and {MAX_ITEMS}")
    return value


def _make_token(filter_name: str, value: str, last_id: str) -> str:
    raw = json.dumps([filter_name, value, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: str, filter_name: str, value: str) -> str:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise _validation("Invalid pagination token") from None
    if not (isinstance(decoded, list) and len(decoded) == 3 and all(isinstance(x, str) for x in decoded)):
        raise _validation("Invalid pagination token")
    if decoded[:2] != [filter_name, value]:
        raise _validation("The pagination token was issued for another filter")
    return decoded[2]


def _check_id(batch_id: str) -> None:
    if not _ID.fullmatch(batch_id):
        raise _validation("batchId must match [0-9]+ (at most 18 digits)")


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS:
        raise _validation(f"Tag keys must be 1 to {MAX_KEY_CHARS} characters")
    if key.lower().startswith("aws:"):
        raise _validation(f"Tag keys beginning with 'aws:' are reserved: {key}")


def _json(code: int, body: Any) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False), status=code, content_type="application/json")
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _error(error: ApiError) -> Response:
    response = _json(error.code, {"message": error.message})
    response.headers["x-amzn-ErrorType"] = error.name
    return response


# ------------------------------------------------------------------ building
def build(config: SandboxConfig, faults: Faults, quirks: Mapping[str, Any]) -> OmicsFake:
    if config.seed is not None:
        raise UserError("the omics sandbox takes no --seed; use --synthetic RUNGROUP:N")
    for group, _ in config.synthetic:
        if not _ID.fullmatch(group):
            raise UserError(f"--synthetic {group}: a HealthOmics run group id is 1 to 18 digits")

    def fill(store: DocStore) -> None:
        for group, count in config.synthetic:
            first = store.next_value("batch", FIRST_SYNTHETIC_ID)
            for _ in range(count - 1):
                store.next_value("batch", FIRST_SYNTHETIC_ID)
            store.put_many(
                COLLECTION,
                (
                    (str(first + n), {"batch": new_batch(str(first + n), group, n), "runGroupId": group})
                    for n in range(count)
                ),
            )

    return OmicsFake(DocStore(config.db_path, fill), config.token, faults, one_host=quirks["one-host"])


def new_batch(
    batch_id: str, run_group: str, n: int = 0, status: str | None = None, tags: dict[str, str] | None = None
) -> dict:
    """A GetBatch body; synthetic batches rotate through every status."""
    status = status or STATUSES[n % len(STATUSES)]
    runs = 3
    started = 0 if status in ("CREATING", "PENDING") else runs
    created = f"2025-01-{1 + n % 28:02d}T12:00:00.000Z"
    batch: dict[str, Any] = {
        "id": batch_id,
        "arn": f"arn:aws:omics:{REGION}:{ACCOUNT}:runBatch/{batch_id}",
        "uuid": str(uuid.UUID(int=int(batch_id))),
        "name": f"batch-{batch_id}",
        "status": status,
        "tags": dict(tags or {}),
        "totalRuns": runs,
        "defaultRunSetting": {
            "workflowId": "1234567",
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/OmicsRunner",
            "runGroupId": run_group,
            "name": f"batch-{batch_id}",
            "outputUri": "s3://omics-out/",
        },
        "submissionSummary": {
            "successfulStartSubmissionCount": started,
            "failedStartSubmissionCount": 0,
            "pendingStartSubmissionCount": runs - started,
        },
        "runSummary": {"pendingRunCount": runs - started, "runningRunCount": 0, "completedRunCount": 0},
        "creationTime": created,
    }
    if status not in ("CREATING", "PENDING"):
        batch["submittedTime"] = created
    if status == "PROCESSED":
        batch["processedTime"] = created
    if status == "FAILED":
        batch["failedTime"] = created
        batch["failureReason"] = "synthetic failure"
    return batch


def batches(store: DocStore) -> Iterator[dict]:
    """Every batch as stored (tests)."""
    return (doc["batch"] for doc in store.iterate(COLLECTION))
