"""What the contract suite needs of a provider's backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from builders import queue

from reconciler.model import QueueSpec, TagValue
from reconciler.providers.base import Provider
from reconciler.sandbox import RunningSandbox


@dataclass(frozen=True)
class Kill9:
    """A backend's part of the kill -9 contract test (tests/contract/test_kill_9.py): the
    fake serves `served` requests (with `path`: `served` whose path holds it, and every
    other one meanwhile) and then holds every later one, so the killed apply has had
    exactly those served whatever the timing. The test waits until `reached(log)`, kills,
    releases the fake, calls `interrupted(log served before the release)`, re-runs apply
    and calls `converged(its stdout)`; the callables assert what the service shows."""

    spec: Path
    served: int
    path: str | None
    reached: Callable[[list[dict]], bool]
    interrupted: Callable[[list[dict]], None]
    converged: Callable[[str], None]


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

    def kill_9(self) -> Kill9 | None:
        """The fake, spec and environment (monkeypatch) of an apply that is killed
        mid-run; None: the backend has no such scenario (tests/contract/test_kill_9.py)."""
        return None

    def queue(self, queue_id: str, **settings: Any) -> QueueSpec:
        return queue(id=queue_id, **settings)
