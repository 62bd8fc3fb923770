"""datamaker projects over the synapse-sdk backend API: task tags (docs/datamaker.md).

A queue is a project, an item is a task, and the only thing reconciler manages on a
task is which of the project's tags it carries (labels, named in the spec by tag name,
sent by tag id). Tasks have no writable status, no version and no etag, so:

- Reads never trust the unverified `tags` field of a task row. Who carries a tag is the
  answer of `sdk/tasks/?project=P&tags=<id>`, once per tag of interest, and every answer
  is filtered again here: the server silently ignores a filter key it does not know, so
  a typo (or an old server) would otherwise widen an answer to the whole project.
- Writes are `POST tasks/set_tags/ {ids, tags, action}`: one call gives (or takes) the
  same tags to up to 200 tasks, so tasks that need the same (action, tag set) share a
  call, and one task may need two calls (remove, then add). Right before writing, the
  changed tasks' membership is read again (the guarded write of guarded.py).
- POST is never re-sent blindly: after an ambiguous answer (a 5xx, or none at all) the
  server may have committed the call, so the membership of that call's tasks is read
  again and only those the call did not reach are sent once more.
- Task listings use cursor pages (`pagination=cursor&ordering=-id`, no `count`), as the
  SDK does for large projects: deep offset pages slow down and die behind Cloudflare
  (524), and 520/524 answers to a GET are retried. Every listing is bounded: a `next`
  seen before, a task listed twice, or more than MAX_ROWS rows end it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import requests

from ..auth import TOKEN_SHAPE as _TOKEN_SHAPE  # the tenant header is held to the token's shape
from ..auth import checked_token, in_home
from ..errors import suggest
from ..http import HeaderAuth, REDACTED, error_body, make_session, nothing_sent, written
from ..model import Change, Item, ProviderConfig, QueueSpec, StatusRules
from .base import (
    Batch,
    Capabilities,
    ConfigError,
    ListingMoved,
    Progress,
    ProviderError,
    QueueNotFound,
    Relisted,
    SpecProblem,
    WriteResult,
    chunk,
    digest_etag,
    read_twice,
    url_option_schema,
)
from .checks import spots
from .guarded import OK, Answer, Call, Calls, Fresh, GuardedService, guarded_write
from .service_client import HttpProvider, ServiceClient, configured_endpoint, open_endpoint

DEFAULT_ENDPOINT = "https://api.synapse.sh"
HOST_ENV = "SYNAPSE_HOST"
TOKEN_ENV = "SYNAPSE_ACCESS_TOKEN"
TENANT_ENV = "SYNAPSE_PLUGIN_RUN_TENANT"
CONFIG_RELATIVE = Path(".synapse") / "config.json"  # written by `synapse login`
HOW_TO = f"set {TOKEN_ENV} or log in with `synapse login` (it writes `access_token` to ~/{CONFIG_RELATIVE})"

PAGE_SIZE = 100  # what synapse-sdk asks for; the server may clamp it, `next` is followed
IDS_PER_CALL = 200  # set_tags declares no cap; this keeps one call's work bounded
IDS_PER_READ = 100  # id__in values per membership read (one page, a short URL)
# Changes per write batch: the guard reads them again and then writes them; a larger
# batch groups more tasks per call but widens the window between that read and the
# last call. 1000 is a multiple of IDS_PER_CALL, so a big same-tag plan stays minimal.
BATCH_LIMIT = 1000
RETRIES = 3  # the SDK's: 3 retries, backoff factor 2
BACKOFF = 2.0
# GETs are re-sent after these (the SDK's 502/503/504, and Cloudflare's 520 "unknown
# error" and 524 "timeout" that the SDK's authors met on long reads); a POST never is
RETRY_STATUSES = frozenset({502, 503, 504, 520, 524})
TIMEOUT = (5.0, 60.0)
# Task listings: cursor pages, newest first (synapse-sdk's own choice for large projects)
CURSOR = {"pagination": "cursor", "ordering": "-id"}
# Rows one listing may return at most: cursor pages carry no count to bound them by, and
# a server that keeps handing out new rows must not keep a plan running (10,000 pages)
MAX_ROWS = 1_000_000
# `tags` is asked for only to cross-check a filtered answer where the server sends it
FIELDS = "id,project,tags"
_ID = re.compile(r"[0-9]+")


class SynapseTokenAuth(HeaderAuth):
    """synapse-sdk's headers: `Synapse-Access-Token: Token <token>` and, with a tenant,
    `Synapse-Tenant: Token <tenant>`. Its repr never shows the token."""

    __slots__ = ("_tenant",)

    def __init__(self, token: str, tenant: str | None) -> None:
        super().__init__("Synapse-Access-Token", token, "Token ")
        self._tenant = tenant

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        super().__call__(request)
        if self._tenant:
            request.headers["Synapse-Tenant"] = f"Token {self._tenant}"
        return request

    def redact(self, text: str) -> str:
        text = super().redact(text)
        return re.sub(r"(Token\s+)\S+", rf"\g<1>{REDACTED}", text) if "Token" in text else text


class DatamakerProvider(GuardedService, HttpProvider):
    type = "datamaker"
    capabilities = Capabilities(
        batch_limit=BATCH_LIMIT,
        lock_option="tag",
        label_tags=True,
        guard="compare",
        atomic_batches=False,
        status=StatusRules(values=()),
    )
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": (
            "datamaker projects (synapse-sdk backend): tags of tasks, by tag name. The token "
            f"comes from {TOKEN_ENV} or ~/{CONFIG_RELATIVE}, never from the spec."
        ),
        "properties": {
            "endpoint": url_option_schema(
                f"Backend URL. Default: {HOST_ENV}, else `host` in ~/{CONFIG_RELATIVE}, "
                f"else {DEFAULT_ENDPOINT} (plain http only for loopback)."
            ),
            "tenant": {
                "description": f"Tenant code sent as Synapse-Tenant. Default: {TENANT_ENV}, else none.",
                "type": "string",
                "pattern": "^[\\x21-\\x7e]+$",  # _TOKEN_SHAPE: a header value sent as it is
                "errorMessage": "expected a tenant code without spaces or control characters",
            },
        },
    }

    def __init__(
        self,
        endpoint: str,
        token: str,
        tenant: str | None = None,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self._tenant = tenant
        self.resend_wait = backoff
        # Transport retries of GETs on RETRY_STATUSES, never of a POST (one is decided
        # from the answer, or from a fresh read when the answer was ambiguous: guarded.py).
        session = make_session(
            auth=SynapseTokenAuth(token, tenant),
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            retry_statuses=RETRY_STATUSES,
        )
        self.client = ServiceClient("datamaker", open_endpoint(endpoint), session, reason_of=_detail, token_help=HOW_TO)
        self._tag_ids: dict[str, dict[str, int]] = {}  # project → tag name → id

    def plan_options(self) -> dict[str, Any]:
        return {"tenant": self._tenant} if self._tenant else {}

    @classmethod
    def from_config(cls, config: ProviderConfig) -> DatamakerProvider:
        options = cls.checked_options(config.options)
        environ = os.environ
        stored = _read_config(_config_path(environ))
        host = stored.get("host")
        endpoint = configured_endpoint(
            "datamaker", options, environ.get(HOST_ENV), host if isinstance(host, str) else None, DEFAULT_ENDPOINT
        )
        tenant = options.get("tenant") or environ.get(TENANT_ENV) or None
        if "tenant" not in options and tenant is not None and not _TOKEN_SHAPE.fullmatch(tenant):
            # the environment's value; the option's shape is its schema's
            raise ConfigError(f"{TENANT_ENV} must be a tenant code without spaces or control characters")
        return cls(endpoint, _find_token(environ, stored), tenant)

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        problems: list[SpecProblem] = []
        if not _ID.fullmatch(queue.id):
            problems.append(SpecProblem(f"queue id {queue.id!r} is not a datamaker project id (digits only)", ("id",)))
        for spot in spots(queue):
            if spot.kind == "id" and not _ID.fullmatch(spot.value):
                problems.append(
                    SpecProblem(f"task id {spot.value!r} is not a datamaker task id (digits only)", spot.path)
                )
            elif spot.kind == "tag":
                problems += _name_problems(spot.key, queue.lock_key, spot.path)
        return problems

    # ----------------------------------------------------------------- reading
    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """The project's tags (every tag the spec names must exist: checked before any
        task is read), then who carries each of them (all are read, so items show the
        tags the spec does not manage too, as `export` needs), then the task ids a page
        at a time, each page yielded as items. A listing that moves while it is paged
        is read once more, after RELISTED."""
        tags = self._read_tags(queue, fresh=True)
        watched = self._watched(queue, tags)
        return read_twice(
            lambda: self._pages_once(queue, progress, tags, watched),
            lambda exc: f"project {queue.id}: the task listing kept changing while it was read; try again",
        )

    def _pages_once(
        self, queue: QueueSpec, progress: Progress | None, tags: dict, watched: Any
    ) -> Iterator[list[Item]]:
        most = self._bound(queue)
        members = {name: self._members(queue, tag_id, most) for name, tag_id in tags.items()}
        yielded = False
        for rows in self._paged(
            "sdk/tasks/", {"project": queue.id, **CURSOR, "page_size": PAGE_SIZE, "fields": FIELDS}, most
        ):
            ids = self._task_ids(queue, rows)  # each once: _paged refuses a repeated row
            if progress and ids:
                progress(len(ids))
            yielded = True
            yield [_item(i, queue, tags, members, watched) for i in ids]
        if not yielded:
            yield []

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        tags = self._read_tags(queue)
        watched = self._watched(queue, tags)
        wanted = [int(i) for i in dict.fromkeys(ids) if _ID.fullmatch(i)]
        found, members = self._membership(queue, wanted, tags)
        return [_item(i, queue, tags, members, watched) for i in wanted if i in found]

    def _read_tags(self, queue: QueueSpec, fresh: bool = False) -> dict[str, int]:
        """The project's tags, name → id (`task_tags/?project=P`, every page)."""
        if not fresh and queue.id in self._tag_ids:
            return self._tag_ids[queue.id]
        project = int(queue.id)
        names: dict[str, int] = {}
        for rows in self._paged("task_tags/", {"project": queue.id, "page_size": PAGE_SIZE}):
            for row in rows:
                if not isinstance(row, dict) or type(row.get("id")) is not int or not isinstance(row.get("name"), str):
                    raise self._unexpected("task_tags/", "a tag without an integer `id` and a string `name`")
                if not _of_project(row, project):
                    continue  # the project filter was not applied: the tag is another project's
                if row["name"] in names and names[row["name"]] != row["id"]:
                    raise ProviderError(
                        f"project {queue.id} has two tags named {row['name']!r} "
                        f"(ids {names[row['name']]} and {row['id']}); rename one"
                    )
                names[row["name"]] = row["id"]
        self._tag_ids[queue.id] = names
        return names

    def _watched(self, queue: QueueSpec, tags: Mapping[str, int]) -> list[str]:
        """The managed tags (digested into etags, read again by the guard): those the
        spec names and the lock tag (under `exact`, every tag of the project). A named tag the project lacks is an error
        here, before a task is read or anything is written."""
        managed = queue.managed_tags
        named = managed.named - {queue.lock_key}
        missing = sorted(n for n in named if n not in tags)
        if queue.lock_key not in tags and _sets_lock(queue):
            missing.append(queue.lock_key)
        if missing:
            known = ", ".join(sorted(tags)) or "none"
            which = ", ".join(
                repr(n) + (f" (did you mean {near!r}?)" if (near := suggest(n, tags)) else "") for n in missing
            )
            raise ProviderError(
                f"project {queue.id} has no tag {which} (its tags: {known}); datamaker tags "
                "are created in the project's settings, reconciler only adds and removes them"
            )
        names = set(named) | {queue.lock_key}
        names |= {name for name in tags if managed.manages(name)}  # under exact: all but `ignore`
        return sorted(names)

    def _bound(self, queue: QueueSpec) -> int | None:
        """The most rows a task listing of this pass may hold: the project's task count
        (offset page 1 of one row, which is fast; cursor pages carry no count), plus
        room for tasks created while it is read. None if the server gives no count."""
        url = self._url("sdk/tasks/")
        body = self._page_body(url, {"project": queue.id, "page_size": 1, "fields": "id"}, "sdk/tasks/", queue.id)
        count = body.get("count") if isinstance(body, dict) else None
        if type(count) is not int or count < 0:
            return None
        return count + max(PAGE_SIZE, count // 10)

    def _members(self, queue: QueueSpec, tag_id: int, most: int | None) -> set[int]:
        """Ids of the project's tasks carrying the tag."""
        held: set[int] = set()
        for rows in self._paged(
            "sdk/tasks/",
            {"project": queue.id, "tags": tag_id, **CURSOR, "page_size": PAGE_SIZE, "fields": FIELDS},
            most,
        ):
            held.update(self._task_ids(queue, rows, tag_id))
        return held

    def _membership(
        self, queue: QueueSpec, ids: Sequence[int], tags: Mapping[str, int]
    ) -> tuple[set[int], dict[str, set[int]]]:
        """Which of `ids` exist in the project, and which of them carry each tag; by
        `id__in` chunks, each answer filtered again to the ids asked for."""
        found: set[int] = set()
        members: dict[str, set[int]] = {name: set() for name in tags}
        for part in chunk(ids, IDS_PER_READ):
            asked = set(part)
            joined = ",".join(str(i) for i in part)
            for rows in self._paged(
                "sdk/tasks/",
                {"project": queue.id, "id__in": joined, **CURSOR, "page_size": PAGE_SIZE, "fields": FIELDS},
            ):
                found.update(i for i in self._task_ids(queue, rows) if i in asked)
            for name, tag_id in tags.items():
                for rows in self._paged(
                    "sdk/tasks/",
                    {
                        "project": queue.id,
                        "id__in": joined,
                        "tags": tag_id,
                        **CURSOR,
                        "page_size": PAGE_SIZE,
                        "fields": FIELDS,
                    },
                ):
                    members[name].update(i for i in self._task_ids(queue, rows, tag_id) if i in asked)
        return found, members

    def _task_ids(self, queue: QueueSpec, rows: list[Any], tag_id: int | None = None) -> list[int]:
        """Ids of the rows that are tasks of this project (and carry `tag_id`, where
        the row says which tags it carries): a filter the server ignored is undone."""
        project = int(queue.id)
        out = []
        for row in rows:
            if not isinstance(row, dict) or type(row.get("id")) is not int:
                raise self._unexpected("sdk/tasks/", "a task without an integer `id`")
            if not _of_project(row, project):
                continue
            if tag_id is not None and not _may_carry(row, tag_id):
                continue
            out.append(row["id"])
        return out

    # ----------------------------------------------------------------- writing
    def batches(self, queue: QueueSpec, changes: Sequence[Change]) -> list[Batch]:
        """Changes that need the same calls next to each other, then cut into batches
        of BATCH_LIMIT: the calls of one batch are as few as grouping can make them,
        and a batch boundary splits at most one group."""
        ordered = sorted(changes, key=lambda c: _signature(c, queue.lock_key))
        return [Batch(part) for part in chunk(ordered, self.capabilities.batch_limit)]

    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        """The guarded write (guarded.py): one set_tags call per (action, tag set) and
        200 tasks, unlocking first and locking last."""
        return guarded_write(self, queue, changes)

    def guard_reread(self, queue: QueueSpec, changes: Sequence[Change]) -> dict[str, Fresh | str]:
        """The tasks' membership of every tag the changes were read with or change."""
        out: dict[str, Fresh | str] = {
            c.item_id: "not a datamaker task id" for c in changes if not _ID.fullmatch(c.item_id)
        }
        usable = [c for c in changes if c.item_id not in out]
        if not usable:
            return out
        tags = self._read_tags(queue)
        names = _names_involved(usable, queue.lock_key)
        found, members = self._membership(
            queue, [int(c.item_id) for c in usable], {n: tags[n] for n in names if n in tags}
        )
        out.update(
            {
                c.item_id: Fresh(_item(int(c.item_id), queue, _read_names(c, queue.lock_key), members))
                for c in usable
                if int(c.item_id) in found
            }
        )
        return out

    def guard_calls(self, queue: QueueSpec, pairs: Sequence[tuple[Change, Fresh]]) -> Calls:
        """Tasks needing the same (action, tag set) share a call."""
        tags = self._read_tags(queue)
        out = Calls()
        groups: dict[tuple[str, frozenset[str]], list[str]] = {}
        for change, fresh in pairs:
            try:
                ops = _operations(change, fresh.item, queue.lock_key, tags)
            except ValueError as exc:
                out.unwritable[change.item_id] = str(exc)
                continue
            for op in ops:
                groups.setdefault(op, []).append(change.item_id)
        for op in sorted(groups, key=lambda op: _call_order(op, queue.lock_key)):
            action, names = op
            body = {"tags": sorted(tags[n] for n in names), "action": action}
            what = f"tags {'+' if action == 'add' else '-'}{', '.join(sorted(names))}"
            out.calls += [self._call(part, what, body, op, queue.lock_key) for part in chunk(groups[op], IDS_PER_CALL)]
        return out

    def _call(
        self, ids: list[str], what: str, body: dict[str, Any], op: tuple[str, frozenset[str]], lock_key: str
    ) -> Call:
        """One set_tags call (a function of its own, so each closure keeps its own values)."""
        return Call(
            ids,
            what,
            lambda ids, _: self._post("tasks/set_tags/", {"ids": [int(i) for i in ids], **body}),
            lambda _, fresh: _holds(fresh.item, op, lock_key),
        )

    def _post(self, path: str, body: dict[str, Any]) -> Answer:
        """A 5xx or no answer may have been applied (lost); a 4xx, or no connection
        made, was not (refused). Either failure stops the run."""
        url = self._url(path)
        try:
            response = self.client.session.post(url, json=body)
        except requests.RequestException as exc:
            if nothing_sent(exc):
                return Answer("refused", f"{self.client.lost(f'POST {url}', exc)}; not written", fatal=True)
            return Answer("lost", self.client.lost(f"POST {url}", exc))
        if written(response):
            return OK
        if response.status_code >= 500:
            return Answer("lost", self.client.status_text(f"POST {url}", response))
        if response.status_code == 401:
            return Answer("refused", str(self.client.token_refused(response)), fatal=True)
        return Answer("refused", self.client.status_text(f"POST {url}", response), fatal=True)

    # --------------------------------------------------------------- plumbing
    def _paged(self, path: str, params: Mapping[str, Any], most: int | None = None) -> Iterator[list[Any]]:
        """Each page's `results` of a DRF listing (cursor or page-number pages alike),
        following `next` (only to this endpoint: the URL comes from the server); a
        `count` is never required. Bounded: a `next` seen before is an error; a row id
        listed twice, more rows than `most` (the project's count, with room) or a page
        `count` that differs from the first one's raise ListingMoved; more than MAX_ROWS
        rows is an error whatever the server said."""
        url: str | None = self._url(path)
        query: Mapping[str, Any] | None = params
        count = None
        visited: set[str] = set()
        seen: set[int] = set()
        while url is not None:
            body = self._page_body(url, query, path, params.get("project"))
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise self._unexpected(path, "expected a page with a `results` array")
            if type(body.get("count")) is int:
                if count is not None and body["count"] != count:
                    raise ListingMoved()
                count = body["count"]
            ids = [row["id"] for row in results if isinstance(row, dict) and type(row.get("id")) is int]
            if seen.intersection(ids) or len(set(ids)) < len(ids):
                raise ListingMoved(
                    f"{path}: a row was listed twice (the listing moved, or the server repeats its pages)"
                )
            seen.update(ids)
            if most is not None and len(seen) > most:
                raise ListingMoved(f"{path}: more rows listed than the project's tasks counted")
            if len(seen) > MAX_ROWS:
                raise ProviderError(
                    f"{self._url(path)}: more than {MAX_ROWS:,} rows listed; "
                    "refusing to read further (a server that keeps listing new rows?)"
                )
            yield results
            url, query = body.get("next"), None
            if url is not None:
                if not isinstance(url, str) or not self._ours(url) or url in visited:
                    raise self._unexpected(path, "its `next` link is not a new page of this endpoint")
                visited.add(url)

    def _page_body(self, url: str, query: Mapping[str, Any] | None, path: str, project: Any) -> Any:
        """One listing page's JSON; QueueNotFound when the server refuses the `project`
        filter's value (django-filter: "Select a valid choice")."""
        response = self.client.send("GET", url, params=query)
        if response.status_code == 400 and "project" in _json_or_none(response):
            raise QueueNotFound(
                f"datamaker project {project} not found or not readable ({path}: {self.client.reason(response)})"
            )
        self.client.check(response, "GET " + url.split("?", 1)[0])
        return self.client.json(response, self._url(path))

    def _ours(self, url: str) -> bool:
        mine, theirs = urlsplit(self.endpoint), urlsplit(url)
        return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc) and theirs.path.startswith(
            mine.path.rstrip("/") + "/"
        )

    def _unexpected(self, path: str, detail: str) -> ProviderError:
        return self.client.unexpected(self._url(path), detail)

    def _url(self, path: str) -> str:
        return f"{self.client.endpoint}/{path}"


