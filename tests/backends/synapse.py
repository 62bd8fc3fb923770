"""Synapse through its sandbox: etags, all-or-nothing batches of 500."""
from __future__ import annotations

from reconciler.model import QueueSpec
from reconciler.providers.synapse import SynapseProvider

from .base import Backend as Base


class Backend(Base):
    name = "synapse"
    batch_limit = 500

    def make(self, n: int) -> tuple[SynapseProvider, QueueSpec]:
        self.fake = self.make_sandbox(synthetic=[("9615000", n)])
        provider = SynapseProvider(self.fake.url, self.fake.token, retries=1, backoff=0.0)
        return provider, self.queue("9615000")
