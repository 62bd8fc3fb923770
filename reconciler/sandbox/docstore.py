"""The state of the fakes for services without etags: JSON documents in SQLite.

The Synapse fake needs the embedded store's etags and batch tokens; the other fakes only
keep each service's own documents (a Results work, a task, a run batch) as the service
returns them. One small store serves them all, so `--db` persists any fake's state the
same way, documents come back in a stable insertion order (as MongoDB's natural order
and DRF's default ordering do), and a test can inspect or change the state behind the
fake's back (the "someone else" of a concurrency test).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (collection, id)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class DocStore:
    """Documents by (collection, id), in insertion order; every method is atomic."""

    def __init__(self, path: str | Path | None, fill: Callable[[DocStore], None] | None = None) -> None:
        """Open `path` (None: a temporary file, deleted by `close`); `fill` runs once,
        when the store is new (seed and synthetic documents)."""
        self._temporary = path is None
        self.path = Path(tempfile.mkdtemp(prefix="reconciler-sandbox-")) / "sandbox.db" if path is None else Path(path)
        new = not self.path.exists()
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        if new and fill is not None:
            with self.transaction():
                fill(self)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._temporary:
            shutil.rmtree(self.path.parent, ignore_errors=True)

    def transaction(self) -> _Transaction:
        """`with store.transaction():` makes several calls one atomic change."""
        return _Transaction(self)

    # ------------------------------------------------------------------ reading
    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM docs WHERE collection = ? AND id = ?", (collection, doc_id)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def all(self, collection: str) -> list[dict[str, Any]]:
        """Every document of the collection, oldest first."""
        return list(self.iterate(collection))

    def iterate(self, collection: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT body FROM docs WHERE collection = ? ORDER BY seq", (collection,)).fetchall()
        for (body,) in rows:
            yield json.loads(body)

    def page(self, collection: str, offset: int, limit: int | None) -> list[dict[str, Any]]:
        """Documents `offset`.. of the collection in insertion order (None: to the end),
        without decoding the ones skipped (a deep page of a large collection)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM docs WHERE collection = ? ORDER BY seq LIMIT ? OFFSET ?",
                (collection, -1 if limit is None else limit, offset),
            ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def ids(self, collection: str) -> list[str]:
        """The ids of the collection, oldest first, without decoding any document (a
        fake that orders or pages a large collection by id looks up only the page)."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM docs WHERE collection = ? ORDER BY seq", (collection,)).fetchall()
        return [doc_id for (doc_id,) in rows]

    def collections(self) -> dict[str, int]:
        """Each non-empty collection with its document count, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT collection, COUNT(*) FROM docs GROUP BY collection ORDER BY collection"
            ).fetchall()
        return dict(rows)

    def iterate_after(self, collection: str, after: str | None = None, chunk: int = 200) -> Iterator[dict[str, Any]]:
        """The documents after document `after` (all when None), oldest first, read `chunk`
        rows at a time: a caller that stops early (one page of a listing) reads and
        decodes only what it took, not the whole collection. Raises KeyError at once if
        `after` is not in the collection. Call inside `transaction()` for a consistent view."""
        with self._lock:
            start = 0
            if after is not None:
                row = self._db.execute(
                    "SELECT seq FROM docs WHERE collection = ? AND id = ?", (collection, after)
                ).fetchone()
                if row is None:
                    raise KeyError(after)
                start = row[0]

        def chunks(seq: int) -> Iterator[dict[str, Any]]:
            while True:
                with self._lock:
                    rows = self._db.execute(
                        "SELECT seq, body FROM docs WHERE collection = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (collection, seq, chunk),
                    ).fetchall()
                for _seq, body in rows:
                    yield json.loads(body)
                if len(rows) < chunk:
                    return
                seq = rows[-1][0]  # the next chunk starts after the last row read

        return chunks(start)

    def count(self, collection: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM docs WHERE collection = ?", (collection,)).fetchone()[0]

    # ------------------------------------------------------------------ writing
    def put(self, collection: str, doc_id: str, doc: Any) -> None:
        """Insert, or replace in place (an update keeps the document's position)."""
        body = json.dumps(doc, ensure_ascii=False, sort_keys=True)
        with self._lock:
            updated = self._db.execute(
                "UPDATE docs SET body = ? WHERE collection = ? AND id = ?", (body, collection, doc_id)
            ).rowcount
            if not updated:
                self._db.execute("INSERT INTO docs (collection, id, body) VALUES (?, ?, ?)", (collection, doc_id, body))

    def put_many(self, collection: str, docs: Iterator[tuple[str, Any]] | list[tuple[str, Any]]) -> None:
        """Insert many new documents fast (synthetic data of 100,000 items)."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO docs (collection, id, body) VALUES (?, ?, ?)",
                ((collection, i, json.dumps(d, ensure_ascii=False, sort_keys=True)) for i, d in docs),
            )

    def delete(self, collection: str, doc_id: str) -> bool:
        with self._lock:
            return bool(
                self._db.execute("DELETE FROM docs WHERE collection = ? AND id = ?", (collection, doc_id)).rowcount
            )

    def next_value(self, name: str, start: int = 1) -> int:
        """A persistent counter (ids the fake hands out): start, start+1, ..."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            value = start if row is None else row[0] + 1
            self._db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, value))
            return value


class _Transaction:
    def __init__(self, store: DocStore) -> None:
        self._store = store

    def __enter__(self) -> DocStore:
        self._store._lock.acquire()
        self._store._db.execute("BEGIN IMMEDIATE")
        return self._store

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._store._lock.release()
