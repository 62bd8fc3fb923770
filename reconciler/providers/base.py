"""The contract between the engine and a service (docs/architecture.md, "Why the provider contract is this small").

A provider only reads items and writes batches; ordering, batching policy, conflicts,
retries of conflicts and reporting belong to the engine (`apply.py`). Keeping providers
this thin is what lets result stores with native locks, tag services and run batches
plug in later as one file each.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Final,
    Literal,
)
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence

from ..errors import ConfigError, Located, ProviderError, UserError, UserErrors
from ..jsonload import path_text
from ..model import Change, Item, ManagedTags, ProviderConfig, QueueSpec, StatusRules, encode_tags, same_tag_value
from ..netcheck import check_endpoint

if TYPE_CHECKING:
    from ..schema_wording import Locate

Progress = Callable[[int], None]  # called with the number of items just read or written
Guard = Literal["etag", "compare"]


@dataclass(frozen=True)
class Capabilities:
    """What the engine may assume about a service; every field is read by the engine."""

    batch_limit: int  # most changes one `write` call may carry (read by `batches`)
    # Name of the queue's `lock:` option where the lock is advisory (stored by the
    # service as a tag, annotation or meta key and enforced by the engine), e.g.
    # "annotation" for `lock: {annotation: locked}`; None: the service locks natively
    # and a `lock:` block is refused by validate.
    lock_option: str | None = None
    label_tags: bool = False  # tags are a set of names: `tags: [a, b]`, values true/null only
    text_tags: bool = False  # tag values are text only: ranks write "1" and "true"
    guard: Guard = "etag"  # etag: the service refuses stale writes; compare: the engine re-reads
    atomic_batches: bool = True  # False: a failed write may have landed in part (WriteResult)
    status: StatusRules = StatusRules()
    # The service's natural order of item ids (a sort key), in which plans and exports
    # list items; None: numeric ids by number, then the rest as text (diff.item_order).
    order: Callable[[str], Any] | None = None
    # Read-only fields the service reports on each item (Item.fields), name → type
    # (string, integer, float, boolean, timestamp): what `where: {item: …}` may test.
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SpecProblem:
    """An offline finding about a queue spec, located where possible."""

    message: str
    path: tuple[Any, ...] = ()  # JSON path inside the queue mapping, for file:line:col


class QueueNotFound(ProviderError):
    pass


class StaleEtag(ProviderError):
    """A batch was refused whole because this item's etag is out of date."""

    def __init__(self, item_id: str, message: str = "") -> None:
        super().__init__(message or f"item {item_id} was changed since it was read")
        self.item_id = item_id


