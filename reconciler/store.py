"""The embedded state store: SQLite rows with real etags, versions and batch tokens.

Both the `local` provider and the Synapse-compatible sandbox keep their state here, so the
behaviour the engine relies on (an etag changes on every write, a batch is all or
nothing, the first stale etag in request order is the one reported) is implemented once.
One connection per Store guarded by a lock keeps threads safe; WAL plus a busy timeout
lets several processes share the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Mapping, Sequence

from .errors import UserError
from .model import TagValue, apply_tag_changes, decode_stored_tags, encode_tags

SCHEMA_VERSION = 1
# PRAGMA application_id of every store reconciler creates ("RCN1"): the mark that lets
# it write to an existing file (https://www.sqlite.org/pragma.html#pragma_application_id).
APPLICATION_ID = 0x52434E31
BUSY_TIMEOUT_S = 30.0
_SQL_VARS = 500  # ids per IN (...) query, well below SQLite's parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    id    TEXT PRIMARY KEY,
    token TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id          TEXT PRIMARY KEY,
    queue       TEXT NOT NULL REFERENCES queues(id),
    etag        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_on  TEXT NOT NULL,
    modified_on TEXT NOT NULL,
    status      TEXT NOT NULL,
    tags        TEXT NOT NULL,
    locked      INTEGER NOT NULL,
    extra       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_queue ON items(queue, length(id), id);
"""
# What _SCHEMA creates, table → columns: an unmarked file holding exactly this was made
# by a reconciler from before APPLICATION_ID.
_TABLES = {
    "queues": ["id", "token"],
    "items": ["id", "queue", "etag", "version", "created_on", "modified_on", "status", "tags", "locked", "extra"],
}
_COLUMNS = "id, queue, etag, version, created_on, modified_on, status, tags, locked, extra"
# Numeric order for decimal ids (Synapse submission ids) without parsing them.
_ORDER = "ORDER BY length(id), id"


class StoreError(UserError):
    """The database file cannot be used (not SQLite, newer schema, unwritable)."""


class StoreConflict(Exception):
    """A write was refused whole; nothing was written."""


class StaleRecord(StoreConflict):
    def __init__(self, item_id: str) -> None:
        super().__init__(f"item {item_id} was changed since it was read")
        self.item_id = item_id


class StaleToken(StoreConflict):
    """The queue was written since the caller's queue token was issued."""


class UnknownItems(StoreConflict):
    def __init__(self, queue: str, ids: Sequence[str]) -> None:
        super().__init__(f"queue {queue} has no item(s) {', '.join(ids)}")
        self.ids = list(ids)


class UnknownQueue(StoreConflict):
    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue} does not exist")
        self.queue = queue


@dataclass(frozen=True)
class NewItem:
    """An item to insert (seed files, synthetic data)."""

    id: str
    status: str = "RECEIVED"
    tags: Mapping[str, TagValue] = field(default_factory=dict)
    locked: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """One stored item. `extra` holds every native field the store does not model."""

    queue: str
    id: str
    etag: str
    version: int
    created_on: str
    modified_on: str
    status: str
    tags: Mapping[str, TagValue]
    locked: bool
    extra: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "id": self.id,
            "etag": self.etag,
            "version": self.version,
            "created_on": self.created_on,
            "modified_on": self.modified_on,
            "status": self.status,
            "tags": encode_tags(self.tags),
            "locked": self.locked,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class Update:
    """A guarded write of one item; None keeps the stored value.

    `tags` replaces every tag (a full-replacement API like Synapse's); `tag_changes` is
    applied after it (value None deletes the key), for writers that patch single keys.
    """

    id: str
    etag: str
    status: str | None = None
    locked: bool | None = None
    tags: Mapping[str, TagValue] | None = None
    tag_changes: Mapping[str, TagValue | None] = field(default_factory=dict)
    extra: Mapping[str, Any] | None = None

    def applied_to(self, stored: Record) -> Record:
        tags = dict(stored.tags) if self.tags is None else dict(self.tags)
        return replace(
            stored,
            status=stored.status if self.status is None else self.status,
            locked=stored.locked if self.locked is None else self.locked,
            tags=apply_tag_changes(tags, self.tag_changes),
            extra=dict(stored.extra) if self.extra is None else dict(self.extra),
        )


