"""HealthOmics run batches through botocore against the omics fake: AWS tags (strings)."""

from __future__ import annotations

from aws_env import isolate_aws
from reconciler.model import ProviderConfig, QueueSpec
from reconciler.providers.omics import OmicsProvider

from .base import Backend as Base
from .base import Kill9

KEY = "AKIDCONTRACTSUITE"


class Backend(Base):
    name = "omics"
    tag_value = ("yes",)  # AWS tag values are strings
    batch_limit = OmicsProvider.capabilities.batch_limit
    max_items = 300  # one GetBatch per batch when planning
    write_path = "/tags/"  # TagResource, UntagResource (the cancel is not asked for here)

    def aws_env(self) -> None:
        """Credentials for the fake and nothing from this machine's AWS setup."""
        isolate_aws(self.monkeypatch, self.tmp_path, KEY, "secret")

    def make(self, n: int) -> tuple[OmicsProvider, QueueSpec]:
        self.aws_env()
        self.fake = self.make_sandbox(service="omics", token=KEY, synthetic=[("4242", n)])
        # the fake as AWS serves it: batch and tag operations on two hosts (ports)
        options = {"endpoint": self.fake.roots["workflows"], "tags_endpoint": self.fake.roots["tags"]}
        provider = OmicsProvider.from_config(ProviderConfig("omics", options, "/"))
        return provider, self.queue("4242")

    def kill_9(self) -> Kill9:
        """60 batches to tag, one TagResource each: the first is served, every later
        request is held until the client is dead."""
        # here, not at the top: that module skips itself without botocore (the omics extra),
        # and importing it would skip the whole contract suite with it
        from providers.test_omics import write_spec

        self.aws_env()
        self.fake = fake = self.make_sandbox(service="omics", token=KEY, synthetic=[("4242", 60)])
        spec = write_spec(
            self.tmp_path, fake, "    rules:\n      - name: own\n        where: {}\n        set: {tags: {owner: lab}}\n"
        )

        def tagged() -> list[int]:
            return [r["status"] for r in fake.request_log() if r["method"] == "POST" and "/tags/" in r["path"]]

        def interrupted(served: list[dict]) -> None:
            assert 1 <= tagged().count(204) < 60  # really interrupted

        def converged(out: str) -> None:
            assert tagged().count(204) == 60  # one TagResource per batch in all: none written twice

        return Kill9(spec, 1, "/tags/", lambda log: bool(tagged()), interrupted, converged)
