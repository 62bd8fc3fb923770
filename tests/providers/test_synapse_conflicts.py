"""Conflicts at bulk scale on Synapse (issue 21): a conflict costs one listing, not one
round trip per item, and the report counts every request sent. Request counts are read
from the sandbox's request log."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from cli_helpers import run_cli
from local_app import Scripted, json_response, serve
from reconciler.apply import apply_plan
from reconciler.model import QueueSpec, Source
from reconciler.planner import build_plan
from reconciler.providers.base import ProviderError
from reconciler.providers.synapse import SynapseProvider
from reconciler.spec import load_spec
from end_to_end.test_synapse import write_spec  # the same queue and rule (RECEIVED → VALIDATED)

QUEUE = "9615000"
FIRST = 9700001


def pages(n: int) -> int:
    """Requests one listing of n items needs: floor(n/100) + 1."""
    return n // 100 + 1


def tally(log: list[dict]) -> dict[str, int]:
    """The requests of a log slice by kind."""
    out = {"listing": 0, "single GET": 0, "batch 200": 0, "batch 412": 0, "other": 0}
    for r in log:
        if r["method"] == "GET" and r["path"].endswith("/submission/status/all"):
            out["listing"] += 1
        elif r["method"] == "GET" and r["path"].endswith("/status"):
            out["single GET"] += 1
        elif r["method"] == "PUT" and r["path"].endswith("/statusBatch"):
            out["batch 412" if r["status"] == 412 else "batch 200"] += 1
        else:
            out["other"] += 1
    return out


def reapply_plan_file(make_sandbox, tmp_path: Path, n: int) -> None:
    sandbox = make_sandbox(synthetic=[(QUEUE, n)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", write_spec(tmp_path, sandbox.url), "-o", plan_file, env=env).code == 0
    first = run_cli("apply", plan_file, "--auto-approve", env=env)
    assert first.code == 0 and f"{n} applied" in first.out, first.out + first.err
    before = len(sandbox.request_log())

    again = run_cli("apply", plan_file, "--auto-approve", "--format", "json", env=env)

    sent = sandbox.request_log()[before:]
    report = json.loads(again.out)
    assert again.code == 0, again.out + again.err
    assert report["summary"]["unchanged"] == n and report["summary"]["applied"] == 0
    # one batch refused, then the queue listed once; nothing peeled off item by item
    assert tally(sent) == {"listing": pages(n), "single GET": 0, "batch 200": 0, "batch 412": 1, "other": 0}
    assert report["requests"] == len(sent)
    assert {sandbox.store.get(str(FIRST + i)).version for i in range(n)} == {2}  # nothing written twice


def test_reapplying_an_applied_plan_costs_one_412_and_one_listing(make_sandbox, tmp_path):
    reapply_plan_file(make_sandbox, tmp_path, 1_250)  # three batches


def test_reapplying_an_applied_3000_item_plan_costs_one_412_and_one_listing(make_sandbox, tmp_path):
    reapply_plan_file(make_sandbox, tmp_path, 3_000)


def in_process(sandbox, tmp_path: Path):
    """A provider of our own on the sandbox, and the spec's plan made through it."""
    provider = SynapseProvider(sandbox.url, sandbox.token, retries=1, backoff=0.0)
    return provider, build_plan(load_spec(write_spec(tmp_path, sandbox.url)), provider)


def only(result, ids: set[str]):
    """The plan of `result` cut down to the changes of `ids` (another run's share)."""
    plan = result.plan
    queues = tuple(dataclasses.replace(q, changes=tuple(c for c in q.changes if c.item_id in ids)) for q in plan.queues)
    return dataclasses.replace(plan, queues=queues)


def test_a_second_apply_pays_one_412_and_one_listing_for_the_batch_it_loses(make_sandbox, tmp_path):
    """apply SPEC: the other run landed the second batch's items after our plan; our
    second batch is refused, the queue listed once (re-diff), the third batch sent
    without the items the other run already wrote."""
    n = 1_250
    sandbox = make_sandbox(synthetic=[(QUEUE, n)])
    ours, our_plan = in_process(sandbox, tmp_path)
    theirs, their_plan = in_process(sandbox, tmp_path)
    second_batch = {str(FIRST + i) for i in range(500, 1000)}
    landed = apply_plan(only(their_plan, second_batch), theirs, their_plan.queues)
    assert landed.count("applied") == 500
    before = len(sandbox.request_log())

    report = apply_plan(our_plan.plan, ours, our_plan.queues, rediff=our_plan.rediffers())

    sent = sandbox.request_log()[before:]
    assert tally(sent) == {"listing": pages(n), "single GET": 0, "batch 200": 2, "batch 412": 1, "other": 0}
    assert report.requests == len(sent)
    assert report.count("applied") == n - 500 and report.count("unchanged") == 500 and report.ok
    assert {sandbox.store.get(str(FIRST + i)).version for i in range(n)} == {2}


