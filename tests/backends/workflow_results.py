"""workflow Results through its fake in its default (realistic) mode: a token required,
locked works refusing updates; labels, native results.locked, compare guard, writes of
100 works (one re-read, one PUT, one read-back)."""

from __future__ import annotations

import math

from conftest import SANDBOX_TOKEN
from end_to_end.test_workflow_results import PIPELINE, count_writes, write_spec

import reconciler.providers.workflow_results as wr
from reconciler.model import QueueSpec
from reconciler.providers.workflow_results import WorkflowResultsProvider

from .base import Backend as Base
from .base import Kill9


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

    def kill_9(self) -> Kill9:
        """250 works: the plan's reads, the first re-read and the first PUT of 100 are
        served, then the next request is held until the client is dead."""
        self.monkeypatch.setattr(wr, "BACKOFF", 0.01)
        for name in wr.TOKEN_ENVS:
            self.monkeypatch.delenv(name, raising=False)
        self.fake = fake = self.make_sandbox(service="workflow-results", synthetic=[(PIPELINE, 250)])
        self.monkeypatch.setenv("WORKFLOW_HTTP_BASEURL", fake.url)
        self.monkeypatch.setenv("WORKFLOW_HTTP_TOKEN", SANDBOX_TOKEN)
        written = count_writes(fake)
        reads = math.ceil(250 / 100) + 2  # count, pages, the listing's closing id read

        def interrupted(served: list[dict]) -> None:
            assert written.total() == 100  # exactly the first PUT landed

        def converged(out: str) -> None:
            assert "150 applied" in out
            assert set(written) == {d["id"] for d in fake.store.all(PIPELINE)} and max(written.values()) == 1

        return Kill9(
            write_spec(self.tmp_path), reads + 2, None, lambda log: len(log) >= reads + 2, interrupted, converged
        )
