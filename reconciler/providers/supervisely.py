"""Supervisely tasks over the public RPC API (docs/supervisely.md).

A queue is a workspace, an item is a task. Tasks have no tags, no lock and no etag, so
tags are a string map kept in the task's `meta` under one key (`tags_key`), the lock is
a `meta` key set to true, and writes go through the guarded write (guarded.py):
the tasks of a write are re-read right before it, and each write is built from the
fresh task with only the planned fields changed. A change is up to two calls
(`tasks.status.update`, `tasks.meta.update`) whose answers say nothing, so the tasks
are read back after them and the WriteResult says, per task, what landed.

An Item's `base` is the managed projection (id, status, the tags and lock meta keys),
never the whole task: app tasks carry secrets in `meta` (`sessionToken`), and what a
write must send back unchanged is taken from the task as re-read at write time.

Every response is untrusted: a wrong shape is a ProviderError naming the method, never a
crash. The token travels in `x-api-key` and is never shown.
"""

from __future__ import annotations

import copy
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, cast
from collections.abc import Callable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..auth import checked_token, in_home
from ..http import HeaderAuth, error_body, make_session, nothing_sent
from ..model import (
    Change,
    Item,
    ManagedTags,
    ProviderConfig,
    QueueSpec,
    StatusRules,
    scalar_kind,
    to_tag_value,
)
from ..netcheck import is_loopback
from .listed_fields import ListedFields
from .base import (
    Capabilities,
    ConfigError,
    ListingMoved,
    Progress,
    QueueNotFound,
    Relisted,
    SpecProblem,
    WriteResult,
    digest_etag,
    read_twice,
    url_option_schema,
)
from .checks import spots
from .guarded import OK, Answer, Call, Calls, Fresh, GuardedService, guarded_write
from .service_client import HttpProvider, ServiceClient, configured_endpoint, open_endpoint

# Read-only task fields a `where: {item: …}` may test, from the task rows the listing
# already returns (docs/supervisely.md "Service fields"). `userId` is not among them:
# tasks.list's short rows leave it out, and reading it would cost a tasks.info per task.
FIELDS = {"startedAt": "timestamp", "finishedAt": "timestamp"}
STATUSES = ("queued", "consumed", "started", "deployed", "error", "finished", "terminating", "stopped")
API = "/public/api/v3/"
DEFAULT_TAGS_KEY = "reconciler_tags"
DEFAULT_MAX_IN_FLIGHT = 4
MAX_MAX_IN_FLIGHT = 16
PAGE_SIZE = 500  # per_page asked for; the answer's perPage is what is used
BATCH_LIMIT = 50  # changes per write call: one guard re-read (`id in` filter) each
RETRIES = 6
BACKOFF = 0.5  # seconds: 0, 1, 2, 4, 8 s (+ jitter); a 429's Retry-After wins
TIMEOUT = (10.0, 60.0)
# Exactly what the SDK retries (supervisely/io/network_exceptions.py RETRY_STATUS_CODES)
SDK_RETRY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 509, 598, 599})
# Writes are not re-sent after a lost answer: the task is re-read and the call judged
WRITE_METHODS = ("tasks.status.update", "tasks.meta.update")

ADDRESS_ENV, TOKEN_ENV, MODE_ENV = "SERVER_ADDRESS", "API_TOKEN", "ENV"
DOTENV_NAME = "supervisely.env"
HOW_TO = (
    f"set {TOKEN_ENV} (and {ADDRESS_ENV}) or put {TOKEN_ENV}=<token> in ~/{DOTENV_NAME}, "
    "as the Supervisely SDK reads them"
)
_DIGITS = re.compile(r"[0-9]+")
_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")


class Malformed(Exception):
    """A task is not shaped as the API documents."""


class _ItemFailed(Exception):
    """One call failed for this task only; the run goes on."""


