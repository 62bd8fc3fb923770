"""A store's queue table read directly, for tests of what the store keeps there: no
code of reconciler's needs these reads (a write returns the token it leaves)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def queue_token(path: str | Path, queue: str) -> str:
    with closing(sqlite3.connect(str(path))) as db:
        (token,) = db.execute("SELECT token FROM queues WHERE id = ?", (queue,)).fetchone()
    return token


def queue_ids(path: str | Path) -> list[str]:
    with closing(sqlite3.connect(str(path))) as db:
        return [row[0] for row in db.execute("SELECT id FROM queues ORDER BY length(id), id")]
