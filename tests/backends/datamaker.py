"""datamaker through its sandbox in its realistic mode: tags are labels that must exist
in the project, no etag (compare guard), writes are several set_tags calls that may land
in part, deep offset pages fail and reads meet Cloudflare's 520s."""
from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.datamaker import DatamakerProvider

from .base import Backend as Base

PROJECT = "7"


class Backend(Base):
    name = "datamaker"
    batch_limit = 1000
    write_path = "set_tags"

    def make(self, n: int) -> tuple[DatamakerProvider, QueueSpec]:
        # the realistic mode: offset pages past page 2 die with Cloudflare's 524 (the
        # listings must use cursor pages) and one GET in 20 meets a 520 (retried)
        self.fake = self.make_sandbox(service="datamaker", synthetic=[(PROJECT, n)], random_seed=7,
                                      quirks={"deep-page-524": "2", "glitch-520": "0.05"})
        # the suite's tags: datamaker only adds and removes tags the project already has
        # (`other` and `owner`: the keys other writers add, which the spec does not manage)
        self.fake.service.add_tags(int(PROJECT), ["reviewed", "held", "other", "owner"])
        provider = DatamakerProvider(self.fake.url, self.fake.token, retries=3, backoff=0.0)
        return provider, self.queue(PROJECT)