@dataclass(frozen=True)
class Written:
    """What one committed `Store.write` left: the records as stored and the queue's new
    token (the sandbox hands the token on as Synapse's `nextUploadToken`). Not the
    provider contract's `WriteResult`, which says per change what a service did."""

    records: list[Record]
    queue_token: str  # the token this write left on the queue


Check = Callable[[Record, Record], None]  # (stored, new); raises to refuse the batch


def now_iso() -> str:
    """Server time as Synapse writes it: ISO-8601 UTC with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_etag() -> str:
    return str(uuid.uuid4())


class Store:
    def __init__(self, path: str | Path) -> None:
        """Open the store at `path`, creating it when no file is there. An existing file
        is written to only when reconciler made it (see `_check_ours`)."""
        self.path = Path(path)
        self._lock = threading.RLock()
        creating = not self.path.exists()
        try:
            # mode=rw: an existing path is opened, never created in a race with its removal
            uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if creating else 'rw'}"
            self._db = sqlite3.connect(
                uri,
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                if not creating:
                    self._check_ours()
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self._db.close()
                raise
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: not a usable state database ({e})") from None

    def _check_ours(self) -> None:
        """Refuse, before any write, a file reconciler did not create: a re-sealed plan
        could name any file as its local store, and opening used to add reconciler's
        tables to whatever was there (an empty file, another application's database).
        Ours carry APPLICATION_ID; a store made before the mark existed is recognised by
        holding exactly reconciler's tables and columns, and is marked on this open."""
        app = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if app not in (0, APPLICATION_ID):
            raise StoreError(
                f"{self.path}: not a reconciler state store (another application's SQLite "
                f"database, application_id {app:#x}); refusing to write to it"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: state database schema {version} is newer than this "
                f"reconciler supports ({SCHEMA_VERSION})"
            )
        tables = {
            name: [column[1] for column in self._db.execute(f"PRAGMA table_info({name})")]
            for (name,) in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if tables != _TABLES or (app == 0 and version != SCHEMA_VERSION):
            found = (
                f"tables {', '.join(sorted(tables))}"
                if tables
                else "an empty file"
                if self.path.stat().st_size == 0
                else "no tables"
            )
            raise StoreError(
                f"{self.path}: not a reconciler state store ({found}); reconciler writes "
                "only to a store it created (delete the file, or name another path)"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ queues
    def create_queue(self, queue: str) -> None:
        """Idempotent, so a seed may name a queue that synthetic data also fills."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO queues (id, token) VALUES (?, ?)", (queue, _new_etag()))

    def has_queue(self, queue: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM queues WHERE id = ?", (queue,)).fetchone()
        return row is not None

    # ------------------------------------------------------------------- reads
    def page(self, queue: str, offset: int = 0, limit: int | None = None, status: str | None = None) -> list[Record]:
        """Items of a queue in id order; limit None reads the rest in one snapshot."""
        # The offset is skipped inside the covering index; only the page's rows are read.
        inner = "SELECT rowid FROM items WHERE queue = ?"
        args: list[Any] = [queue]
        if status is not None:
            inner += " AND status = ?"
            args.append(status)
        inner += f" {_ORDER} LIMIT ? OFFSET ?"
        args += [-1 if limit is None else limit, offset]
        sql = f"SELECT {_COLUMNS} FROM items WHERE rowid IN ({inner}) {_ORDER}"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_record(r) for r in rows]

    def count(self, queue: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM items WHERE queue = ?", (queue,)).fetchone()[0]

    def get(self, item_id: str) -> Record | None:
        return self.get_many([item_id]).get(item_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, Record]:
        """Records by id, whatever their queue; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        with self._lock:
            return self._fetch(wanted)

    def _fetch(self, ids: Sequence[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for i in range(0, len(ids), _SQL_VARS):
            part = ids[i : i + _SQL_VARS]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(f"SELECT {_COLUMNS} FROM items WHERE id IN ({marks})", part):
                out[row[0]] = _record(row)
        return out

    # ------------------------------------------------------------------ writes
    def insert(self, queue: str, items: Iterable[NewItem]) -> int:
        """Add new items (version 1) in one transaction; an existing id is an error."""
        now = now_iso()
        rows = [
            (
                item.id,
                queue,
                _new_etag(),
                now,
                now,
                item.status,
                json.dumps(encode_tags(item.tags)) if item.tags else _EMPTY,
                int(item.locked),
                json.dumps(dict(item.extra)) if item.extra else _EMPTY,
            )
            for item in items
        ]
        with self._lock, self._transaction():
            self._require_queue(queue)
            try:
                self._db.executemany(
                    "INSERT INTO items (id, queue, etag, version, created_on, modified_on,"
                    " status, tags, locked, extra) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except sqlite3.IntegrityError:
                taken = self._fetch([r[0] for r in rows])
                raise ValueError(f"item ids already stored: {', '.join(sorted(taken))}") from None
            self._rotate(queue)
        return len(rows)

    def write(
        self,
        queue: str,
        updates: Sequence[Update],
        check: Check | None = None,
        token: str | None = None,
    ) -> Written:
        """Write a batch in ONE transaction, or nothing.

        Order of refusals: unknown queue, unknown ids, stale queue token (when `token`
        is given), then every etag in request order (the first stale one is raised),
        then `check(stored, new)` for each item. Every written item gets a new etag,
        version + 1 and modified_on = now, even when nothing else changed, and the
        queue token rotates.
        """
        ids = [u.id for u in updates]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate item ids in one write")
        with self._lock, self._transaction():
            self._require_queue(queue)
            stored = {i: r for i, r in self._fetch(ids).items() if r.queue == queue}
            missing = [i for i in ids if i not in stored]
            if missing:
                raise UnknownItems(queue, missing)
            if token is not None and token != self._token(queue):
                raise StaleToken(f"queue {queue} was written since the batch token was issued")
            for u in updates:
                if stored[u.id].etag != u.etag:
                    raise StaleRecord(u.id)
            now = now_iso()
            written = []
            for u in updates:
                old = stored[u.id]
                new = u.applied_to(old)
                if check is not None:
                    check(old, new)
                written.append(replace(new, etag=_new_etag(), version=old.version + 1, modified_on=now))
            self._db.executemany(
                "UPDATE items SET etag = ?, version = ?, modified_on = ?, status = ?, tags = ?,"
                " locked = ?, extra = ? WHERE id = ?",
                [
                    (
                        r.etag,
                        r.version,
                        r.modified_on,
                        r.status,
                        json.dumps(encode_tags(r.tags)),
                        int(r.locked),
                        json.dumps(dict(r.extra)),
                        r.id,
                    )
                    for r in written
                ],
            )
            new_token = self._rotate(queue)
        return Written(written, new_token)

    # ---------------------------------------------------------------- helpers
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _require_queue(self, queue: str) -> None:
        if self._db.execute("SELECT 1 FROM queues WHERE id = ?", (queue,)).fetchone() is None:
            raise UnknownQueue(queue)

    def _token(self, queue: str) -> str:
        return self._db.execute("SELECT token FROM queues WHERE id = ?", (queue,)).fetchone()[0]

    def _rotate(self, queue: str) -> str:
        token = _new_etag()
        self._db.execute("UPDATE queues SET token = ? WHERE id = ?", (token, queue))
        return token


class _Transaction:
    """BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
    upgrading a read lock; any exception rolls everything back."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


_EMPTY = "{}"


def _decode_tags(text: str) -> dict[str, TagValue]:
    if text == _EMPTY:
        return {}
    return decode_stored_tags(json.loads(text))


def _record(row: tuple) -> Record:
    item_id, queue, etag, version, created_on, modified_on, status, tags, locked, extra = row
    return Record(
        queue=queue,
        id=item_id,
        etag=etag,
        version=version,
        created_on=created_on,
        modified_on=modified_on,
        status=status,
        tags=_decode_tags(tags),
        locked=bool(locked),
        extra={} if extra == _EMPTY else json.loads(extra),
    )


def create_new(path: str | Path, fill: Callable[[Store], None]) -> bool:
    """Create and fill a database at `path` unless it exists; True if this call made it.

    The file is filled under a temporary name and hard-linked into place, so a reader
    never sees a half-seeded database and a concurrent creator simply loses the race.
    """
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with Store(tmp) as store:
            fill(store)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
