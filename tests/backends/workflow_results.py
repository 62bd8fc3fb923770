"""workflow Results through its fake in its default (realistic) mode: a token required,
locked works refusing updates; labels, native results.locked, compare guard, writes of
100 works (one re-read, one PUT, one read-back)."""
from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.workflow_results import WorkflowResultsProvider

from .base import Backend as Base


class Backend(Base):
    name = "workflow-results"
    batch_limit = 100
    reads_back = True
    write_path = "/results"
    lands_in_part = False  # one PUT per change

    def make(self, n: int) -> tuple[WorkflowResultsProvider, QueueSpec]:
        self.fake = self.make_sandbox(service="workflow-results", synthetic=[("frb-search", n)])
        provider = WorkflowResultsProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue("frb-search")

    def erase(self, item_id: str) -> None:
        doc = self.fake.service.store.get("frb-search", item_id)
        self.fake.service.store.put("frb-search", item_id, {**doc, "tags": ["other"]})
