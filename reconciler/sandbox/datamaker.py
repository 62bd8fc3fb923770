"""The datamaker fake: the synapse-sdk backend's tasks and task tags (docs/sandbox.md).

What it serves is what synapse-sdk 2026.2.17 sends and reads (facts:
shared/services/datamaker.md), in Django REST framework's dialect: page-number pages
`{count, next, previous, results}` with an absolute `next`, `{"detail": ...}` errors,
django-filter's 400s for an invalid filter value, and unknown query keys silently
ignored (the real server widens a typo'd filter to the whole project). Where the
facts say *unverified* the fake makes one plain choice and docs/sandbox.md names it:
task rows carry `tags` (a list of tag ids), set_tags answers `{"updated": N}`.
"""
from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import urlencode

if TYPE_CHECKING:
    from .server import SandboxConfig

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Request, Response

from ..errors import UserError
from ..seed import load_seed
from .docstore import DocStore
from .faults import Faults
from .harness import BadJson, BodyTooLarge, FakeService, json_response, read_json

SYNTHETIC_TAGS = ("accepted", "rejected", "scored", "locked")
DEFAULT_PAGE_SIZE = 10  # DRF PAGE_SIZE when the client sends no page_size
MAX_PAGE_SIZE = 100  # max_page_size: a larger page_size is clamped to it, as DRF does
MAX_BODY_BYTES = 1024 * 1024
SET_TAGS_KEYS = frozenset({"ids", "tags", "action"})
ACTIONS = ("add", "remove")
TASKS, TAGS, PROJECTS = "tasks", "task_tags", "projects"
FIRST_TASK_ID, FIRST_TAG_ID = 1001, 51  # apart, so a tag id sent as a task id is refused
CREATED = "2026-02-17T09:00:00.000000+09:00"  # every synthetic task's `created`

URLS = Map([
    Rule("/sdk/tasks/", endpoint="list_tasks", methods=["GET"]),
    Rule("/tasks/<int:task_id>/", endpoint="get_task", methods=["GET"]),
    Rule("/tasks/set_tags/", endpoint="set_tags", methods=["POST"]),
    Rule("/task_tags/", endpoint="list_tags", methods=["GET"]),
    Rule("/task_tags/<int:tag_id>/", endpoint="get_tag", methods=["GET"]),
], strict_slashes=True, merge_slashes=False)


class DrfError(Exception):
    """An error answer: `body` is DRF's JSON (`{"detail": ...}` or field errors)."""

    def __init__(self, code: int, body: Any) -> None:
        super().__init__(code)
        self.code, self.body = code, body


def _detail(code: int, text: str) -> DrfError:
    return DrfError(code, {"detail": text})


