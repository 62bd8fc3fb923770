"""datamaker through its sandbox in its realistic mode: tags are labels that must exist
in the project, no etag (compare guard), writes are several set_tags calls that may land
in part, deep offset pages fail and reads meet Cloudflare's 520s."""

from __future__ import annotations

from datamaker_helpers import set_tags_calls
from end_to_end.test_datamaker import SCORE_ALL, write_spec

from reconciler.model import QueueSpec
from reconciler.providers.datamaker import DatamakerProvider

from .base import Backend as Base
from .base import Kill9

PROJECT = "7"


class Backend(Base):
    name = "datamaker"
    batch_limit = 1000
    write_path = "set_tags"

    def make(self, n: int) -> tuple[DatamakerProvider, QueueSpec]:
        # the realistic mode: offset pages past page 2 die with Cloudflare's 524 (the
        # listings must use cursor pages) and one GET in 20 meets a 520 (retried)
        self.fake = self.make_sandbox(
            service="datamaker",
            synthetic=[(PROJECT, n)],
            random_seed=7,
            quirks={"deep-page-524": "2", "glitch-520": "0.05"},
        )
        # the suite's tags: datamaker only adds and removes tags the project already has
        # (`other` and `owner`: the keys other writers add, which the spec does not manage)
        self.fake.service.add_tags(int(PROJECT), ["reviewed", "held", "other", "owner"])
        provider = DatamakerProvider(self.fake.url, self.fake.token, retries=3, backoff=0.0)
        return provider, self.queue(PROJECT)

    def kill_9(self) -> Kill9:
        """450 tasks at 200 ids a set_tags call: the first call is served, every later
        request is held until the client is dead."""
        self.fake = fake = self.make_sandbox(service="datamaker", synthetic=[(PROJECT, 450)])
        self.monkeypatch.setenv("HOME", str(self.tmp_path))  # no ~/.synapse/config.json of the machine
        for name in ("SYNAPSE_HOST", "SYNAPSE_PLUGIN_RUN_TENANT"):
            self.monkeypatch.delenv(name, raising=False)
        self.monkeypatch.setenv("SYNAPSE_ACCESS_TOKEN", fake.token)

        def converged(out: str) -> None:
            assert "250 applied" in out or "50 applied" in out, out  # the held call may land
            # three successful calls in all, whichever run made them: no task tagged twice
            assert [c["status"] for c in set_tags_calls(fake)].count(200) == 3

        return Kill9(
            write_spec(self.tmp_path, fake.url, SCORE_ALL),
            1,
            "set_tags",
            lambda log: bool(set_tags_calls(fake)),
            lambda served: None,
            converged,
        )
