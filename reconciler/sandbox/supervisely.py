"""The Supervisely fake: the task methods of the public RPC API (docs/supervisely.md, docs/sandbox.md).

Every call is `POST /public/api/v3/<method>` with a JSON body and the `x-api-key`
header; errors are `{"error": ..., "details": {"message": ...}}`. What the service's documentation leaves
unverified is a switch here, named in docs/sandbox.md, and each defaults to the least
convenient behaviour the documentation allows: `tasks.list` rows leave out `workspaceId` (as the
SDK's own example shows them) and `tasks.meta.update` deep-merges (a key removed from a
nested map stays). An unknown workspace is a 404, the default page size is 20 and
`per_page` is capped at 500.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator, Mapping

if TYPE_CHECKING:
    from .server import SandboxConfig

from werkzeug.wrappers import Request, Response

from ..errors import UserError
from ..model import encode_tag_value
from ..seed import load_seed
from .docstore import DocStore
from .faults import Faults
from .harness import BadJson, BodyTooLarge, FakeService, json_response, read_json
from .quirks import Quirk

API = "/public/api/v3/"
STATUSES = ("queued", "consumed", "started", "deployed", "error", "finished", "terminating", "stopped")
FINAL = frozenset({"finished", "error", "stopped"})
FIRST_TASK_ID = 50001
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 500
MAX_BODY_BYTES = 4 * 1024 * 1024
INSTANCE_VERSION = "6.12.44"
# `reconciler serve --quirk NAME[=VALUE]` (docs/sandbox.md): what the real service does is
# unverified, so each default is the least convenient behaviour its documentation allows
QUIRKS = (
    Quirk(
        "meta-update",
        "what tasks.meta.update does with the keys sent (unverified on the real service)",
        values=("deep-merge", "merge", "replace", "allow-list"),
        default="deep-merge",
    ),
    Quirk(
        "list-rows",
        "tasks.list rows without workspaceId (short, as the SDK's example shows them) or as tasks.info answers (full)",
        values=("short", "full"),
        default="short",
    ),
)
SHORT_ROW_FIELDS = ("id", "type", "status", "startedAt", "finishedAt", "meta", "description")
# The seed's `tags` land here, the provider's default `tags_key` (docs/supervisely.md).
SEED_TAGS_KEY = "reconciler_tags"
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "eq": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "not": lambda a, b: a != b,
    "in": lambda a, b: a in b,
    "!in": lambda a, b: a not in b,
}
_FILTER_FIELDS = ("id", "status", "workspaceId")


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SuperviselyFake(FakeService):
    prefix = ""  # clients are given the server address; the API is under /public/api/v3
    title = "Supervisely-compatible sandbox"

    def __init__(self, store: DocStore, token: str, *, meta_update: str, list_rows: str) -> None:
        self.store = store
        self._token = token.encode()
        # switchable (tests set them while serving): the real behaviour is unverified
        self.meta_update = meta_update
        self.list_rows = list_rows
        # Test hook: task id → HTTP code that `tasks.meta.update` answers for it (nothing written)
        self.fail_meta_update: dict[int, int] = {}

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------ harness hooks
    def probe(self, request: Request) -> Response | None:
        # the SDK's address checks (`GET <server>`, the HTTPS redirect probe) and browsers
        if request.method == "GET" and not request.path.startswith("/public/api"):
            return Response("<html><body>Supervisely sandbox</body></html>", 200, content_type="text/html")
        return None

    def authenticate(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key")
        if key is not None and hmac.compare_digest(key.encode("utf-8", "replace"), self._token):
            return None
        return self.error(401, "Invalid or missing API token (x-api-key)" if key else "Missing x-api-key header")

    def error(self, code: int, message: str) -> Response:
        return json_response(code, {"error": message, "details": {"message": message}})

    def route(self, request: Request) -> Response:
        if not request.path.startswith(API):
            return self.error(404, f"No API at {request.path}")
        if request.method != "POST":
            return self.error(405, f"{request.method} is not supported; the API takes POST")
        method = request.path[len(API) :]
        handler = _METHODS.get(method)
        if handler is None:
            return self.error(404, f"Unknown API method {method!r}")
        try:
            body = read_json(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return self.error(413, "Request body is too large")
        except BadJson as e:
            return self.error(400, f"Request body is not valid JSON: {e}")
        if not isinstance(body, dict):
            return self.error(400, "Request body must be a JSON object")
        try:
            return json_response(200, handler(self, body))
        except ApiError as e:
            return self.error(e.code, e.message)

    # ----------------------------------------------------------------- methods
    def instance_version(self, body: dict) -> dict:
        return {"version": INSTANCE_VERSION}

    def tasks_list(self, body: dict) -> dict:
        workspace = _int_field(body, "workspaceId")
        if self.store.get("workspaces", str(workspace)) is None:
            raise ApiError(404, f"Workspace with id {workspace} not found")
        tests = [_filter(f) for f in _list_field(body, "filter")]
        sort = body.get("sort", "id")
        if sort != "id":
            raise ApiError(400, f"Sorting by {sort!r} is not supported (only id)")
        order = body.get("sort_order", "asc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "sort_order must be asc or desc")
        page = _int_field(body, "page", 1)
        per_page = min(_int_field(body, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        if page < 1 or per_page < 1:
            raise ApiError(400, "page and per_page must be positive")
        rows = [t for t in self.store.iterate(_tasks(workspace)) if all(test(t) for test in tests)]
        rows.sort(key=lambda t: t["id"], reverse=order == "desc")
        start = (page - 1) * per_page
        shown = rows[start : start + per_page]
        if self.list_rows == "short":
            shown = [{k: t.get(k) for k in SHORT_ROW_FIELDS} for t in shown]
        return {
            "total": len(rows),
            "perPage": per_page,
            "pagesCount": math.ceil(len(rows) / per_page),
            "entities": shown,
        }

    def tasks_info(self, body: dict) -> dict:
        return self._task(_int_field(body, "id"))[1]

    def tasks_status_update(self, body: dict) -> dict:
        task_id = _int_field(body, "id")
        status = body.get("status")
        if status not in STATUSES:
            raise ApiError(400, f"Invalid status {status!r}; allowed: {', '.join(STATUSES)}")
        with self.store.transaction():
            workspace, task = self._task(task_id)
            task["status"] = status
            self.store.put(_tasks(workspace), str(task_id), task)
        return {"success": True}

    def tasks_meta_update(self, body: dict) -> dict:
        task_id = _int_field(body, "id")
        data = {k: v for k, v in body.items() if k != "id"}
        with self.store.transaction():
            workspace, task = self._task(task_id)
            code = self.fail_meta_update.get(task_id)
            if code is not None:
                raise ApiError(code, f"Meta of task {task_id} cannot be updated (sandbox test hook)")
            meta = task.get("meta")
            task["meta"] = updated_meta(self.meta_update, meta if isinstance(meta, dict) else {}, data)
            self.store.put(_tasks(workspace), str(task_id), task)
        return {"success": True}

    def tasks_stop(self, body: dict) -> dict:
        task_id = _int_field(body, "id")
        with self.store.transaction():
            workspace, task = self._task(task_id)
            if task["status"] not in FINAL:
                task["status"] = "stopped"
                task["finishedAt"] = _now()
                self.store.put(_tasks(workspace), str(task_id), task)
        return {"status": task["status"]}

    def _task(self, task_id: int) -> tuple[int, dict]:
        where = self.store.get("task_workspace", str(task_id))
        task = None if where is None else self.store.get(_tasks(where["workspaceId"]), str(task_id))
        if where is None or task is None:
            raise ApiError(404, f"Task with id {task_id} not found")
        return where["workspaceId"], task


_METHODS: dict[str, Callable[[SuperviselyFake, dict], dict]] = {
    "instance.version": SuperviselyFake.instance_version,
    "tasks.list": SuperviselyFake.tasks_list,
    "tasks.info": SuperviselyFake.tasks_info,
    "tasks.status.update": SuperviselyFake.tasks_status_update,
    "tasks.meta.update": SuperviselyFake.tasks_meta_update,
    "tasks.stop": SuperviselyFake.tasks_stop,
}


def updated_meta(mode: str, meta: dict, data: dict) -> dict:
    """The meta after `tasks.meta.update` sent `data`, in each way the server might
    treat it: `replace`, `merge` (top-level keys), `deep-merge` (maps merged at every
    depth, so a key left out of a nested map stays) or `allow-list` (only keys the meta
    already holds are updated; new ones are dropped without a word)."""
    if mode == "replace":
        return data
    if mode == "merge":
        return {**meta, **data}
    if mode == "allow-list":
        return {**meta, **{k: v for k, v in data.items() if k in meta}}
    return _deep_merge(meta, data)


def _deep_merge(old: dict, new: dict) -> dict:
    merged = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _tasks(workspace: int) -> str:
    return f"tasks:{workspace}"


def _int_field(body: dict, name: str, default: int | None = None) -> int:
    value = body.get(name, default)
    if value is None:
        raise ApiError(400, f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{name} must be an integer")
    return value


def _list_field(body: dict, name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise ApiError(400, f"{name} must be an array")
    return value


def _filter(spec: Any) -> Callable[[dict], bool]:
    if not isinstance(spec, dict) or not {"field", "operator", "value"} <= set(spec):
        raise ApiError(400, "each filter needs field, operator and value")
    field, operator, value = spec["field"], spec["operator"], spec["value"]
    if field not in _FILTER_FIELDS:
        raise ApiError(400, f"Filtering by {field!r} is not supported")
    test = _OPERATORS.get(operator)
    if test is None:
        raise ApiError(400, f"Unknown filter operator {operator!r}")
    if operator in ("in", "!in") and not isinstance(value, list):
        raise ApiError(400, f"operator {operator!r} needs an array value")
    return lambda task: test(task.get(field), value)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_task(task_id: int, workspace: int, status: str = "finished", meta: dict | None = None, **fields: Any) -> dict:
    """A task as `tasks.info` returns it (the field list in docs/supervisely.md)."""
    stamp = "2024-01-01T00:00:00.000Z"
    task = {
        "id": task_id,
        "workspaceId": workspace,
        "description": "",
        "type": "app",
        "status": status,
        "startedAt": stamp,
        "finishedAt": stamp if status in FINAL else None,
        "userId": 1,
        "meta": meta or {},
        "settings": {},
        "agentName": None,
        "userLogin": "sandbox",
        "teamId": 1,
        "agentId": None,
    }
    task.update(fields)
    return task


def session_token(n: int) -> str:
    """The `meta.sessionToken` of synthetic app task `n`: distinct per task, so a test
    can look for each value in everything reconciler writes or prints."""
    return "sess-" + hashlib.sha256(f"sandbox-session-{n}".encode()).hexdigest()[:32]


def _synthetic_meta(n: int) -> dict:
    """Unrelated keys on some tasks, as apps leave them, so writes can be seen to keep
    them; app tasks carry the secret `sessionToken` real app tasks have."""
    if n % 3 == 0:
        return {"app": {"id": 10370, "name": "Sandbox App", "version": "v1"}, "sessionToken": session_token(n)}
    if n % 5 == 0:
        return {"output": {"model": {"id": 12380}}, "input": {"isExternal": True}}
    return {}


# ------------------------------------------------------------------ building
def build(config: SandboxConfig, faults: Faults, quirks: Mapping[str, Any]) -> SuperviselyFake:
    for workspace, _ in config.synthetic:
        if not workspace.isdigit():
            raise UserError(f"--synthetic {workspace}: a Supervisely workspace id is a number")
    seeded = load_seed(config.seed) if config.seed else {}
    for workspace, items in seeded.items():
        if not workspace.isdigit() or any(not item.id.isdigit() for item in items):
            raise UserError(f"seed: Supervisely workspace and task ids are numbers (workspace {workspace})")

    def fill(store: DocStore) -> None:
        next_id = max([FIRST_TASK_ID - 1] + [int(i.id) for items in seeded.values() for i in items]) + 1
        for workspace, items in seeded.items():
            _add(store, int(workspace), (_seeded(int(workspace), item) for item in items))
        for workspace, count in config.synthetic:
            first = next_id
            next_id += count
            _add(
                store,
                int(workspace),
                (new_task(n, int(workspace), meta=_synthetic_meta(n)) for n in range(first, first + count)),
            )

    return SuperviselyFake(
        DocStore(config.db_path, fill), config.token, meta_update=quirks["meta-update"], list_rows=quirks["list-rows"]
    )


def _add(store: DocStore, workspace: int, tasks: Iterator[dict]) -> None:
    store.put("workspaces", str(workspace), {"id": workspace})
    rows = [(str(t["id"]), t) for t in tasks]
    store.put_many(_tasks(workspace), rows)
    store.put_many("task_workspace", [(i, {"workspaceId": workspace}) for i, _ in rows])


def _seeded(workspace: int, item: Any) -> dict:
    """A seed item as a task: `tags` (strings) in meta under the default tags key, `locked`
    as meta `locked: true`, `extra` as task fields (its `meta` joins the task's meta)."""
    status = "finished" if item.status == "RECEIVED" else item.status  # RECEIVED: the seed's default
    if status not in STATUSES:
        raise UserError(
            f"seed: task {item.id}: status {status!r} is not a Supervisely task status (one of: {', '.join(STATUSES)})"
        )
    extra = dict(item.extra)
    meta = dict(extra.pop("meta", {}) or {})
    if item.tags:
        meta[SEED_TAGS_KEY] = {k: encode_tag_value(v) for k, v in item.tags.items()}
    if item.locked:
        meta["locked"] = True
    return new_task(int(item.id), workspace, status, meta, **extra)
