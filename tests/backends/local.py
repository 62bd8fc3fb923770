"""The embedded store: no HTTP, so the suite's fault tests skip it."""

from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.local import LocalProvider
from reconciler.store import NewItem, Store, create_new

from .base import Backend as Base


class Backend(Base):
    name = "local"
    batch_limit = 500

    def make(self, n: int) -> tuple[LocalProvider, QueueSpec]:
        path = self.tmp_path / "local.db"

        def fill(store: Store) -> None:
            store.create_queue("q")
            store.insert("q", [NewItem(id=f"item-{i:05d}", status="RECEIVED") for i in range(n)])

        create_new(path, fill)
        return LocalProvider(Store(path)), self.queue("q")