class SuperviselyProvider(GuardedService, HttpProvider):
    type = "supervisely"
    reads_back = True
    kept_why = "the server kept them (a deep merge keeps a removed meta key; an allow-list drops unknown keys)"
    capabilities = Capabilities(
        batch_limit=BATCH_LIMIT,
        text_tags=True,
        lock_option="key",
        guard="compare",
        atomic_batches=False,
        # Server-side transition rules are unverified: every value is accepted from any.
        status=StatusRules(values=STATUSES),
        fields=FIELDS,
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": (
            "Supervisely tasks (queue: workspace id; item: task id); the token comes from "
            "API_TOKEN or ~/supervisely.env, never from the spec."
        ),
        "properties": {
            "endpoint": url_option_schema(
                "Server address, e.g. https://app.supervisely.com. Default: SERVER_ADDRESS, "
                "else ~/supervisely.env (plain http only for loopback)."
            ),
            "tags_key": {
                "description": f"The task meta key holding the tags (a map of strings). Default: {DEFAULT_TAGS_KEY}.",
                "type": "string",
                "minLength": 1,
                "not": {"const": "id"},  # a task's own `id`, which the server never stores in meta
                "errorMessage": "expected a non-empty meta key other than `id`",
            },
            "max_in_flight": {
                "description": f"Requests sent at once (there is no batch call). Default: {DEFAULT_MAX_IN_FLIGHT}.",
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_MAX_IN_FLIGHT,
            },
        },
    }

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        tags_key: str = DEFAULT_TAGS_KEY,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        endpoint = open_endpoint(endpoint)
        self._tags_key = tags_key
        self._max_in_flight = self.max_in_flight = max_in_flight
        self.resend_wait = backoff
        session = make_session(
            auth=HeaderAuth("x-api-key", token),
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            retry_statuses=SDK_RETRY_STATUSES,
            retry_methods=frozenset({"POST"}),
            max_in_flight=max_in_flight,
        )
        self.client = ServiceClient("Supervisely", endpoint, session, reason_of=_error_text, token_help=HOW_TO)
        # A write whose answer was lost is not re-sent by urllib3 (read=0): it may have
        # landed, so the task is re-read and the call judged (guarded.py).
        reads = cast(HTTPAdapter, session.get_adapter(endpoint + API)).max_retries  # make_session's
        writes = HTTPAdapter(max_retries=reads.new(read=0), pool_maxsize=max_in_flight)
        for method in WRITE_METHODS:
            session.mount(self._url(method), writes)

    def plan_options(self) -> dict[str, Any]:
        return {"tags_key": self._tags_key, "max_in_flight": self._max_in_flight}

    @classmethod
    def from_config(cls, config: ProviderConfig) -> SuperviselyProvider:
        options = cls.checked_options(config.options)
        tags_key = options.get("tags_key", DEFAULT_TAGS_KEY)
        in_flight = options.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT)
        found_address, token = find_credentials(os.environ)
        endpoint = configured_endpoint(
            "supervisely",
            options,
            found_address,
            missing=f"no Supervisely server address: set `endpoint` in the spec or {HOW_TO}",
        )
        if token is None:
            raise ConfigError(f"no Supervisely token found: {HOW_TO}")
        return cls(endpoint, token, tags_key=tags_key, max_in_flight=in_flight)

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        return check_queue(queue)

    # ----------------------------------------------------------------- reading
    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """`tasks.list` sorted by id, page 1 first, then the other pages (several in
        flight). A listing whose row count differs from its `total`, whose `total`
        moves, or that repeats an id changed while it was read: RELISTED, and read
        once more."""
        self._check_keys(queue)
        return read_twice(
            lambda: self._pages_once(queue, progress),
            lambda exc: f"workspace {queue.id}: the task listing kept changing while it was read ({exc}); try again",
        )

    def _pages_once(self, queue: QueueSpec, progress: Progress | None) -> Iterator[list[Item]]:
        """Bounded by what page 1 said: no more pages than `pagesCount` or than
        `total` fills at `perPage`, each full but the last; a page that says otherwise
        ends this pass at once (a server sending new ids for ever, or the same page
        again, is not followed)."""
        first = self._list_page(queue, 1, PAGE_SIZE)
        total, per_page = first["total"], first["perPage"]
        pages_count = min(first["pagesCount"], -(-total // max(per_page, 1)))
        seen: set[str] = set()
        count = 0
        number = 0

        def take(page: Mapping[str, Any]) -> list[Item]:
            nonlocal count, number
            number += 1
            if (page["total"], page["perPage"]) != (total, per_page):
                raise ListingMoved(
                    f"page {number} says total {page['total']}, perPage {page['perPage']}; "
                    f"page 1 said {total}, {per_page}"
                )
            expected = min(per_page, total - per_page * (number - 1))
            if len(page["entities"]) != expected:
                raise ListingMoved(
                    f"page {number} holds {len(page['entities'])} tasks where {expected} "
                    f"were due (total {total}, perPage {per_page})"
                )
            items = [self._item(task, queue, "tasks.list") for task in page["entities"]]
            for item in items:
                if item.id in seen:
                    raise ListingMoved(f"task {item.id} was listed twice")
                seen.add(item.id)
            count += len(items)
            if progress and items:
                progress(len(items))
            return items

        yield take(first)
        pool = ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="supervisely-pages")
        try:
            ahead: list[Future] = []
            next_page = 2
            while next_page <= pages_count or ahead:
                while next_page <= pages_count and len(ahead) < self._max_in_flight:
                    ahead.append(pool.submit(self._list_page, queue, next_page, per_page))
                    next_page += 1
                yield take(ahead.pop(0).result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if count != total:
            raise ListingMoved(f"{count} tasks listed for a total of {total}")

    def _list_page(self, queue: QueueSpec, page: int, per_page: int) -> dict[str, Any]:
        body = {
            "workspaceId": int(queue.id),
            "filter": [],
            "sort": "id",
            "sort_order": "asc",
            "page": page,
            "per_page": per_page,
        }
        response = self._post("tasks.list", body)
        if response.status_code in (403, 404):
            raise QueueNotFound(
                f"workspace {queue.id} not found or not readable "
                f"(tasks.list: HTTP {response.status_code}: {self.client.reason(response)})"
            )
        answer = self._ok_json("tasks.list", response)
        if not isinstance(answer, dict):
            raise self._unexpected("tasks.list", "the answer is not an object")
        for name in ("total", "perPage", "pagesCount"):
            value = answer.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self._unexpected("tasks.list", f"`{name}` is not a non-negative integer")
        entities = answer.get("entities")
        if not isinstance(entities, list) or len(entities) > max(answer["perPage"], 1):
            raise self._unexpected("tasks.list", "`entities` is not an array of at most `perPage` tasks")
        if answer["perPage"] < 1 and answer["pagesCount"] > 1:
            raise self._unexpected("tasks.list", "`perPage` is 0 for several pages")
        if answer["pagesCount"] > answer["total"] + 1:
            raise self._unexpected("tasks.list", "`pagesCount` exceeds the number of tasks")
        return answer

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        """`tasks.info` per task, several in flight; unknown ids and tasks of other
        workspaces are left out."""
        self._check_keys(queue)
        return [self._item(task, queue, "tasks.info") for task in self._infos(queue, ids)]

    def _infos(self, queue: QueueSpec, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The tasks (as `tasks.info` answers, where workspaceId is part of the task) of
        this workspace among `ids`."""
        wanted = [i for i in dict.fromkeys(ids) if _DIGITS.fullmatch(i)]
        with ThreadPoolExecutor(max_workers=self._max_in_flight, thread_name_prefix="supervisely-get") as pool:
            tasks = list(pool.map(self._info, wanted))
        return [task for task in tasks if task is not None and task.get("workspaceId") == int(queue.id)]

    def _info(self, task_id: str) -> dict[str, Any] | None:
        response = self._post("tasks.info", {"id": int(task_id)})
        if response.status_code == 404:
            return None
        task = self._ok_json("tasks.info", response)
        if not isinstance(task, dict) or task.get("id") != int(task_id):
            raise self._unexpected("tasks.info", f"asked for task {task_id}, got something else")
        return task

    def _fresh(self, queue: QueueSpec, ids: Sequence[str]) -> dict[str, tuple[Item, dict[str, Any]]]:
        """The guard's re-read and the read-back: one `tasks.list` with an `id in` filter
        (its support is unverified, so the rows are filtered again here), then
        `tasks.info` for any task the listing did not return (an ignored filter, a moved
        or deleted task). Each task as an Item and as read (what a write sends back)."""
        wanted = set(ids)
        body = {
            "workspaceId": int(queue.id),
            "sort": "id",
            "sort_order": "asc",
            "page": 1,
            "per_page": max(len(wanted), 1),
            "filter": [{"field": "id", "operator": "in", "value": sorted(int(i) for i in wanted)}],
        }
        response = self._post("tasks.list", body)
        found: dict[str, tuple[Item, dict[str, Any]]] = {}
        if response.status_code != 400:  # 400: the filter is refused; read task by task
            answer = self._ok_json("tasks.list", response)
            entities = answer.get("entities") if isinstance(answer, dict) else None
            if not isinstance(entities, list):
                raise self._unexpected("tasks.list", "`entities` is not an array")
            for task in entities:
                item = self._item(task, queue, "tasks.list")
                if item.id in wanted:
                    found[item.id] = (item, task)
        missing = [i for i in ids if i not in found]
        for task in self._infos(queue, missing) if missing else ():
            item = self._item(task, queue, "tasks.info")
            found[item.id] = (item, task)
        return found

    def _item(self, task: Any, queue: QueueSpec, method: str) -> Item:
        try:
            item = task_to_item(task, self._tags_key, queue.lock_key, queue.managed_tags)
        except Malformed as exc:
            raise self._unexpected(method, str(exc)) from None
        # List rows may leave workspaceId out (the request names the workspace); a row
        # that names another one is refused
        if method == "tasks.list" and "workspaceId" in task and task["workspaceId"] != int(queue.id):
            raise self._unexpected(
                method, f"task {item.id} is in workspace {task.get('workspaceId')!r}, not {queue.id}"
            )
        return item

    # ----------------------------------------------------------------- writing
    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        """The guarded write (guarded.py): re-read, guard, each task's calls (several
        tasks in flight), read back: every call is answered 200, which says nothing
        (tasks.meta.update may merge, deep-merge, replace or drop keys)."""
        self._check_keys(queue)
        return guarded_write(self, queue, changes)

    def guard_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> dict[str, Fresh]:
        return {i: Fresh(item, task) for i, (item, task) in self._fresh(queue, [c.item_id for c in changes]).items()}

    def guard_calls(self, queue: QueueSpec, pairs: Sequence[tuple[Change, Fresh]]) -> Calls:
        out = Calls()
        for change, fresh in pairs:
            try:
                calls = self._calls(queue, change, fresh.raw)
            except _ItemFailed as exc:
                out.unwritable[change.item_id] = str(exc)
                continue
            out.calls += [self._call(change.item_id, *call) for call in calls]
        return out

    def _call(self, item_id: str, part: str, method: str, body: dict, landed: Callable[[Any], bool]) -> Call:
        """One task's call (a function of its own, so each closure keeps its own values)."""
        return Call([item_id], part, lambda ids, fresh: self._send_write(method, body), lambda _, now: landed(now.raw))

    def _calls(
        self, queue: QueueSpec, change: Change, task: dict[str, Any]
    ) -> list[tuple[str, str, dict, Callable[[Any], bool]]]:
        """The task's calls, built from the fresh task with only the planned fields
        changed: status first, except that an unlock is written before the change it
        allows. The meta sent is the whole meta wanted, every key the app owns
        (`sessionToken` included) exactly as read: merge or replace is unverified. An
        unlock writes `false`, since under a merge an omitted key stays."""
        task_id = int(change.item_id)
        calls: list[tuple[str, str, dict, Callable[[Any], bool]]] = []
        if change.changes_field("status"):
            status = change.after_value("status")
            calls.append(
                (
                    "status",
                    "tasks.status.update",
                    {"id": task_id, "status": status},
                    lambda task: isinstance(task, dict) and task.get("status") == status,
                )
            )
        tag_changes = change.tag_changes
        if tag_changes or change.changes_field("locked"):
            meta = copy.deepcopy(task.get("meta") or {})
            if "id" in meta:
                raise _ItemFailed("its meta has a key `id`, which tasks.meta.update cannot carry")
            if tag_changes:
                tags = dict(meta.get(self._tags_key) or {})
                for key, value in tag_changes.items():
                    if value is None:
                        tags.pop(key, None)
                    elif len(value) == 1 and isinstance(value[0], str):
                        tags[key] = value[0]
                    else:
                        raise _ItemFailed(f"tag {key!r} is not one string")
                meta[self._tags_key] = tags
            if change.changes_field("locked"):
                meta[queue.lock_key] = bool(change.after_value("locked"))
            wanted = dict(meta)
            calls.append(
                (
                    "meta",
                    "tasks.meta.update",
                    {**meta, "id": task_id},
                    lambda task: (
                        isinstance(task, dict)
                        and isinstance(task.get("meta"), dict)
                        and all(task["meta"].get(k) == v for k, v in wanted.items())
                    ),
                )
            )
            if change.lock == "unlock":
                calls.reverse()
        return calls

    def _send_write(self, method: str, body: dict) -> Answer:
        """One write call; its answer lost, the guarded write re-reads the task."""
        try:
            response = self.client.session.post(self._url(method), json=body)
        except requests.RequestException as exc:
            if nothing_sent(exc):
                return Answer("refused", self.client.lost(method, exc), fatal=True)
            return Answer("lost", self.client.lost(method, exc))
        if response.status_code == 200:
            return OK
        reason = self.client.status_text(method, response)
        if response.status_code == 401:
            return Answer("refused", str(self.client.token_refused(response)), fatal=True)
        if response.status_code == 404:
            return Answer("refused", f"the task no longer exists ({reason})")
        if response.status_code == 403 or response.status_code in SDK_RETRY_STATUSES:
            return Answer("refused", reason + (" after retries" if response.status_code != 403 else ""), fatal=True)
        return Answer("refused", reason)

    # --------------------------------------------------------------- plumbing
    def _check_keys(self, queue: QueueSpec) -> None:
        if queue.lock_key == self._tags_key:
            raise ConfigError(
                f"workspace {queue.id}: the lock key {queue.lock_key!r} is also the "
                "provider's `tags_key`; choose different meta keys"
            )
        if not _DIGITS.fullmatch(queue.id):
            raise ConfigError(f"queue id {queue.id!r} is not a Supervisely workspace id (digits only)")

    def _url(self, method: str) -> str:
        return self.client.endpoint + API + method

    def _post(self, method: str, body: dict) -> requests.Response:
        return self.client.send("POST", self._url(method), json=body)

    def _ok_json(self, method: str, response: requests.Response) -> Any:
        self.client.check(response, f"POST {self._url(method)}")
        return self.client.json(response, self._url(method))

    def _unexpected(self, method: str, detail: str) -> Exception:
        return self.client.unexpected(self._url(method), detail)


def _error_text(response: requests.Response) -> str | None:
    """The error body's `details.message` (or its list's messages), else `error`."""
    body = error_body(response)
    if not isinstance(body, dict):
        return None
    details = body.get("details")
    if isinstance(details, dict) and isinstance(details.get("message"), str):
        return details["message"]
    if isinstance(details, list):
        messages = [d.get("message") for d in details if isinstance(d, dict)]
        text = "; ".join(m for m in messages if isinstance(m, str))
        if text:
            return text
    return body["error"] if isinstance(body.get("error"), str) else None


PROVIDER = SuperviselyProvider


# ------------------------------------------------------------------ tasks as items
def task_to_item(task: Any, tags_key: str, lock_key: str, managed_tags: ManagedTags) -> Item:
    if not isinstance(task, dict):
        raise Malformed("a task is not an object")
    task_id = task.get("id")
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise Malformed("a task has no integer `id`")
    status = task.get("status")
    if not isinstance(status, str):
        raise Malformed(f"task {task_id} has no string `status`")
    meta = task.get("meta")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise Malformed(f"task {task_id}: `meta` is not an object")
    raw = meta.get(tags_key)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise Malformed(f"task {task_id}: meta.{tags_key} is not an object")
    tags = {}
    for key, value in raw.items():
        try:  # ours are strings; another writer's number or list is read as it is
            tags[key] = to_tag_value(value)
        except TypeError:
            raise Malformed(f"task {task_id}: meta.{tags_key}.{key} is not a string") from None
    locked = meta.get(lock_key) is True
    managed = {key: meta[key] for key in (tags_key, lock_key) if key in meta}
    return Item(
        id=str(task_id),
        etag=digest_etag(status, tags, locked, managed_tags),
        status=status,
        tags=tags,
        locked=locked,
        base={"id": task_id, "status": status, "meta": managed},
        fields=ListedFields(task, FIELDS),
    )


# ------------------------------------------------------------------ credentials
def find_credentials(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(server address, token) as the SDK finds them: SERVER_ADDRESS and API_TOKEN, and
    where one is missing (outside ENV=production) ~/supervisely.env. An address without
    a scheme gets http:// on loopback and https:// elsewhere (the SDK would try http://
    first; a token is never sent in clear text to another host)."""
    address = environ.get(ADDRESS_ENV, "").strip() or None
    token = environ.get(TOKEN_ENV, "").strip() or None
    origin = f"the {TOKEN_ENV} environment variable"
    if (address is None or token is None) and environ.get(MODE_ENV) != "production":
        path = dotenv_path(environ)
        values = read_dotenv(path) if path.is_file() else {}
        if address is None:
            address = values.get(ADDRESS_ENV) or None
        if token is None and values.get(TOKEN_ENV):
            token, origin = values[TOKEN_ENV], str(path)
    if token is not None:
        checked_token(token, origin, "Supervisely")
    return (None if address is None else normalize_address(address)), token


def dotenv_path(environ: Mapping[str, str]) -> Path:
    return in_home(environ, DOTENV_NAME)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (optional `export`, `#` comments, quoted values); nothing is
    expanded or executed, and no line of the file ever appears in a message."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.fullmatch(line)
        if match is None:
            continue  # not an assignment; skipped rather than quoted in an error
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[key] = value
    return values


def normalize_address(address: str) -> str:
    address = address.strip().strip("/")
    if "://" in address:
        return address
    try:
        host = urlsplit("//" + address).hostname or ""
    except ValueError:
        host = ""
    return ("http://" if is_loopback(host) else "https://") + address


# ------------------------------------------------------------------ offline checks
def check_queue(queue: QueueSpec) -> list[SpecProblem]:
    """What Supervisely would refuse, found offline: ids are numbers, tag values are
    single strings (the status enum is checked by the spec loader)."""
    problems: list[SpecProblem] = []
    if not _DIGITS.fullmatch(queue.id):
        problems.append(SpecProblem(f"queue id {queue.id!r} is not a Supervisely workspace id (digits only)", ("id",)))
    if queue.lock_key == "id":
        problems.append(
            SpecProblem("the lock key cannot be `id` (tasks.meta.update takes the task id there)", ("lock", "key"))
        )
    for spot in spots(queue):
        if spot.kind == "id" and not _DIGITS.fullmatch(spot.value):
            problems.append(
                SpecProblem(f"task id {spot.value!r} is not a Supervisely task id (digits only)", spot.path)
            )
        elif spot.kind == "tag" and spot.value is not None:
            problems += _value_problems(spot.key, spot.value, spot.path)
    return problems


_KIND_NAMES = {"bool": "a boolean", "int": "an integer", "float": "a float", "timestamp": "a timestamp"}


def _value_problems(key: str, value: tuple[Any, ...], path: tuple[Any, ...]) -> list[SpecProblem]:
    if len(value) != 1:
        return [SpecProblem(f"tag {key!r} has {len(value)} values; a Supervisely task tag is one string", path)]
    kind = scalar_kind(value[0])
    if kind != "str":
        return [
            SpecProblem(
                f"tag {key!r} is {_KIND_NAMES[kind]}; Supervisely task tags are strings (quote the value)", path
            )
        ]
    return []
