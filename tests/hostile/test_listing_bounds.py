"""Every listing ends (issue 29 item 5): at most MAX_PAGES pages per queue, and a page
holding only items already listed (the same page again under a new link or offset) is
refused, in one line, wherever pages are gathered (`Provider.list_items`) or planned."""

from __future__ import annotations

import itertools

import pytest

import reconciler.providers.base as base
from builders import item, queue
from cli_helpers import run_cli
from reconciler.errors import ProviderError
from reconciler.planner import build_plan
from reconciler.providers.base import RELISTED, gather
from service_cli import SERVICES, datamaker_pages, write_spec
from test_planner import ACCEPT, Paged, spec_of


def endless():
    for n in itertools.count():
        yield [item(str(2 * n)), item(str(2 * n + 1))]


@pytest.fixture
def few_pages(monkeypatch):
    monkeypatch.setattr(base, "MAX_PAGES", 30)


def test_a_listing_past_the_page_ceiling_is_refused(few_pages):
    pages = endless()
    with pytest.raises(ProviderError, match="did not end within 30 pages"):
        gather(pages, "q1")
    assert pages.gi_frame is None  # closed


def test_the_same_page_again_is_refused_at_once():
    page = [item("1"), item("2")]
    with pytest.raises(ProviderError, match=r"^queue q1: page 2 of the listing holds only items it had already listed"):
        gather(iter([page, [item("2"), item("1")]]), "q1")


def test_a_relisting_starts_the_count_and_the_ids_over(few_pages):
    pages = [[item("1")]] * 1 + [RELISTED] + [[item(str(n))] for n in range(30)]
    assert len(gather(pages)) == 30


def test_plan_refuses_an_endless_listing(few_pages):
    provider = Paged([[item(str(n))] for n in range(100)])
    with pytest.raises(ProviderError, match="did not end within 30 pages"):
        build_plan(spec_of(queue(ACCEPT)), provider)
    assert provider.closed


def test_an_endless_datamaker_listing_ends_in_one_line(hostile, tmp_path, few_pages):
    """New ids on every page under a `count` that never moves and a `next` link that
    is always new: the provider's own checks all pass, the ceiling ends it."""
    hostile.route("/", datamaker_pages(hostile, endless=True))
    service = SERVICES["datamaker"]
    result = run_cli(
        "plan", write_spec(service, hostile.url, tmp_path), env=service.env(hostile.url, "token-1234567890", tmp_path)
    )
    assert result.code == 1
    assert (
        result.err
        == "error: queue 7: the listing did not end within 30 pages (reconciler's ceiling per queue); refused as endless\n"
    )
    assert len(hostile.seen) < 40
