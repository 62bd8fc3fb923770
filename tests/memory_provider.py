"""A small in-memory service and its provider, for engine tests (apply, planner).

It behaves like the services without etags (docs/semantics.md): digest etags, a compare guard
before every write, one call per changed item (so a write can land in part), a status
machine with refusals and a settling state, and a client that hands back datetimes in
its objects (as botocore does). Tests script it: `fail_at_call`, `before_write`.

    service = MemoryService({"q": [doc("1"), doc("2", status="RUNNING")]})
    provider = MemoryProvider(service)
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any
from collections.abc import Callable, Sequence

from reconciler.model import Change, Item, QueueSpec, StatusRules, apply_tag_changes
from reconciler.providers.base import (
    Capabilities,
    Provider,
    QueueNotFound,
    WriteResult,
    compare_guard,
    digest_etag,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def doc(item_id: str, status: str = "QUEUED", tags: dict | None = None, locked: bool = False, **extra: Any) -> dict:
    """One stored object: managed fields plus whatever else the service keeps."""
    return {"id": item_id, "status": status, "tags": dict(tags or {}), "locked": locked, "created": WHEN, **extra}


class MemoryService:
    def __init__(self, queues: dict[str, list[dict]]) -> None:
        self.queues = {q: {d["id"]: d for d in docs} for q, docs in queues.items()}
        self.calls = 0  # write calls served
        self.fail_at_call: int | None = None  # this call (1-based) and every later one fail
        self.before_write: Callable[[MemoryService], None] | None = None  # a concurrent writer

    def doc(self, queue: str, item_id: str) -> dict:
        return self.queues[queue][item_id]


class MemoryProvider(Provider):
    type = "memory"
    capabilities = Capabilities(
        batch_limit=3,
        lock_option="tag",
        guard="compare",
        atomic_batches=False,
        status=StatusRules(
            values=("QUEUED", "RUNNING", "DONE", "CANCELLED"),
            allowed_from={"CANCELLED": frozenset({"QUEUED", "RUNNING"})},
            settles={"CANCELLED": frozenset({"STOPPING"})},
        ),
    )

    def __init__(self, service: MemoryService) -> None:
        self.service = service

    @property
    def endpoint(self) -> str:
        return "memory://test"

    def list_items(self, queue: QueueSpec, progress=None) -> list[Item]:
        items = [self._item(d, queue) for d in self._queue(queue).values()]
        if progress:
            progress(len(items))
        return items

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        docs = self._queue(queue)
        return [self._item(docs[i], queue) for i in dict.fromkeys(ids) if i in docs]

    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> WriteResult:
        fresh = {item.id: item for item in self.get(queue, [c.item_id for c in changes])}
        to_write, result = compare_guard(changes, fresh)
        if self.service.before_write:
            self.service.before_write(self.service)
        for change, _item in to_write:
            self.service.calls += 1
            if self.service.fail_at_call is not None and self.service.calls >= self.service.fail_at_call:
                result.failed[change.item_id] = "refused (HTTP 503); it was not written"
                result.error = f"call {self.service.calls} refused (HTTP 503)"
                return result
            stored = self._queue(queue)[change.item_id]
            for f in change.fields:
                if f.field == "status":
                    stored["status"] = "STOPPING" if f.after == "CANCELLED" else f.after
                elif f.field == "locked":
                    stored["locked"] = f.after
            stored["tags"] = apply_tag_changes(stored["tags"], change.tag_changes)
            result.applied.append(change.item_id)
        return result

    def _queue(self, queue: QueueSpec) -> dict[str, dict]:
        try:
            return self.service.queues[queue.id]
        except KeyError:
            raise QueueNotFound(f"queue {queue.id} not found") from None

    @staticmethod
    def _item(stored: dict, queue: QueueSpec) -> Item:
        return Item(
            id=stored["id"],
            etag=digest_etag(stored["status"], stored["tags"], stored["locked"], queue.managed_tags),
            status=stored["status"],
            tags=dict(stored["tags"]),
            locked=stored["locked"],
            base=copy.deepcopy(stored),
        )


PROVIDER = MemoryProvider