class LockedItem(ProviderError):
    """A batch was refused whole because it changes a natively locked item."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} is locked")
        self.item_id = item_id


class WriteFailed(ProviderError):
    """A write failed for good (after transport retries). From a provider whose batches
    are atomic: nothing in it was written. Otherwise the provider returns a WriteResult
    instead, saying what landed."""


@dataclass
class WriteResult:
    """What one `write` call did, item by item, for services where a write is several
    calls or a batch is not all or nothing (docs/RELIABILITY.md, "Partial failure and re-runs").

    Every change of the call is named in at most one field; a change named in none was
    not attempted (the engine reports it skipped). `failed` reasons say what landed of a
    change that needed several calls. `error` stops the whole run (sticky), after the
    items named here are recorded.
    """

    applied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already held the planned values
    # refused by the guard: the fresh copy, its `base` in the shape `list_items` gives (the
    # engine reports what changed by comparing it with the plan's base)
    stale: dict[str, Item] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    # written, then read back changed by another writer (a whole-document service's
    # lost update): reported stale with this detail, never retried in place
    overwritten: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def named(self) -> set[str]:
        return {*self.applied, *self.unchanged, *self.stale, *self.failed, *self.overwritten}

    def absorb(self, other: WriteResult) -> None:
        self.applied += other.applied
        self.unchanged += other.unchanged
        self.stale.update(other.stale)
        self.failed.update(other.failed)
        self.overwritten.update(other.overwritten)
        self.error = self.error or other.error


class Relisted:
    """The signal in `Provider.pages` that the listing starts over."""

    def __repr__(self) -> str:
        return "RELISTED"


RELISTED: Final = Relisted()


class Batch(tuple):  # tuple[Change, ...]
    """The changes of one `write` call, in order, as `Provider.batches` returns them.

    A provider that prepares each change's request while it sizes its batches (Synapse
    encodes each status to measure it) returns a subclass carrying what it prepared, so
    `write` need not prepare it again. After a conflict the engine asks `batches` again
    for the changes still to send."""

    __slots__ = ()


class Provider(ABC):
    type: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # JSON Schema (draft 2020-12) of the provider's `provider:` block besides `type`:
    # {"description": ..., "properties": {...}}; spec.schema.json is assembled from these
    # (reconciler/schema_assembly.py) and a test keeps the shipped file in step.
    options_schema: ClassVar[Mapping[str, Any]] = {"properties": {}}

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Identifies the service instance; a plan file only applies to the same one."""

    def __init_subclass__(cls, base: bool = False, **kwargs: Any) -> None:
        """A provider implements `list_items` or `pages` (or both); each default is the
        other. `base=True`: a base for providers (service_client.HttpProvider), not one."""
        super().__init_subclass__(**kwargs)
        if not base and cls.list_items is Provider.list_items and cls.pages is Provider.pages:
            raise TypeError(f"{cls.__name__} must implement list_items() or pages()")

    def list_items(self, queue: QueueSpec, progress: Progress | None = None) -> list[Item]:
        """Every item of the queue, each exactly once, as one consistent snapshot.
        Default: the `pages`, gathered (honouring RELISTED)."""
        return gather(self.pages(queue, progress), queue.id)

    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """The snapshot `list_items` returns, a page at a time as it is read, so that the
        planner diffs one page while the service prepares the next.

        A provider that finds its listing inconsistent part-way and reads the queue
        again yields RELISTED first: every page before it is void. Close the iterator
        when stopping early (it may hold a reader thread). Default: `list_items` as one page.
        """
        yield self.list_items(queue, progress)

    @abstractmethod
    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        """Fresh copies of some items (after a conflict); unknown ids are left out."""

    def reread(self, queue: QueueSpec, ids: Sequence[str], queue_size: int) -> list[Item]:
        """Fresh copies of every item still to be written after a conflict, read at once
        the cheapest way the service offers, so one conflict costs one re-read of the
        run rather than one per item (`queue_size`: items the plan listed). Default:
        `get`; a service that reads a page of many items per request lists the queue."""
        return self.get(queue, ids)

    def item_of(self, queue: QueueSpec, base: Mapping[str, Any]) -> Item | None:
        """The item a change's `base` was read as, for an etag service whose etag moves on
        any write: the engine compares its managed fields (`managed_digest`) with a
        refused item's fresh copy, and when only unmanaged tags or fields moved it rebases
        the change rather than calling it stale. None (the default, and for a base that
        does not parse): the engine cannot tell, so the conflict is stale. A compare-guard
        service needs none: its etag digests only the managed fields already."""
        return None

    def requests_sent(self) -> int | None:
        """Requests sent so far, every retry included (the report's count); None for a
        service reached without requests (the engine then counts its own calls)."""
        return None

    @abstractmethod
    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult | None:
        """Write one batch, each change guarded by its etag (or the compare guard).
        `changes` is a Batch from `batches`, or any sequence of changes: a test, or a caller that made no batches.

        Builds each object from the item as stored (`change.base` where the service
        refuses a stale etag, a fresh read under the compare guard) with only the
        changed fields replaced, so fields owned by others survive.

        Atomic providers return None (all written) or raise StaleEtag (or LockedItem)
        naming one offending item, or WriteFailed, having written nothing. Other
        providers return a WriteResult naming what happened to each change.
        """

    def batches(self, queue: QueueSpec, changes: Sequence[Change]) -> list[Batch]:
        """Split changes into write batches, in order; providers with size limits refine
        this (the queue's settings, such as its lock annotation, shape what is written).
        The engine hands each batch to `write`, and after a conflict batches what is
        left again."""
        return [Batch(part) for part in chunk(changes, self.capabilities.batch_limit)]

    @classmethod
    def from_config(cls, config: ProviderConfig) -> Provider:
        """Build from a spec's `provider:` block; relative paths resolve against
        `config.base_dir`. Raises ConfigError for what the user must fix."""
        raise NotImplementedError

    @classmethod
    def checked_options(cls, options: Mapping[str, Any], where: str | Locate | None = None) -> Mapping[str, Any]:
        """`options`, if this provider's declaration (`options_schema`) accepts them: the one
        check of options that come without a spec (a plan file's, a ProviderConfig built
        in Python), in the spec's words (providers/options.py). Else every problem at once,
        placed by `where`: a Locate for input with positions (a plan file), or a name
        the problem follows (default: "<type> provider": "supervisely provider:
        max_in_flight: expected an integer, got string")."""
        from .options import option_errors

        errors: list[UserError]
        if where is None or isinstance(where, str):  # no place in a file: no Located
            name = where or f"{cls.type} provider"
            errors = [ConfigError(f"{name}: {e.message}") for e in option_errors(cls, options, _named)]
        else:
            errors = list(option_errors(cls, options, where))
        if errors:
            raise errors[0] if len(errors) == 1 else UserErrors(errors)
        return options

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        """Offline checks of what this service would refuse (id syntax, key syntax,
        value types), read from `checks.spots` (every id, status and tag the queue
        names, at its place) rather than by walking rules and entries; the status
        values of `capabilities.status` are checked by the spec loader itself."""
        return []

    @classmethod
    def endpoint_problem(cls, endpoint: object) -> str | None:
        """Why this provider would refuse `endpoint`, found without opening anything, so
        `validate` reports it at the spec's line and a plan file's is refused before
        apply sends a request; None if acceptable (or absent: the default). Default: a
        URL under the endpoint policy (netcheck.check_endpoint)."""
        if not isinstance(endpoint, str):
            return None
        try:
            check_endpoint(endpoint.rstrip("/"))
        except ConfigError as exc:
            return str(exc)
        return None

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(option name, why) for each provider option this provider would refuse,
        found offline so `validate` reports it at that option's line. Default: the
        endpoint (endpoint_problem)."""
        problem = cls.endpoint_problem(options.get("endpoint"))
        return [("endpoint", problem)] if problem else []

    def plan_options(self) -> dict[str, Any]:
        """The non-secret options besides the endpoint that `apply PLANFILE` needs to
        write as this provider would (saved in the plan file's `provider.options`)."""
        return {}

    @classmethod
    def for_plan(cls, endpoint: str, options: Mapping[str, Any]) -> Provider:
        """The provider a plan file was made against, from its recorded endpoint and
        options alone; credentials come from the environment, never from the file.
        The endpoint is checked before anything is opened (the file is untrusted)."""
        problem = cls.endpoint_problem(endpoint)
        if problem:
            raise ConfigError(f"plan file: {problem}")
        return cls.from_config(ProviderConfig(type=cls.type, options={**options, "endpoint": endpoint}, base_dir="/"))

    def close(self) -> None:  # noqa: B027 - optional: a provider with nothing open keeps it
        """Release connections or files."""

    def __enter__(self) -> Provider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _named(path: tuple[Any, ...], message: str, *, key: bool = False) -> Located:
    """The Locate of options without positions: the message after the option's name
    (`max_in_flight: expected an integer`); a key's message names the key already."""
    named = path[:-1] if key else path
    return Located("", None, None, f"{path_text(named)}: {message}" if named else message)


# ------------------------------------------------------------------ compare guard
def digest_etag(status: str, tags: Mapping[str, Any], locked: bool, managed: ManagedTags) -> str:
    """An etag for a service that has none: a stable digest of the managed fields as
    read (status, lock, and the tags the queue's spec manages: `queue.managed_tags`), so
    plans and plan files look the same everywhere and the compare guard can tell a
    changed item from an unchanged one. Unmanaged fields and tag keys are left out on
    purpose: a pipeline writing its own fields or tags must not make every planned change
    stale."""
    canonical = json.dumps(
        [status, encode_tags(managed.project(tags)), bool(locked)],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return "d" + hashlib.sha256(canonical.encode("ascii")).hexdigest()[:23]


def managed_digest(item: Item, managed: ManagedTags) -> str:
    """What the guard compares of an item, whatever the service's own etag: its status,
    lock and managed tags (digest_etag)."""
    return digest_etag(item.status, item.tags, item.locked, managed)


def matches_after(change: Change, item: Item) -> bool:
    """True when a fresh item already holds every value the change would write: someone
    (or our own earlier, interrupted write) already made exactly this change."""
    for f in change.fields:
        if f.field == "status":
            if item.status != f.after:
                return False
        elif f.field == "locked":
            if item.locked != f.after:
                return False
        elif not same_tag_value(item.tags.get(f.tag_key) if f.tag_key is not None else None, f.after):
            return False
    return True


def compare_guard(
    changes: Sequence[Change], fresh: Mapping[str, Item]
) -> tuple[list[tuple[Change, Item]], WriteResult]:
    """Judge each change against its item as re-read right before the write.

    Returns the (change, fresh item) pairs to write (build each write from the fresh
    object, with only the planned fields changed) and a WriteResult for the rest: gone
    (failed), already holding the planned values (unchanged), or changed since the plan
    (stale, with the fresh copy, so the engine need not read it again).
    """
    to_write: list[tuple[Change, Item]] = []
    result = WriteResult()
    for change in changes:
        item = fresh.get(change.item_id)
        if item is None:
            result.failed[change.item_id] = "item no longer exists"
        elif item.etag != change.etag:
            if matches_after(change, item):
                result.unchanged.append(change.item_id)
            else:
                result.stale[change.item_id] = item
        else:
            to_write.append((change, item))
    return to_write, result


class ListingMoved(ProviderError):
    """A one-pass listing found itself inconsistent (an id listed twice, a total that
    moved while paging): it is not one snapshot and must be read again. Raised outside
    `read_twice` (a short read that is not retried) it is one clear line, never a bug."""

    def __init__(self, detail: str = "the listing changed while it was read; try again") -> None:
        super().__init__(detail)


def read_twice(
    read_once: Callable[[], Iterator[Sequence[Item]]], gave_up: Callable[[ListingMoved], str]
) -> Iterator[Sequence[Item] | Relisted]:
    """`pages` for a provider whose listing can move under it: one pass, and if it
    raises ListingMoved, RELISTED and a second pass; a second move is one ProviderError
    with `gave_up(exc)`'s words, since a queue that keeps changing is the user's to wait
    out, not ours to loop on."""
    try:
        yield from read_once()
        return
    except ListingMoved:
        pass
    yield RELISTED
    try:
        yield from read_once()
    except ListingMoved as exc:
        raise ProviderError(gave_up(exc)) from None


# A queue's listing ends within this many pages (counted from its last RELISTED): a
# server that keeps sending new pages is refused, not followed (issue 29). At the
# providers' page sizes (100 to 500 items) that is 500,000 to 2.5 million items.
MAX_PAGES = 5_000


def bounded(
    pages: Iterable[Sequence[Item] | Relisted], queue_id: str
) -> Generator[Sequence[Item] | Relisted, None, None]:
    """`pages` as they come, refused in one line once they pass MAX_PAGES or when a page
    holds only items already listed (the same page again, under a new link or offset):
    either way the listing would never end. Closes `pages` when stopped."""
    seen: set[str] = set()
    count = 0
    try:
        for page in pages:
            if isinstance(page, Relisted):  # RELISTED, its one instance
                seen, count = set(), 0
            else:
                count += 1
                if count > MAX_PAGES:
                    raise ProviderError(
                        f"queue {queue_id}: the listing did not end within {MAX_PAGES} pages "
                        "(reconciler's ceiling per queue); refused as endless"
                    )
                ids = [item.id for item in page]
                if ids and seen.issuperset(ids):
                    raise ProviderError(
                        f"queue {queue_id}: page {count} of the listing holds only items it "
                        "had already listed (the same page again); refused as endless"
                    )
                seen.update(ids)
            yield page
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


def gather(pages: Iterable[Sequence[Item] | Relisted], queue_id: str = "?") -> list[Item]:
    """The items of a `pages` iteration, honouring RELISTED and bounded (`bounded`):
    `list_items` for providers that read page by page."""
    items: list[Item] = []
    for page in bounded(pages, queue_id):
        if page is RELISTED:
            items = []
        else:
            items += page  # type: ignore[arg-type]
    return items


def url_option_schema(description: str) -> dict[str, Any]:
    """The `options_schema` property of an `endpoint:` option (an http(s) URL)."""
    return {
        "description": description,
        "type": "string",
        "pattern": "^https?://",
        "errorMessage": "expected an http:// or https:// URL",
    }


def chunk(seq: Sequence[Any] | Iterable[Any], size: int) -> list[list[Any]]:
    items = list(seq)
    return [items[i : i + size] for i in range(0, len(items), size)]
