"""datamaker through its sandbox: tags are labels that must exist in the project, no
etag (compare guard), writes are several set_tags calls that may land in part."""
from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.datamaker import DatamakerProvider

from .base import Backend as Base

PROJECT = "7"


class Backend(Base):
    name = "datamaker"
    batch_limit = 1000

    def make(self, n: int) -> tuple[DatamakerProvider, QueueSpec]:
        self.fake = self.make_sandbox(service="datamaker", synthetic=[(PROJECT, n)])
        # the suite's tags: datamaker only adds and removes tags the project already has
        # (`other` and `owner`: the keys other writers add, which the spec does not manage)
        self.fake.service.add_tags(int(PROJECT), ["reviewed", "held", "other", "owner"])
        provider = DatamakerProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue(PROJECT)