class DatamakerFake(FakeService):
    title = "datamaker (synapse-sdk backend) sandbox"

    def __init__(self, store: DocStore, token: str, faults: Faults) -> None:
        self.store, self.faults = store, faults
        self._token = token.encode()

    def close(self) -> None:
        self.store.close()

    def add_tags(self, project: int, names: Iterable[str]) -> dict[str, int]:
        """Create tags in a project (in the real service: its settings page, or v2's
        `POST /v2/projects/{pk}/tags/`); name → tag id of every tag of the project."""
        with self.store.transaction():
            return _make_project(self.store, project, names)

    def error(self, code: int, message: str) -> Response:
        return json_response(code, {"detail": message})

    def throttled(self, reason: str) -> Response:
        # DRF's throttle answer; its Retry-After is what the SDK's urllib3 Retry honours
        response = json_response(429, {"detail": f"Request was throttled. {reason}"})
        response.headers["Retry-After"] = "1"
        return response

    def authenticate(self, request: Request) -> Response | None:
        """The backend's header authentication: `Synapse-Access-Token: Token <token>`;
        `Synapse-Tenant`, when sent, must be `Token <tenant code>`."""
        header = request.headers.get("Synapse-Access-Token")
        if header is None:
            return self._refuse(401, "Authentication credentials were not provided.")
        scheme, _, credential = header.partition(" ")
        if scheme != "Token" or not credential or " " in credential:
            return self._refuse(401, "Invalid token header. No credentials provided.")
        if not hmac.compare_digest(credential.encode(), self._token):
            return self._refuse(401, "Invalid token.")
        tenant = request.headers.get("Synapse-Tenant")
        if tenant is not None:
            scheme, _, code = tenant.partition(" ")
            if scheme != "Token" or not code:
                return self._refuse(403, "Invalid tenant header.")
        return None

    @staticmethod
    def _refuse(code: int, detail: str) -> Response:
        response = json_response(code, {"detail": detail})
        if code == 401:
            response.headers["WWW-Authenticate"] = "Token"
        return response

    def route(self, request: Request) -> Response:
        adapter = URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return self.error(405, f'Method "{request.method}" not allowed.')
        except (NotFound, RequestRedirect):  # DRF routes are exact: no slash, no match
            return self.error(404, "Not found.")
        try:
            return json_response(200, getattr(self, endpoint)(request, **args))
        except DrfError as e:
            return json_response(e.code, e.body)

    # ------------------------------------------------------------- endpoints
    def list_tasks(self, request: Request) -> dict:
        project = _project_filter(request, self.store)
        rows = self.store.iterate(TASKS)
        if project is not None:
            rows = (t for t in rows if t["project"] == project)
        raw_ids = request.args.get("id__in")
        if raw_ids is not None:
            wanted = set(_int_list(raw_ids, "id__in"))
            rows = (t for t in rows if t["id"] in wanted)
        raw_tag = request.args.get("tags")
        if raw_tag is not None:
            tag = _int_value(raw_tag)
            if tag is None or self.store.get(TAGS, str(tag)) is None:
                raise DrfError(400, {"tags": [
                    f"Select a valid choice. {raw_tag} is not one of the available choices."]})
            rows = (t for t in rows if tag in t["tags"])
        return _page(request, list(rows), _sparse_fields(request))

    def get_task(self, request: Request, task_id: int) -> dict:
        task = self.store.get(TASKS, str(task_id))
        if task is None:
            raise _detail(404, "Not found.")
        return _sparse(task, _sparse_fields(request))

    def list_tags(self, request: Request) -> dict:
        project = _project_filter(request, self.store)
        rows = self.store.all(TAGS)
        if project is not None:
            rows = [t for t in rows if t["project"] == project]
        return _page(request, rows, None)

    def get_tag(self, request: Request, tag_id: int) -> dict:
        tag = self.store.get(TAGS, str(tag_id))
        if tag is None:
            raise _detail(404, "Not found.")
        return tag

    def set_tags(self, request: Request) -> dict:
        """`{ids, tags, action}` as synapse-sdk's SetTagsRequest (extra keys forbidden);
        one transaction: every task gets (or loses) every tag, or nothing changes.
        `forbid_batches` (the harness option) counts these calls: the named ones get a
        403, as a user without change permission on the project would."""
        if self.faults.forbids_next_batch():
            raise _detail(403, "You do not have permission to perform this action.")
        try:
            body = read_json(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            raise _detail(413, "Request body too large.") from None
        except BadJson as e:
            raise _detail(400, f"JSON parse error - {e}") from None
        if not isinstance(body, dict):
            raise DrfError(400, {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                                      f"{type(body).__name__}."]})
        errors: dict[str, list[str]] = {}
        for key in sorted(set(body) - SET_TAGS_KEYS):
            errors[key] = ["Extra inputs are not permitted."]
        for key in ("ids", "tags"):
            if key not in body:
                errors[key] = ["This field is required."]
            elif not isinstance(body[key], list) or not body[key]:
                errors[key] = ["Expected a non-empty list of integers."]
            elif not all(type(v) is int for v in body[key]):
                errors[key] = ["A valid integer is required."]
        action = body.get("action", "add")
        if action not in ACTIONS:
            errors["action"] = [f'"{action}" is not a valid choice.']
        if errors:
            raise DrfError(400, errors)
        with self.store.transaction():
            tasks = []
            for task_id in dict.fromkeys(body["ids"]):
                task = self.store.get(TASKS, str(task_id))
                if task is None:
                    raise DrfError(400, {"ids": [f'Invalid pk "{task_id}" - object does not exist.']})
                tasks.append(task)
            tags = []
            for tag_id in dict.fromkeys(body["tags"]):
                tag = self.store.get(TAGS, str(tag_id))
                if tag is None:
                    raise DrfError(400, {"tags": [f'Invalid pk "{tag_id}" - object does not exist.']})
                tags.append(tag)
            for task in tasks:
                for tag in tags:
                    if tag["project"] != task["project"]:
                        raise DrfError(400, {"tags": [
                            f"Tag {tag['id']} does not belong to the project of task {task['id']}."]})
            for task in tasks:
                held = [t for t in task["tags"] if t not in {tag["id"] for tag in tags}]
                if action == "add":
                    held += [tag["id"] for tag in tags]
                task["tags"] = sorted(held)
                self.store.put(TASKS, str(task["id"]), task)
        return {"updated": len(tasks)}


