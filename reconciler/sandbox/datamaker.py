"""The datamaker fake: the synapse-sdk backend's tasks and task tags (docs/sandbox.md).

What it serves is what synapse-sdk 2026.2.17 sends and reads (facts:
docs/datamaker.md, docs/sandbox.md), in Django REST framework's dialect: page-number pages
`{count, next, previous, results}` with an absolute `next`, `{"detail": ...}` errors,
django-filter's 400s for an invalid filter value, and unknown query keys silently
ignored (the real server widens a typo'd filter to the whole project). Where the
facts say *unverified* the fake makes one plain choice and docs/sandbox.md names it:
task rows carry `tags` (a list of tag ids), set_tags answers `{"updated": N}`.
"""

from __future__ import annotations

import base64
import bisect
import hmac
import random
import time
from typing import TYPE_CHECKING, Any
from collections.abc import Iterable, Mapping
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
from .quirks import Quirk

SYNTHETIC_TAGS = ("accepted", "rejected", "scored", "locked")
DEFAULT_PAGE_SIZE = 10  # DRF PAGE_SIZE when the client sends no page_size
MAX_PAGE_SIZE = 100  # max_page_size: a larger page_size is clamped to it, as DRF does
MAX_BODY_BYTES = 1024 * 1024
SET_TAGS_KEYS = frozenset({"ids", "tags", "action"})
ACTIONS = ("add", "remove")
TASKS, TAGS, PROJECTS = "tasks", "task_tags", "projects"
FIRST_TASK_ID, FIRST_TAG_ID = 1001, 51  # apart, so a tag id sent as a task id is refused
CREATED = "2026-02-17T09:00:00.000000+09:00"  # every synthetic task's `created`

# `reconciler serve --quirk NAME[=VALUE]` (docs/sandbox.md). The defaults are the least
# convenient behaviour the SDK's authors measured: deep offset pages slow and die.
QUIRKS = (
    Quirk(
        "no-cursor",
        "ignore pagination=cursor, as a server without cursor paging would "
        "(it ignores unknown keys): page-number pages with a count",
    ),
    Quirk(
        "deep-page-524",
        "page-number pages of sdk/tasks/ numbered above N answer Cloudflare's 524 "
        "(0: never); 300 pages hold 30,000 tasks at 100 a page",
        number=int,
        default=300,
    ),
    Quirk(
        "deep-page-ms",
        "a page-number page K of sdk/tasks/ first waits K x N ms (at most 2 s)",
        number=float,
        default=1.0,
    ),
    Quirk(
        "glitch-520",
        "share of GETs answered Cloudflare's 520 (seeded by --random-seed)",
        number=float,
        high=1,
        default=0.0,
        metavar="R",
    ),
    Quirk(
        "commit-then-500",
        "share of set_tags calls committed, then answered 500",
        number=float,
        high=1,
        default=0.0,
        metavar="R",
    ),
)
MAX_DEEP_PAGE_WAIT = 2.0  # seconds
CLOUDFLARE = (
    "<!DOCTYPE html><html><head><title>{host} | {code}: {title}</title></head><body>"
    "<h1>Error code {code}</h1><p>{title}</p><p>Cloudflare Ray ID: 8f0sandbox</p>"
    "</body></html>"
)
CLOUDFLARE_TITLES = {520: "Web server is returning an unknown error", 524: "A timeout occurred"}
DJANGO_500 = (
    '<!doctype html><html lang="en"><head><title>Server Error (500)</title></head>'
    "<body><h1>Server Error (500)</h1><p></p></body></html>"
)

URLS = Map(
    [
        Rule("/sdk/tasks/", endpoint="list_tasks", methods=["GET"]),
        Rule("/tasks/<int:task_id>/", endpoint="get_task", methods=["GET"]),
        Rule("/tasks/set_tags/", endpoint="set_tags", methods=["POST"]),
        Rule("/task_tags/", endpoint="list_tags", methods=["GET"]),
        Rule("/task_tags/<int:tag_id>/", endpoint="get_tag", methods=["GET"]),
    ],
    strict_slashes=True,
    merge_slashes=False,
)


class DrfError(Exception):
    """An error answer: `body` is DRF's JSON (`{"detail": ...}` or field errors)."""

    def __init__(self, code: int, body: Any) -> None:
        super().__init__(code)
        self.code, self.body = code, body


class HtmlError(Exception):
    """An answer that is not the API's own: a proxy's or Django's HTML error page."""

    def __init__(self, code: int, html: str) -> None:
        super().__init__(code)
        self.code, self.html = code, html


