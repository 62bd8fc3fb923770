"""build_plan reads page by page: each page is diffed as it arrives, a RELISTED signal
starts the diff over, and the cycle collector is paused for the whole reading."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence

import pytest

from builders import item, queue, rule
from reconciler.diff import plan_queue
from reconciler.errors import UserError
from reconciler.model import Change, Item, ProviderConfig, QueueSpec, Spec
from reconciler.planner import build_plan
from reconciler.providers.base import RELISTED, Capabilities, Provider, Relisted, gather

ACCEPT = rule("accept", {"status": "VALIDATED"}, {"status": "ACCEPTED"})


class Paged(Provider):
    """A service that hands out scripted pages and records what it saw while doing so."""

    type = "paged"
    capabilities = Capabilities(batch_limit=100)

    def __init__(self, pages: Sequence[Sequence[Item] | Relisted]) -> None:
        self._pages = pages
        self.collector_enabled: list[bool] = []
        self.closed = False

    @property
    def endpoint(self) -> str:
        return "paged://test"

    def list_items(self, queue: QueueSpec, progress=None) -> list[Item]:
        return gather(self.pages(queue, progress))

    def pages(self, queue: QueueSpec, progress=None) -> Iterator[Sequence[Item] | Relisted]:
        try:
            for page in self._pages:
                self.collector_enabled.append(gc.isenabled())
                yield page
        finally:
            self.closed = True

    def get(self, queue: QueueSpec, ids: Sequence[str]) -> list[Item]:
        raise AssertionError("planning never reads single items")

    def write(self, queue: QueueSpec, changes: Sequence[Change]) -> None:
        raise AssertionError("planning never writes")


def spec_of(q: QueueSpec) -> Spec:
    return Spec(ProviderConfig("paged", {}, "."), (q,), ("spec.yaml",), "sha256:0")


def test_pages_are_planned_as_one_listing():
    q = queue(ACCEPT, submissions={"404": {"status": "ACCEPTED"}})
    pages = [[item("1", "VALIDATED"), item("2")], [item("3", "VALIDATED")], []]
    result = build_plan(spec_of(q), Paged(pages))
    (planned,) = result.plan.queues
    assert planned == plan_queue(q, [i for page in pages for i in page])
    assert [c.item_id for c in planned.changes] == ["1", "3"] and planned.items_seen == 3
    assert result.warnings == (
        "queue 9615000: 1 submission(s) in the spec do not exist in the queue and are ignored: 404",
    )


def test_a_relisted_queue_is_planned_from_the_second_listing_only():
    q = queue(ACCEPT, submissions={"9": {"status": "ACCEPTED"}})
    first = [[item("1", "VALIDATED"), item("2", "VALIDATED")], [item("9")]]
    second = [[item("1"), item("2", "VALIDATED")], [item("3", "VALIDATED")]]
    result = build_plan(spec_of(q), Paged([*first, RELISTED, *second]))
    (planned,) = result.plan.queues
    # Item 1 no longer needs a change, 9 is gone, and 2 (listed in both) is not a duplicate.
    assert [c.item_id for c in planned.changes] == ["2", "3"] and planned.items_seen == 3
    assert "ignored: 9" in result.warnings[0]


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_reading_and_restored_after(enabled):
    provider = Paged([[item("1")], [item("2")], [item("3")]])
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        build_plan(spec_of(queue(ACCEPT)), provider)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert provider.collector_enabled == [False, False, False]


def test_a_failing_diff_closes_the_listing_and_restores_the_collector():
    # item 1 again on a page that is not wholly a repeat (that is refused before the diff)
    provider = Paged([[item("1")], [item("2"), item("1")], [item("3")]])
    with pytest.raises(UserError, match="listed item 1 twice"):
        build_plan(spec_of(queue(ACCEPT)), provider)
    assert provider.closed and provider.collector_enabled == [False, False]
    assert gc.isenabled()


def test_gather_keeps_what_follows_the_last_relisted():
    assert gather([[item("1")], RELISTED, [item("2")], [item("3")]]) == [item("2"), item("3")]
    assert gather([]) == [] and repr(RELISTED) == "RELISTED"


def test_a_provider_without_pages_is_read_as_one_page():
    class OnePage(Paged):
        pages = Provider.pages

        def list_items(self, queue: QueueSpec, progress=None) -> list[Item]:
            return [item("1", "VALIDATED"), item("2")]

    (planned,) = build_plan(spec_of(queue(ACCEPT)), OnePage([])).plan.queues
    assert [c.item_id for c in planned.changes] == ["1"] and planned.items_seen == 2
