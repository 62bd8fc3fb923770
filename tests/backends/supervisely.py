"""Supervisely through its sandbox in its least convenient documented mode: list rows
without workspaceId and a deep-merging tasks.meta.update (the fake's defaults, named
here so the suite keeps them); the compare guard, up to two calls per change read back,
string tags in the task meta, batches of 50."""
from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.supervisely import BATCH_LIMIT, SuperviselyProvider

from .base import Backend as Base


class Backend(Base):
    name = "supervisely"
    tag_value = ("yes",)
    batch_limit = BATCH_LIMIT
    reads_back = True
    write_path = ".update"  # tasks.status.update, tasks.meta.update
    extra_call_status = "stopped"

    def make(self, n: int) -> tuple[SuperviselyProvider, QueueSpec]:
        self.fake = self.make_sandbox(service="supervisely", synthetic=[("7", n)],
                                      quirks={"list-rows": "short", "meta-update": "deep-merge"})
        provider = SuperviselyProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue("7")

    def erase(self, item_id: str) -> None:
        task = self.fake.service.store.get("tasks:7", item_id)
        meta = {**(task.get("meta") or {}), "reconciler_tags": {"other": "yes"}}
        self.fake.service.store.put("tasks:7", item_id, {**task, "meta": meta})
