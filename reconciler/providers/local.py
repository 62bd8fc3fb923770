"""The embedded default provider: a SQLite file with real etags, batches and locks.

It needs no account or network, so specs can be tried, tested and demonstrated as is;
and because it refuses stale etags and writes to locked items itself, the engine's
conflict and lock handling is exercised exactly as against a real service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from collections.abc import Callable, Iterable, Mapping, Sequence

from ..errors import UserError
from ..model import Change, Item, ProviderConfig, QueueSpec, decode_stored_tags
from ..seed import load_seed
from ..store import (
    Record,
    StaleRecord,
    Store,
    UnknownItems,
    UnknownQueue,
    Update,
    create_new,
)
from .base import (
    Capabilities,
    ConfigError,
    LockedItem,
    Progress,
    Provider,
    QueueNotFound,
    StaleEtag,
    WriteFailed,
)

DEFAULT_PATH = ".reconciler/state.db"


class LocalProvider(Provider):
    type = "local"
    capabilities = Capabilities(batch_limit=500)
    options_schema: ClassVar[Mapping[str, Any]] = {
        "description": "The embedded local store (no account, no network).",
        "properties": {
            "path": {
                "description": (
                    "SQLite file of the store, relative to the spec's directory. Default: .reconciler/state.db."
                ),
                "type": "string",
                "minLength": 1,
            },
            "seed": {
                "description": (
                    "YAML or JSON file with the live state to start from when the store does not exist yet, "
                    "relative to the spec's directory."
                ),
                "type": "string",
                "minLength": 1,
            },
        },
    }

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    def from_config(cls, config: ProviderConfig) -> LocalProvider:
        options = cls.checked_options(config.options)
        base = Path(config.base_dir)
        path = base / options.get("path", DEFAULT_PATH)
        seed = options.get("seed")
        if not path.exists():
            seeded = {}
            if seed is not None:
                seed_path = base / seed
                if not seed_path.is_file():
                    raise ConfigError(f"provider local: seed file {seed_path} not found")
                seeded = load_seed(seed_path)

            def fill(store: Store) -> None:
                for queue_id, items in seeded.items():
                    store.create_queue(queue_id)
                    store.insert(queue_id, items)

            try:
                create_new(path, fill)
            except OSError as e:
                raise ConfigError(f"provider local: cannot create {path}: {e.strerror}") from None
        try:
            return cls(Store(path))
        except UserError as e:
            raise ConfigError(f"provider local: {e}") from None

    @classmethod
    def endpoint_problem(cls, endpoint: object) -> str | None:
        return None  # a local spec names a path, never an endpoint

    @classmethod
    def for_plan(cls, endpoint: str, options: Mapping[str, Any]) -> LocalProvider:
        """The store a plan was made against. Applying a plan never creates a store: a
        missing one means the plan is for another machine or the store was deleted,
        and creating an empty one would only fail item by item."""
        if not endpoint.startswith("local:"):
            raise ConfigError(f"plan file: local endpoint must start with 'local:', got {endpoint!r}")
        path = Path(endpoint[len("local:") :])
        if not path.is_file():
            raise ConfigError(
                f"plan file: the local store {path} does not exist (the plan was made "
                "against a store that is not here); run `reconciler plan SPEC -o PLANFILE` "
                "again on this machine"
            )
        try:
            return cls(Store(path))
        except UserError as e:
            raise ConfigError(f"provider local: {e}") from None

    @property
    def endpoint(self) -> str:
        return f"local:{self._store.path.resolve()}"

    def list_items(self, queue: QueueSpec, progress: Progress | None = None) -> list[Item]:
        self._require(queue)
        records = self._store.page(queue.id)
        if progress is not None:
            progress(len(records))
        return [_item(r) for r in records]

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        self._require(queue)
        found = self._store.get_many(ids)
        return [_item(found[i]) for i in dict.fromkeys(ids) if i in found and found[i].queue == queue.id]

    def item_of(self, queue: QueueSpec, base: Mapping[str, Any]) -> Item | None:
        """A plan's `base` is the record as read (Record.to_json)."""
        try:
            return Item(
                id=base["id"],
                etag=base["etag"],
                status=base["status"],
                tags=decode_stored_tags(base["tags"]),
                locked=base["locked"] is True,
                base=base,
            )
        except (KeyError, TypeError, ValueError, AttributeError):  # a hand-made base: cannot tell
            return None

    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> None:
        """One transaction; fields are applied to the *stored* record, which equals
        `change.base` whenever the etag guard passes, so unmanaged data survives."""
        self._require(queue)
        updates = [
            Update(
                id=c.item_id,
                etag=c.etag,
                status=c.after_value("status") if c.changes_field("status") else None,
                locked=c.after_value("locked") if c.changes_field("locked") else None,
                tag_changes=c.tag_changes,
            )
            for c in changes
        ]
        try:
            self._store.write(queue.id, updates, check=_lock_check(c.item_id for c in changes if c.relock))
        except StaleRecord as e:
            raise StaleEtag(e.item_id) from None
        except UnknownItems as e:
            raise WriteFailed(f"queue {queue.id}: item {e.ids[0]} does not exist") from None
        except UnknownQueue:
            raise self._not_found(queue) from None

    def close(self) -> None:
        self._store.close()

    def _require(self, queue: QueueSpec) -> None:
        if not self._store.has_queue(queue.id):
            raise self._not_found(queue)

    def _not_found(self, queue: QueueSpec) -> QueueNotFound:
        return QueueNotFound(
            f"queue {queue.id} does not exist in the local store "
            f"{self._store.path} (add it to the seed file before the "
            "store is first created)"
        )


def _lock_check(relocked: Iterable[str]) -> Callable[[Record, Record], None]:
    """Native lock: a locked item takes no write unless that write unlocks it, or it is
    a relocked change (`--replace`): unlocked, changed and locked again in this one
    transaction."""
    allowed = frozenset(relocked)

    def refuse_locked(stored: Record, new: Record) -> None:
        if stored.locked and new.locked and stored.id not in allowed:
            raise LockedItem(stored.id)

    return refuse_locked


def _item(record: Record) -> Item:
    return Item(
        id=record.id,
        etag=record.etag,
        status=record.status,
        tags=record.tags,
        locked=record.locked,
        base=record.to_json(),
    )


PROVIDER = LocalProvider