def _cloudflare(request: Request, code: int) -> HtmlError:
    return HtmlError(code, CLOUDFLARE.format(host=request.host, code=code, title=CLOUDFLARE_TITLES[code]))


def _detail(code: int, text: str) -> DrfError:
    return DrfError(code, {"detail": text})


class DatamakerFake(FakeService):
    title = "datamaker (synapse-sdk backend) sandbox"

    def __init__(
        self,
        store: DocStore,
        token: str,
        faults: Faults,
        *,
        cursor_paging: bool,
        deep_page_524: int,
        deep_page_ms: float,
        glitch_520: float,
        commit_then_500: float,
        random_seed: int | None = None,
    ) -> None:
        self.store, self.faults = store, faults
        self._token = token.encode()
        # the quirks (QUIRKS); tests may change them while the fake serves
        self.cursor_paging = cursor_paging
        self.deep_page_524, self.deep_page_ms = deep_page_524, deep_page_ms
        self.glitch_520, self.commit_then_500 = glitch_520, commit_then_500
        self._random = random.Random(random_seed)

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
            if request.method == "GET" and self._roll(self.glitch_520):
                raise _cloudflare(request, 520)
            return json_response(200, getattr(self, endpoint)(request, **args))
        except DrfError as e:
            return json_response(e.code, e.body)
        except HtmlError as e:
            return Response(e.html, status=e.code, content_type="text/html; charset=UTF-8")

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    # ------------------------------------------------------------- endpoints
    def list_tasks(self, request: Request) -> dict:
        """Page-number pages (DRF's default), or cursor pages with `pagination=cursor`
        (ordered by `ordering`, `-id` or `id`, no `count`), as synapse-sdk reads large
        projects. Deep page-number pages slow down and then answer Cloudflare's 524."""
        project = _project_filter(request, self.store)
        raw_ids = request.args.get("id__in")
        wanted = None if raw_ids is None else set(_int_list(raw_ids, "id__in"))
        raw_tag = request.args.get("tags")
        tag = None
        if raw_tag is not None:
            tag = _int_value(raw_tag)
            if tag is None or self.store.get(TAGS, str(tag)) is None:
                raise DrfError(
                    400, {"tags": [f"Select a valid choice. {raw_tag} is not one of the available choices."]}
                )

        def keep(task: Mapping[str, Any]) -> bool:
            return (
                (project is None or task["project"] == project)
                and (wanted is None or task["id"] in wanted)
                and (tag is None or tag in task["tags"])
            )

        if self.cursor_paging and request.args.get("pagination") == "cursor":
            return self._cursor_page(request, keep, wanted, tag is not None)
        self._deep_page(request)
        return _page(request, [t for t in self.store.iterate(TASKS) if keep(t)], _sparse_fields(request))

    def _deep_page(self, request: Request) -> None:
        """What the SDK's authors measured on offset pages: the deeper, the slower, and
        past a point Cloudflare's 524 (its 100 s limit) on every page."""
        number = _int_value(request.args.get("page", "1")) or 1
        if self.deep_page_ms:
            time.sleep(min(number * self.deep_page_ms / 1000, MAX_DEEP_PAGE_WAIT))
        if self.deep_page_524 and number > self.deep_page_524:
            raise _cloudflare(request, 524)

    def _cursor_page(self, request: Request, keep: Any, wanted: set[int] | None, filtered: bool) -> dict:
        """DRF CursorPagination: `{next, previous, results}` (no count), the cursor an
        opaque base64 position after the last row given."""
        size = _page_size(request)
        descending = request.args.get("ordering", "-id") != "id"
        raw_cursor = request.args.get("cursor")
        after = None if raw_cursor is None else _decode_cursor(raw_cursor)
        if filtered:  # a tag filter: read the rows once, in bulk (few match)
            order = sorted((t["id"] for t in self.store.iterate(TASKS) if keep(t)), reverse=descending)
        else:  # the ids alone, then only the page's rows are read
            order = sorted(
                (int(i) for i in self.store.ids(TASKS) if i.isdigit() and (wanted is None or int(i) in wanted)),
                reverse=descending,
            )
        if after is not None:
            if descending:
                order = order[bisect.bisect_right(order, -after, key=lambda i: -i) :]
            else:
                order = order[bisect.bisect_right(order, after) :]
        page: list[dict] = []
        more = False
        for task_id in order:
            task = self.store.get(TASKS, str(task_id))
            if task is None or not keep(task):
                continue
            if len(page) == size:
                more = True
                break
            page.append(task)
        fields = _sparse_fields(request)
        return {
            "next": _cursor_url(request, page[-1]["id"]) if more else None,
            "previous": None,
            "results": [_sparse(r, fields) for r in page],
        }

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
            raise DrfError(
                400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]}
            )
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
                        raise DrfError(
                            400, {"tags": [f"Tag {tag['id']} does not belong to the project of task {task['id']}."]}
                        )
            for task in tasks:
                held = [t for t in task["tags"] if t not in {tag["id"] for tag in tags}]
                if action == "add":
                    held += [tag["id"] for tag in tags]
                task["tags"] = sorted(held)
                self.store.put(TASKS, str(task["id"]), task)
        if self._roll(self.commit_then_500):  # committed, then the answer is lost to a 500
            raise HtmlError(500, DJANGO_500)
        return {"updated": len(tasks)}


