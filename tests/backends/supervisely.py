"""Supervisely through its sandbox in its least convenient documented mode: list rows
without workspaceId and a deep-merging tasks.meta.update (the fake's defaults, named
here so the suite keeps them); the compare guard, up to two calls per change read back,
string tags in the task meta, batches of 50."""

from __future__ import annotations

import collections

from end_to_end.test_supervisely import FIRST, WS, write_spec

from reconciler.model import QueueSpec
from reconciler.providers.supervisely import BATCH_LIMIT, SuperviselyProvider

from .base import Backend as Base
from .base import Kill9


class Backend(Base):
    name = "supervisely"
    tag_value = ("yes",)
    batch_limit = BATCH_LIMIT
    reads_back = True
    write_path = ".update"  # tasks.status.update, tasks.meta.update
    extra_call_status = "stopped"

    def make(self, n: int) -> tuple[SuperviselyProvider, QueueSpec]:
        self.fake = self.make_sandbox(
            service="supervisely", synthetic=[("7", n)], quirks={"list-rows": "short", "meta-update": "deep-merge"}
        )
        provider = SuperviselyProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue("7")

    def erase(self, item_id: str) -> None:
        task = self.fake.service.store.get("tasks:7", item_id)
        meta = {**(task.get("meta") or {}), "reconciler_tags": {"other": "yes"}}
        self.fake.service.store.put("tasks:7", item_id, {**task, "meta": meta})

    def kill_9(self) -> Kill9:
        """400 tasks, every one to stop and tag: the plan's listing, the guard's re-read
        and 80 write calls are served, then every later request is held until the client
        is dead."""
        self.fake = fake = self.make_sandbox(service="supervisely", synthetic=[(WS, 400)])
        spec = write_spec(self.tmp_path, fake.url)
        spec.write_text(spec.read_text().replace("where: {status: finished}", "where: {}"))
        self.monkeypatch.setenv("API_TOKEN", fake.token)
        self.monkeypatch.setenv("HOME", str(self.tmp_path))  # no ~/supervisely.env of the developer's

        def interrupted(served: list[dict]) -> None:
            written = sum(
                fake.service.store.get(f"tasks:{WS}", str(FIRST + n))["status"] == "stopped" for n in range(400)
            )
            assert 0 < written < 400  # really interrupted

        def converged(out: str) -> None:
            ok = collections.Counter(r["path"].rsplit("/", 1)[-1] for r in fake.request_log() if r["status"] == 200)
            assert ok["tasks.status.update"] == 400 and ok["tasks.meta.update"] == 400  # each call landed once

        return Kill9(spec, 82, None, lambda log: len(log) >= 82, interrupted, converged)