# ------------------------------------------------------------------ helpers
def _project_filter(request: Request, store: DocStore) -> int | None:
    raw = request.args.get("project")
    if raw is None:
        return None
    project = _int_value(raw)
    if project is None or store.get(PROJECTS, str(project)) is None:
        raise DrfError(400, {"project": [
            "Select a valid choice. That choice is not one of the available choices."]})
    return project


def _int_value(raw: str) -> int | None:
    try:
        return int(raw.strip())
    except ValueError:
        return None


def _int_list(raw: str, name: str) -> list[int]:
    """django-filter's BaseInFilter: one comma-joined value of numbers."""
    values = []
    for part in raw.split(","):
        try:
            values.append(int(part.strip()))
        except ValueError:
            raise DrfError(400, {name: ["Enter a number."]}) from None
    return values


def _sparse_fields(request: Request) -> list[str] | None:
    raw = request.args.get("fields")
    if raw is None:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()]


def _sparse(row: dict, fields: list[str] | None) -> dict:
    if fields is None:
        return row
    return {k: row[k] for k in fields if k in row}


def _page(request: Request, rows: list[dict], fields: list[str] | None) -> dict:
    """DRF PageNumberPagination: `page` from 1, `page_size` clamped to the maximum,
    absolute `next`/`previous` URLs that keep every other query key."""
    size = DEFAULT_PAGE_SIZE
    raw_size = request.args.get("page_size")
    if raw_size is not None:
        parsed = _int_value(raw_size)
        if parsed is not None and parsed > 0:  # DRF falls back to the default otherwise
            size = min(parsed, MAX_PAGE_SIZE)
    raw_page = request.args.get("page", "1")
    page = 1 if raw_page == "last" else _int_value(raw_page)
    last = max(1, -(-len(rows) // size))
    if raw_page == "last":
        page = last
    if page is None or page < 1 or page > last:
        raise _detail(404, "Invalid page.")
    start = (page - 1) * size
    return {
        "count": len(rows),
        "next": _page_url(request, page + 1) if page < last else None,
        "previous": _page_url(request, page - 1) if page > 1 else None,
        "results": [_sparse(r, fields) for r in rows[start:start + size]],
    }


def _page_url(request: Request, page: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    if page > 1:
        args.append(("page", str(page)))
    query = urlencode(args)
    return request.base_url + (f"?{query}" if query else "")


# ------------------------------------------------------------------ building
def build(config: "SandboxConfig", faults: Faults) -> DatamakerFake:
    for project, _ in config.synthetic:
        if not project.isdigit():
            raise UserError(f"--synthetic {project}: a datamaker project id is a number")
    seeded = load_seed(config.seed) if config.seed else {}
    for project in seeded:
        if not project.isdigit():
            raise UserError(f"seed queue {project}: a datamaker project id is a number")

    def fill(store: DocStore) -> None:
        for project, items in seeded.items():
            labels = {k for item in items for k, v in item.tags.items() if v == (True,)}
            tag_ids = _make_project(store, int(project), sorted(labels | set(SYNTHETIC_TAGS)))
            for item in items:
                names = {k for k, v in item.tags.items() if v == (True,)}
                if item.locked:
                    names.add("locked")
                task_id = int(item.id) if item.id.isdigit() else store.next_value("task", FIRST_TASK_ID)
                _put_task(store, task_id, int(project), sorted(tag_ids[n] for n in names))
        for project, count in config.synthetic:
            _make_project(store, int(project), list(SYNTHETIC_TAGS))
            store.put_many(TASKS, ((str(t["id"]), t) for t in (
                _task(store.next_value("task", FIRST_TASK_ID), int(project), []) for _ in range(count))))

    return DatamakerFake(DocStore(config.db_path, fill), config.token, faults)


def _make_project(store: DocStore, project: int, tag_names: Iterable[str]) -> dict[str, int]:
    """The project and its tags (created once); name → tag id."""
    if store.get(PROJECTS, str(project)) is None:
        store.put(PROJECTS, str(project), {"id": project, "title": f"Project {project}"})
    existing = {t["name"]: t["id"] for t in store.all(TAGS) if t["project"] == project}
    for name in tag_names:
        if name not in existing:
            tag_id = store.next_value("tag", FIRST_TAG_ID)
            store.put(TAGS, str(tag_id), {
                "id": tag_id, "name": name, "category": "project", "description": "",
                "meta": {}, "project": project,
            })
            existing[name] = tag_id
    return existing


def _task(task_id: int, project: int, tags: list[int]) -> dict[str, Any]:
    return {"id": task_id, "project": project, "tags": tags, "data": {}, "is_discarded": False,
            "created": CREATED}


def _put_task(store: DocStore, task_id: int, project: int, tags: list[int]) -> None:
    store.put(TASKS, str(task_id), _task(task_id, project, tags))

