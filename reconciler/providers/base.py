"""The contract between the engine and a service (DESIGN §1, §3).

A provider only reads items and writes batches; ordering, batching policy, conflicts,
retries of conflicts and reporting belong to the engine (`apply.py`). Keeping providers
this thin is what lets result stores with native locks, tag services and run batches
plug in later as one file each.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Final, Iterable, Iterator, Mapping, Sequence

from ..errors import ConfigError, ProviderError, UserError
from ..model import Change, Item, ProviderConfig, QueueSpec, TagValue

Progress = Callable[[int], None]  # called with the number of items just read or written


@dataclass(frozen=True)
class Capabilities:
    """What the engine may assume about a service."""

    batch_limit: int  # most changes one all-or-nothing write may carry
    native_locks: bool  # True: the service itself refuses writes to locked items
    label_only_tags: bool = False  # tags are a set of names (`tags: [a, b]`)
    max_in_flight: int = 1  # concurrent requests the service tolerates per credential


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
    """A batch failed for good (after transport retries); nothing in it was written."""


class Relisted:
    """The signal in `Provider.pages` that the listing starts over."""

    def __repr__(self) -> str:
        return "RELISTED"


RELISTED: Final = Relisted()


class Provider(ABC):
    type: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Identifies the service instance; a plan file only applies to the same one."""

    @abstractmethod
    def list(self, queue: QueueSpec, progress: Progress | None = None) -> list[Item]:
        """Every item of the queue, each exactly once, as one consistent snapshot."""

    def pages(self, queue: QueueSpec, progress: Progress | None = None) -> Iterator[Sequence[Item] | Relisted]:
        """The snapshot `list` returns, a page at a time as it is read, so that the
        planner diffs one page while the service prepares the next.

        A provider that finds its listing inconsistent part-way and reads the queue
        again yields RELISTED first: every page before it is void. Close the iterator
        when stopping early (it may hold a reader thread). Default: `list` as one page.
        """
        yield self.list(queue, progress)

    @abstractmethod
    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        """Fresh copies of some items (after a conflict); unknown ids are left out."""

    @abstractmethod
    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> None:
        """Write one batch, all or nothing, each change guarded by its etag.

        Builds each object from `change.base` with only the changed fields replaced.
        Raises StaleEtag (or LockedItem) naming one offending item and writes nothing;
        raises WriteFailed when the batch cannot be written for another reason.
        """

    def batches(self, queue: QueueSpec, changes: Sequence[Change]) -> list[list[Change]]:
        """Split changes into write batches, in order; providers with size limits refine
        this (the queue's settings, such as its lock annotation, shape what is written)."""
        return chunk(changes, self.capabilities.batch_limit)

    @classmethod
    def from_config(cls, config: ProviderConfig) -> "Provider":
        """Build from a spec's `provider:` block; relative paths resolve against
        `config.base_dir`. Raises ConfigError for what the user must fix."""
        raise NotImplementedError

    @classmethod
    def check_queue(cls, queue: QueueSpec) -> list[SpecProblem]:
        """Offline checks of what this service would refuse (status enum, key syntax)."""
        return []

    def close(self) -> None:
        """Release connections or files."""

    def __enter__(self) -> "Provider":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def gather(pages: Iterable[Sequence[Item] | Relisted]) -> list[Item]:
    """The items of a `pages` iteration, honouring RELISTED: `list` for providers that
    read page by page."""
    items: list[Item] = []
    for page in pages:
        if page is RELISTED:
            items = []
        else:
            items += page  # type: ignore[arg-type]
    return items


def chunk(seq: Sequence[Any] | Iterable[Any], size: int) -> list[list[Any]]:
    items = list(seq)
    return [items[i : i + size] for i in range(0, len(items), size)]