def _detail(response: requests.Response) -> str | None:
    """DRF's `detail`, else the field errors (the body as JSON)."""
    body = _json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return json.dumps(body, ensure_ascii=False, sort_keys=True) if body else None


PROVIDER = DatamakerProvider


# ------------------------------------------------------------------ credentials
def _config_path(environ: Mapping[str, str]) -> Path:
    return in_home(environ, CONFIG_RELATIVE)


def _read_config(path: Path) -> dict[str, Any]:
    """`host` and `access_token` of synapse-sdk's config file; {} if there is none.
    Never quotes the file (it holds the token)."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a JSON object (synapse-sdk's config file)")
    return data


def _find_token(environ: Mapping[str, str], stored: Mapping[str, Any]) -> str:
    token = environ.get(TOKEN_ENV, "").strip()
    origin = f"the {TOKEN_ENV} environment variable"
    if not token:
        value = stored.get("access_token")
        token = value.strip() if isinstance(value, str) else ""
        origin = f"~/{CONFIG_RELATIVE}"
    if not token:
        raise ConfigError(f"no datamaker token found: {HOW_TO}")
    return checked_token(token, origin, "datamaker")


# ------------------------------------------------------------------ the mapping
def _item(
    task_id: int,
    queue: QueueSpec,
    names: Iterable[str],
    members: Mapping[str, set[int]],
    managed: Iterable[str] | None = None,
) -> Item:
    """A task as reconciler sees it: the tags read that it carries (the lock tag is
    `locked`). The etag digests only the managed tags (a pipeline's own tags must not
    make planned changes stale), and `base` records each managed tag and whether the
    task carried it, so the guard of `apply PLANFILE` reads exactly those again."""
    held = {name: task_id in members.get(name, ()) for name in sorted(names)}
    kept = set(held) if managed is None else set(managed)
    tags = {name: (True,) for name, has in held.items() if has and name != queue.lock_key}
    locked = held.get(queue.lock_key, False)
    digested = {name: value for name, value in tags.items() if name in kept}
    return Item(
        id=str(task_id),
        etag=digest_etag("", digested, locked, queue.managed_tags),
        status="",
        tags=tags,
        locked=locked,
        base={"id": task_id, "project": int(queue.id), "tags": {name: held.get(name, False) for name in sorted(kept)}},
    )


def _read_names(change: Change, lock_key: str) -> list[str]:
    """The tags the change's item was read with (its base) and those it changes: the
    fresh copy is read with the same tags, so its digest is comparable."""
    read = change.base.get("tags") if isinstance(change.base, Mapping) else None
    names = set(read) if isinstance(read, Mapping) else {lock_key}
    return sorted(names | set(change.tag_changes))


def _names_involved(changes: Iterable[Change], lock_key: str) -> set[str]:
    names = {lock_key}
    for change in changes:
        names.update(_read_names(change, lock_key))
        names.update(change.tag_changes)
    return names


def _operations(
    change: Change, fresh: Item, lock_key: str, tags: Mapping[str, int]
) -> list[tuple[str, frozenset[str]]]:
    """The calls this change needs from the fresh task: (action, tag names)."""
    add, remove = set(), set()
    for name, value in change.tag_changes.items():
        has = name in fresh.tags
        if value is None:
            if has:
                remove.add(name)
        elif tuple(value) != (True,):
            raise ValueError(f"tag {name!r}: datamaker tags are labels (true or null), not {value!r}")
        elif not has:
            add.add(name)
    if change.changes_field("locked"):
        want = bool(change.after_value("locked"))
        if want and not fresh.locked:
            add.add(lock_key)
        elif not want and fresh.locked:
            remove.add(lock_key)
    unknown = sorted(n for n in add | remove if n not in tags)
    if unknown:
        raise ValueError(f"the project has no tag {', '.join(map(repr, unknown))} (any more)")
    ops = []
    if remove:
        ops.append(("remove", frozenset(remove)))
    if add:
        ops.append(("add", frozenset(add)))
    return ops


def _signature(change: Change, lock_key: str) -> tuple:
    """What calls a change needs, as planned: the sort key that groups batches."""
    add = sorted(k for k, v in change.tag_changes.items() if v is not None)
    remove = sorted(k for k, v in change.tag_changes.items() if v is None)
    if change.changes_field("locked"):
        (add if change.after_value("locked") else remove).append(lock_key)
    return (tuple(sorted(add)), tuple(sorted(remove)))


def _call_order(op: tuple[str, frozenset[str]], lock_key: str) -> tuple:
    """Unlocking first, locking last: a task is never locked before its change lands
    (docs/semantics.md, "Locks"), nor changed while still locked."""
    action, names = op
    rank = {("remove", True): 0, ("remove", False): 1, ("add", False): 2, ("add", True): 3}
    return (rank[(action, lock_key in names)], sorted(names))


def _holds(item: Item, op: tuple[str, frozenset[str]], lock_key: str) -> bool:
    """Whether a task read again carries (add) or lacks (remove) every tag of the call."""
    action, names = op
    return all((item.locked if n == lock_key else n in item.tags) == (action == "add") for n in names)


def _sets_lock(queue: QueueSpec) -> bool:
    assignments = [r.set for r in queue.rules] + list(queue.submissions.values())
    return any(a.locked is not None and a.locked.value for a in assignments)


def _of_project(row: Mapping[str, Any], project: int) -> bool:
    value = row.get("project", project)
    if isinstance(value, Mapping):
        value = value.get("id")
    return value == project


def _may_carry(row: Mapping[str, Any], tag_id: int) -> bool:
    """False only where the row itself lists its tags and this one is not among them."""
    tags = row.get("tags")
    if not isinstance(tags, list):
        return True
    ids = {t if type(t) is int else t.get("id") if isinstance(t, Mapping) else None for t in tags}
    return tag_id in ids


def _json_or_none(response: requests.Response) -> Any:
    body = error_body(response)
    return body if isinstance(body, (dict, list)) else {}


def _name_problems(name: str, lock_key: str, path: tuple[Any, ...]) -> list[SpecProblem]:
    if not name.strip():
        return [SpecProblem("a datamaker tag name must not be empty", path)]
    if name == lock_key:
        return [SpecProblem(f"tag {name!r} is the lock tag of this queue: set it with `locked:`", path)]
    return []
