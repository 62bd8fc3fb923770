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
    # Compare-guard services (the guarded-write events of the contract suite):
    # a part of the path of every write request, and nothing else's
    write_path: str | None = None
    # a status that makes a tag change one more call (None: tags and status are one call)
    extra_call_status: str | None = None
    # whether a change can land in part (False: every change is one call)
    lands_in_part: bool = True
    # whether every write is read back (answers that say nothing, whole-document writes)
    reads_back: bool = False

    def __init__(self, make_sandbox: Callable[..., RunningSandbox], tmp_path: Path, monkeypatch: Any) -> None:
        self.make_sandbox, self.tmp_path, self.monkeypatch = make_sandbox, tmp_path, monkeypatch
        self.fake: RunningSandbox | None = None  # set by make() where the service is an HTTP fake

    @abstractmethod
    def make(self, n: int) -> tuple[Provider, QueueSpec]:
        """A provider open on a queue of `n` fresh items (no tags, unlocked)."""

    def erase(self, item_id: str) -> None:
        """Another writer replaces the item's tags with {other} behind the provider's
        back, straight in the fake's store (services whose writes are read back)."""
        raise NotImplementedError(f"{self.name}: no erase")

    def queue(self, queue_id: str, **settings: Any) -> QueueSpec:
        return queue(id=queue_id, **settings)
