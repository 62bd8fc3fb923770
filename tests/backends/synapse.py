"""Synapse through its sandbox: etags, all-or-nothing batches of 500."""

from __future__ import annotations

from end_to_end.test_synapse import QUEUE, write_spec

from reconciler.model import QueueSpec
from reconciler.providers.synapse import SynapseProvider

from .base import Backend as Base
from .base import Kill9

KILL_ITEMS = 2500


class Backend(Base):
    name = "synapse"
    batch_limit = 500

    def make(self, n: int) -> tuple[SynapseProvider, QueueSpec]:
        self.fake = self.make_sandbox(synthetic=[("9615000", n)])
        provider = SynapseProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue("9615000")

    def kill_9(self) -> Kill9:
        """2500 items: the pages (26, and at most two past the end) and the first
        statusBatch are served; the second batch is held until the client is dead, so
        exactly one batch of 500 has landed whatever the timing."""
        self.fake = fake = self.make_sandbox(synthetic=[(QUEUE, KILL_ITEMS)])
        self.monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", fake.token)
        written: list[int] = []

        def versions() -> list[int]:
            return [fake.store.get(str(9700001 + i)).version for i in range(KILL_ITEMS)]

        def interrupted(served: list[dict]) -> None:
            written.append(versions().count(2))
            batches = [r["path"].endswith("/statusBatch") for r in served]
            assert batches.count(True) == 1 and batches[-1] is True  # one batch, after every page
            offsets = sorted(int(r["query"].rsplit("offset=", 1)[1]) for r in served[:-1])
            assert offsets[:26] == [100 * n for n in range(26)] and len(offsets) <= 26 + 2
            assert written[0] in (500, 1000)  # the first batch; the held one may land after the kill
            # nothing half-written: every item is either untouched or fully changed
            for i in range(KILL_ITEMS):
                record = fake.store.get(str(9700001 + i))
                assert (record.version, record.status, dict(record.tags)) in (
                    (1, "RECEIVED", {}),
                    (2, "VALIDATED", {"phase": (1,)}),
                )

        def converged(out: str) -> None:
            assert f"{KILL_ITEMS - written[0]} applied" in out
            assert set(versions()) == {2}

        return Kill9(
            write_spec(self.tmp_path, fake.url),
            1,
            "/statusBatch",
            lambda log: any(r["path"].endswith("/statusBatch") for r in log),
            interrupted,
            converged,
        )