def test_two_applies_of_the_same_spec_at_once_each_pay_one_listing_per_412(make_sandbox, tmp_path):
    """Both runs planned before either wrote: whatever the interleaving, every item is
    written once, and each refused batch costs its run exactly one listing."""
    n = 1_250
    sandbox = make_sandbox(synthetic=[(QUEUE, n)], latency_ms=2)
    runs = [in_process(sandbox, tmp_path) for _ in range(2)]
    before = len(sandbox.request_log())
    reports: list = [None, None]

    def run(k: int) -> None:
        provider, result = runs[k]
        reports[k] = apply_plan(result.plan, provider, result.queues, rediff=result.rediffers())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    sent = tally(sandbox.request_log()[before:])
    assert all(r.ok for r in reports), reports
    assert sum(r.count("applied") for r in reports) == n
    assert {sandbox.store.get(str(FIRST + i)).version for i in range(n)} == {2}  # each written once
    assert sent["single GET"] == sent["other"] == 0
    assert sent["batch 412"] <= 2 * 3  # at most one per batch planned (3 a run)
    assert sent["listing"] == pages(n) * sent["batch 412"]
    assert sum(r.requests for r in reports) == sum(sent.values())


def test_a_conflict_among_a_few_changes_reads_those_items_alone(make_sandbox, tmp_path):
    """Two changes left in a queue of 1,000: two single GETs cost less than 11 pages."""
    sandbox = make_sandbox(synthetic=[(QUEUE, 1_000)])
    ours, result = in_process(sandbox, tmp_path)
    theirs, their_result = in_process(sandbox, tmp_path)
    two = {str(FIRST), str(FIRST + 1)}
    assert apply_plan(only(their_result, {str(FIRST + 1)}), theirs, their_result.queues).ok
    before = len(sandbox.request_log())

    report = apply_plan(only(result, two), ours, result.queues)  # plan-file mode

    sent = sandbox.request_log()[before:]
    assert tally(sent) == {"listing": 0, "single GET": 2, "batch 200": 1, "batch 412": 1, "other": 0}
    assert {r.item_id: r.outcome for r in report.results} == {str(FIRST): "applied", str(FIRST + 1): "unchanged"}
    assert report.requests == len(sent)


# ------------------------------------------------------- totalNumberOfResults
def status(sid: str) -> dict:
    return {"id": sid, "etag": f"e{sid}", "status": "RECEIVED", "statusVersion": 1}


def queue_spec() -> QueueSpec:
    return QueueSpec(id=QUEUE, source=Source("spec.yaml", 1))


def endless(total: int | None, asked: list[int]):
    """A server that answers every offset with a full page of new ids, stating `total`
    (None: Synapse's own estimate, offset + 101). It gives up at offset 5,000 with an
    empty page, so that a client ignoring the total fails the test instead of hanging."""

    def respond(request):
        offset = int(request.args["offset"])
        asked.append(offset)
        stated = offset + 101 if total is None else total
        count = 100 if offset < 5_000 else 0
        return json_response(
            {"totalNumberOfResults": stated, "results": [status(str(FIRST + offset + k)) for k in range(count)]}
        )

    return Scripted(respond)


def test_a_listing_asks_nothing_past_the_total_the_service_stated():
    asked: list[int] = []
    with serve(endless(1_000, asked)) as url:
        items = SynapseProvider(url, "t", retries=0).list_items(queue_spec())
    assert len(items) == 1_000
    assert sorted(asked) == [100 * k for k in range(10)]  # no page at or past the total


def test_a_page_past_the_stated_total_is_a_queue_that_moved():
    """The first page says 150 and is full, the next full again: not one snapshot,
    listed again once, then one clear error."""
    asked: list[int] = []
    with serve(endless(150, asked)) as url, pytest.raises(ProviderError) as exc:
        SynapseProvider(url, "t", retries=0).list_items(queue_spec())
    message = str(exc.value)
    assert "the listing passed the 150 results Synapse said the queue has" in message
    assert sorted(asked) == [0, 0, 100, 100]  # twice through the two pages below 150, nothing past


def test_a_total_that_is_not_a_count_is_an_unexpected_response():
    with (
        serve(Scripted(lambda r: json_response({"totalNumberOfResults": "many", "results": []}))) as url,
        pytest.raises(ProviderError) as exc,
    ):
        SynapseProvider(url, "t", retries=0).list_items(queue_spec())
    message = str(exc.value)
    assert message.endswith("`totalNumberOfResults` is not a non-negative integer")


def test_apply_spec_reports_every_request_the_command_sent(make_sandbox, tmp_path):
    """The plan's listing is sent by `apply SPEC` too: the report counts it."""
    sandbox = make_sandbox(synthetic=[(QUEUE, 250)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    spec = write_spec(tmp_path, sandbox.url)
    for _ in range(2):  # a run that writes, then one with nothing to do
        before = len(sandbox.request_log())
        result = run_cli("apply", spec, "--auto-approve", "--format", "json", env=env)
        sent = sandbox.request_log()[before:]
        assert result.code == 0, result.err
        assert json.loads(result.out)["requests"] == len(sent) >= pages(250)


def test_a_reread_lists_a_grown_queue_whole_and_asks_nothing_past_its_end(make_sandbox):
    """Planned at 500 items, now 1,000: the pages past the planned ones are read one
    after another, each only once the page before came back full."""
    sandbox = make_sandbox(synthetic=[(QUEUE, 1_000)])
    ids = [str(FIRST + i) for i in range(1_000)]
    with SynapseProvider(sandbox.url, sandbox.token, retries=0) as provider:
        items = provider.reread(queue_spec(), ids, queue_size=500)
    assert [item.id for item in items] == ids
    offsets = [int(r["query"].rsplit("offset=", 1)[1]) for r in sandbox.request_log()]
    assert sorted(offsets) == [100 * k for k in range(pages(1_000))]  # each once, none past the end
