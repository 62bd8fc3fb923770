"""The CHIME/FRB workflow Results fake: the routes `workflow.http.results.Results`
(workflow-core 1.12.3) calls, at the root of the URL, over one DocStore collection per
pipeline (docs/sandbox.md, docs/workflow-results.md).

The real server is not public, so every rule the client cannot show is this fake's own
choice, written down in docs/sandbox.md: the `{"error": ...}` bodies and their status
codes, the MongoDB filter subset, the size caps, all-or-nothing updates, the ids, and
the refusal of updates that keep a locked work locked (switchable).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping

if TYPE_CHECKING:
    from .server import SandboxConfig

from werkzeug.wrappers import Request, Response

from .. import __version__
from ..errors import UserError
from .docstore import DocStore
from .faults import Faults
from .harness import BadJson, BodyTooLarge, FakeService, json_response, read_json
from .quirks import Quirk

PIPELINE = re.compile(r"[A-Za-z0-9-]{1,128}")
STATUSES = ("success", "failure")
REQUIRED = ("pipeline", "site", "user")
MAX_WORK_BYTES = 4 * 1024 * 1024  # one work, as JSON
MAX_BODY_BYTES = 16 * 1024 * 1024  # one request
DEFAULT_LIMIT = 100
# Ids look like BSON ObjectIds (24 hex digits) and sort in insertion order: a fixed
# "timestamp" then a persistent counter, so a fake's ids are the same on every run.
ID_PREFIX = "66000000"
ID_COUNTER = "work-id"
SYNTHETIC_CREATION = 1_700_000_000.0
SYNTHETIC_EVENT = 9_000_000
# `reconciler serve --quirk NAME[=VALUE]` (docs/sandbox.md)
QUIRKS = (
    Quirk("no-lock-refusal", "accept updates and deletes that keep a locked work locked (else a 409)"),
    Quirk("no-auth", "need no token (a token sent is ignored), as a server without auth does"),
    Quirk(
        "put-answer",
        "answer every PUT /results with this JSON value and write nothing",
        values=("false", "0", "null"),
        default_text="true, after writing",
    ),
)
FALSY_ANSWERS = {"false": False, "0": 0, "null": None}
WRITES = object()  # put_answer: the normal answer (true, after writing)


class ApiError(Exception):
    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


class WorkflowResultsFake(FakeService):
    prefix = ""
    title = "workflow Results sandbox"

    def __init__(
        self, store: DocStore, token: str, *, lock_refuses_updates: bool, needs_token: bool, put_answer: Any
    ) -> None:
        self.store = store
        self._token = token.encode()
        self.lock_refuses_updates = lock_refuses_updates
        self.needs_token = needs_token
        # anything but WRITES: every update is answered this (a falsy JSON value, the
        # client's "not updated") and nothing is written; tests may change it while serving
        self.put_answer = put_answer

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ FakeService
    def probe(self, request: Request) -> Response | None:
        # The client's constructor sends HEAD /version without its token (5 s timeout)
        if request.path.rstrip("/") == "/version" and request.method in ("GET", "HEAD"):
            return json_response(200, {"service": "workflow-results", "version": f"sandbox-{__version__}"})
        return None

    def authenticate(self, request: Request) -> Response | None:
        if not self.needs_token:
            return None
        given = request.headers.get("x-access-token")
        if given is None:
            return self.error(401, "missing x-access-token header")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self._token):
            return self.error(401, "invalid token")
        return None

    def error(self, code: int, message: str) -> Response:
        return json_response(code, {"error": message})

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        handlers = {
            "/status": {"GET": self.status},
            "/results": {"POST": self.deposit, "PUT": self.update, "DELETE": self.delete},
            "/view": {"POST": self.view},
            "/view/count": {"POST": self.count},
        }
        methods = handlers.get(path)
        if methods is None:
            return self.error(404, f"no route {path}")
        handler = methods.get(request.method)
        if handler is None:
            return self.error(405, f"{request.method} is not allowed on {path} (allowed: {', '.join(methods)})")
        try:
            return json_response(200, handler(request))
        except ApiError as e:
            return json_response(e.code, {"error": e.message, **e.extra})

    # ------------------------------------------------------------------ routes
    def status(self, request: Request) -> dict[str, int]:
        return self.store.collections()

    def deposit(self, request: Request) -> dict[str, bool]:
        works = self._works(request)
        for n, work in enumerate(works):
            _check_work(work, n)
        done: dict[str, bool] = {}
        with self.store.transaction():
            for work in works:
                new = {**work, "id": self._new_id()}
                self.store.put(new["pipeline"], new["id"], new)
                done[new["pipeline"]] = True
        return done

    def update(self, request: Request) -> Any:
        """Whole documents replaced by id, all or nothing: every work is checked before
        any is written. With `put_answer` set: that answer, and nothing written."""
        works = self._works(request)
        if self.put_answer is not WRITES:
            return self.put_answer
        with self.store.transaction():
            for n, work in enumerate(works):
                _check_work(work, n)
                work_id = work.get("id")
                if not isinstance(work_id, str) or not work_id:
                    raise ApiError(400, f"work {n}: an update needs the work's id")
                stored = self.store.get(work["pipeline"], work_id)
                if stored is None:
                    raise ApiError(404, f"work {work_id} not found in pipeline {work['pipeline']}", id=work_id)
                if self.lock_refuses_updates and _locked(stored) and _locked(work):
                    raise ApiError(
                        409,
                        f"work {work_id} is locked: unlock it (results.locked: false) before updating it",
                        id=work_id,
                    )
            for work in works:
                self.store.put(work["pipeline"], work["id"], work)
        return True

    def delete(self, request: Request) -> dict[str, bool]:
        pairs = list(request.args.items(multi=True))
        if not pairs:
            raise ApiError(400, "name the works to delete as ?<pipeline>=<id>")
        done: dict[str, bool] = {}
        with self.store.transaction():
            for pipeline, work_id in pairs:
                stored = self.store.get(pipeline, work_id)
                if stored is not None and self.lock_refuses_updates and _locked(stored):
                    raise ApiError(409, f"work {work_id} is locked: unlock it before deleting it", id=work_id)
            for pipeline, work_id in pairs:
                self.store.delete(pipeline, work_id)
                done[pipeline] = True
        return done

    def view(self, request: Request) -> list[dict[str, Any]]:
        body = self._object(request)
        pipeline, query = _query(body)
        projection = body.get("projection") or {}
        if not isinstance(projection, dict):
            raise ApiError(400, "projection must be an object")
        fields = _projection(projection)
        skip = _count_arg(body, "skip", 0)
        limit = _count_arg(body, "limit", DEFAULT_LIMIT) or None  # 0: no limit
        if query:
            docs = [d for d in self._candidates(pipeline, query) if _matches(d, query)]
            docs = docs[skip:] if limit is None else docs[skip : skip + limit]
        else:  # the listing of a whole pipeline: page in the store, not in Python
            docs = self.store.page(pipeline, skip, limit)
        return [_project(d, fields) for d in docs]

    def count(self, request: Request) -> int:
        pipeline, query = _query(self._object(request))
        if not query:
            return self.store.count(pipeline)
        return sum(1 for d in self._candidates(pipeline, query) if _matches(d, query))

    def _candidates(self, pipeline: str, query: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """The documents a query can match: by id where it names ids (as a MongoDB index
        on the id would; the fake's ids sort in insertion order), else all of them. A
        guard re-read of 100 works then costs what 100 works cost, not the pipeline."""
        wanted = query.get("id")
        if isinstance(wanted, dict) and isinstance(wanted.get("$in"), list):
            ids = wanted["$in"]
        elif isinstance(wanted, str):
            ids = [wanted]
        else:
            return self.store.iterate(pipeline)
        found = (self.store.get(pipeline, i) for i in sorted({i for i in ids if isinstance(i, str)}))
        return (d for d in found if d is not None)

    # ----------------------------------------------------------------- helpers
    def _body(self, request: Request) -> Any:
        try:
            return read_json(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise ApiError(413, f"request body over the {MAX_BODY_BYTES}-byte limit") from None
        except BadJson as e:
            raise ApiError(400, f"request body is not JSON: {e}") from None

    def _object(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def _works(self, request: Request) -> list[dict[str, Any]]:
        works = self._body(request)
        if not isinstance(works, list) or not all(isinstance(w, dict) for w in works):
            raise ApiError(400, "request body must be a JSON list of works")
        for n, work in enumerate(works):
            size = len(json.dumps(work, ensure_ascii=False).encode("utf-8"))
            if size > MAX_WORK_BYTES:
                raise ApiError(
                    413,
                    f"work {n} ({work.get('id') or 'new'}) is {size} bytes, over "
                    f"the {MAX_WORK_BYTES}-byte limit per work",
                )
        return works

    def _new_id(self) -> str:
        return new_id(self.store)


def new_id(store: DocStore) -> str:
    return f"{ID_PREFIX}{store.next_value(ID_COUNTER):016x}"


def _check_work(work: Mapping[str, Any], n: int) -> None:
    for name in REQUIRED:
        if not isinstance(work.get(name), str) or not work[name]:
            raise ApiError(400, f"work {n}: {name} is required (a non-empty string)")
    if not PIPELINE.fullmatch(work["pipeline"]):
        raise ApiError(400, f"work {n}: pipeline must be 1 to 128 letters, digits or '-'")
    if work.get("status") not in STATUSES:
        raise ApiError(400, f"work {n}: status must be success or failure, not {work.get('status')!r}")
    tags = work.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise ApiError(400, f"work {n}: tags must be a list of strings or null")
    results = work.get("results")
    if results is not None and not isinstance(results, dict):
        raise ApiError(400, f"work {n}: results must be an object or null")


def _locked(work: Mapping[str, Any]) -> bool:
    results = work.get("results")
    return isinstance(results, dict) and results.get("locked") is True


# ------------------------------------------------------------- queries (MongoDB subset)
def _query(body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    query = body.get("query")
    if not isinstance(query, dict):
        raise ApiError(400, "query must be an object")
    query = dict(query)
    pipeline = query.pop("pipeline", None)
    if not isinstance(pipeline, str) or not PIPELINE.fullmatch(pipeline):
        raise ApiError(400, "query.pipeline must name a pipeline (1 to 128 letters, digits or '-')")
    for key, condition in query.items():
        if key.startswith("$"):
            raise ApiError(400, f"unsupported query operator {key}")
        if isinstance(condition, dict) and any(k.startswith("$") for k in condition):
            unknown = sorted(k for k in condition if k != "$in")
            if unknown:
                raise ApiError(400, f"unsupported query operator {unknown[0]} on {key}")
            if not isinstance(condition["$in"], list):
                raise ApiError(400, f"$in on {key} needs a list")
    return pipeline, query


_MISSING = object()


def _value_at(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def _equals(value: Any, wanted: Any) -> bool:
    """MongoDB equality: a missing field equals null; an array matches a value it holds."""
    if value is _MISSING:
        return wanted is None
    if (value == wanted and type(value) is type(wanted)) or _same_number(value, wanted):
        return True
    return isinstance(value, list) and not isinstance(wanted, list) and any(_equals(v, wanted) for v in value)


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def _matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for path, condition in query.items():
        value = _value_at(doc, path)
        if isinstance(condition, dict) and "$in" in condition:
            if not any(_equals(value, wanted) for wanted in condition["$in"]):
                return False
        elif not _equals(value, condition):
            return False
    return True


def _projection(projection: Mapping[str, Any]) -> list[str] | None:
    """The included field paths (None: the whole document). Inclusion only."""
    if not projection:
        return None
    included = [path for path, on in projection.items() if on]
    excluded = [path for path, on in projection.items() if not on and path != "id"]
    if excluded:
        raise ApiError(400, f"only inclusion projections are supported (got {excluded[0]}: false)")
    return included


def _project(doc: Mapping[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """MongoDB inclusion projection: the id always; `a.b` keeps `a` as an object holding
    only `b` (an empty object if `a` has no `b`; nothing if `a` is not an object)."""
    if fields is None:
        return dict(doc)
    out: dict[str, Any] = {"id": doc.get("id")}
    for path in fields:
        _copy_path(doc, out, path.split("."))
    return out


def _copy_path(source: Mapping[str, Any], target: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in source:
        return
    if len(parts) == 1:
        target[head] = source[head]
        return
    inner = source[head]
    if not isinstance(inner, dict):
        return
    branch = target.setdefault(head, {})
    if isinstance(branch, dict):
        _copy_path(inner, branch, parts[1:])


def _count_arg(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ApiError(400, f"{name} must be a non-negative integer")
    return value


# ------------------------------------------------------------------ building
def synthetic_works(pipeline: str, numbers: list[int]) -> Iterator[tuple[str, dict[str, Any]]]:
    for n in numbers:
        work_id = f"{ID_PREFIX}{n:016x}"
        yield (
            work_id,
            {
                "id": work_id,
                "pipeline": pipeline,
                "site": "local",
                "user": "sandbox",
                "function": "sandbox.synthetic",
                "parameters": {"n": n},
                "status": "success",
                "tags": None,
                "results": {"locked": False},
                "event": [SYNTHETIC_EVENT + n],
                "creation": SYNTHETIC_CREATION + n,
                "attempt": 1,
                "retries": 2,
                "timeout": 3600,
                "priority": 3,
            },
        )


def build(config: SandboxConfig, faults: Faults, quirks: Mapping[str, Any]) -> WorkflowResultsFake:
    if config.seed is not None:
        raise UserError(
            "the workflow-results sandbox takes no --seed: use --synthetic "
            "PIPELINE:COUNT or deposit works with POST /results"
        )
    for pipeline, _ in config.synthetic:
        if not PIPELINE.fullmatch(pipeline):
            raise UserError(f"--synthetic {pipeline}: a pipeline name is 1 to 128 letters, digits or '-'")

    def fill(store: DocStore) -> None:
        for pipeline, count in config.synthetic:
            numbers = [store.next_value(ID_COUNTER) for _ in range(count)]
            store.put_many(pipeline, synthetic_works(pipeline, numbers))

    answer = quirks["put-answer"]
    return WorkflowResultsFake(
        DocStore(config.db_path, fill),
        config.token,
        lock_refuses_updates=not quirks["no-lock-refusal"],
        needs_token=not quirks["no-auth"],
        put_answer=WRITES if answer is None else FALSY_ANSWERS[answer],
    )