# ------------------------------------------------------------------ helpers
def _project_filter(request: Request, store: DocStore) -> int | None:
    raw = request.args.get("project")
    if raw is None:
        return None
    project = _int_value(raw)
    if project is None or store.get(PROJECTS, str(project)) is None:
        raise DrfError(400, {"project": ["Select a valid choice. That choice is not one of the available choices."]})
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


def _page_size(request: Request) -> int:
    size = DEFAULT_PAGE_SIZE
    raw_size = request.args.get("page_size")
    if raw_size is not None:
        parsed = _int_value(raw_size)
        if parsed is not None and parsed > 0:  # DRF falls back to the default otherwise
            size = min(parsed, MAX_PAGE_SIZE)
    return size


def _decode_cursor(raw: str) -> int:
    try:
        text = base64.b64decode(raw.encode("ascii"), validate=True).decode("ascii")
        key, _, value = text.partition("=")
        if key == "p" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeError):
        pass
    raise _detail(404, "Invalid cursor")


def _cursor_url(request: Request, last_id: int) -> str:
    cursor = base64.b64encode(f"p={last_id}".encode("ascii")).decode("ascii")
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"] + [("cursor", cursor)]
    return request.base_url + "?" + urlencode(args)


def _page(request: Request, rows: list[dict], fields: list[str] | None) -> dict:
    """DRF PageNumberPagination: `page` from 1, `page_size` clamped to the maximum,
    absolute `next`/`previous` URLs that keep every other query key."""
    size = _page_size(request)
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
        "results": [_sparse(r, fields) for r in rows[start : start + size]],
    }


def _page_url(request: Request, page: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    if page > 1:
        args.append(("page", str(page)))
    query = urlencode(args)
    return request.base_url + (f"?{query}" if query else "")


# ------------------------------------------------------------------ building
def build(config: SandboxConfig, faults: Faults, quirks: Mapping[str, Any]) -> DatamakerFake:
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
            store.put_many(
                TASKS,
                (
                    (str(t["id"]), t)
                    for t in (_task(store.next_value("task", FIRST_TASK_ID), int(project), []) for _ in range(count))
                ),
            )

    return DatamakerFake(
        DocStore(config.db_path, fill),
        config.token,
        faults,
        cursor_paging=not quirks["no-cursor"],
        deep_page_524=quirks["deep-page-524"],
        deep_page_ms=quirks["deep-page-ms"],
        glitch_520=quirks["glitch-520"],
        commit_then_500=quirks["commit-then-500"],
        random_seed=config.random_seed,
    )


def _make_project(store: DocStore, project: int, tag_names: Iterable[str]) -> dict[str, int]:
    """The project and its tags (created once); name → tag id."""
    if store.get(PROJECTS, str(project)) is None:
        store.put(PROJECTS, str(project), {"id": project, "title": f"Project {project}"})
    existing = {t["name"]: t["id"] for t in store.all(TAGS) if t["project"] == project}
    for name in tag_names:
        if name not in existing:
            tag_id = store.next_value("tag", FIRST_TAG_ID)
            store.put(
                TAGS,
                str(tag_id),
                {
                    "id": tag_id,
                    "name": name,
                    "category": "project",
                    "description": "",
                    "meta": {},
                    "project": project,
                },
            )
            existing[name] = tag_id
    return existing


def _task(task_id: int, project: int, tags: list[int]) -> dict[str, Any]:
    return {"id": task_id, "project": project, "tags": tags, "data": {}, "is_discarded": False, "created": CREATED}


def _put_task(store: DocStore, task_id: int, project: int, tags: list[int]) -> None:
    store.put(TASKS, str(task_id), _task(task_id, project, tags))
