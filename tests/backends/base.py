"""What the contract suite needs of a provider's backend."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

from builders import queue

from reconciler.model import QueueSpec, TagValue
from reconciler.providers.base import Provider
from reconciler.sandbox import RunningSandbox


class Backend(ABC):
    name: str
    # A value of a tag this service can store: labels hold true, AWS tags strings.
    tag_value: TagValue = (True,)
    # How many items a backend may be asked for at most in one queue (fakes are fast).
    max_items: int = 1100
    # Changes one write call carries (the provider's Capabilities.batch_limit): the
    # part-way failure test makes enough items for three calls.
    batch_limit: int = 100

    def __init__(self, make_sandbox: Callable[..., RunningSandbox], tmp_path: Path, monkeypatch: Any) -> None:
        self.make_sandbox, self.tmp_path, self.monkeypatch = make_sandbox, tmp_path, monkeypatch
        self.fake: RunningSandbox | None = None  # set by make() where the service is an HTTP fake

    @abstractmethod
    def make(self, n: int) -> tuple[Provider, QueueSpec]:
        """A provider open on a queue of `n` fresh items (no tags, unlocked)."""

    def queue(self, queue_id: str, **settings: Any) -> QueueSpec:
        return queue(id=queue_id, **settings)
