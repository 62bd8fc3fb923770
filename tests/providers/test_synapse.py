"""The Synapse provider over real HTTP: against the sandbox, and against a scripted
server for the responses a healthy Synapse never sends."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timezone
from typing import Any
from collections.abc import Callable

import pytest
import requests

from local_app import Scripted, json_response, serve
from reconciler.model import Change, FieldChange, Item, ProviderConfig, QueueSpec, Source, Spec, tag_key_of
from reconciler.providers import provider_class
from reconciler.planner import build_plan
from reconciler.providers.base import (
    RELISTED,
    ConfigError,
    ProviderError,
    QueueNotFound,
    StaleEtag,
    WriteFailed,
)
from reconciler.providers.synapse import (
    _PAGES_AHEAD,
    DEFAULT_ENDPOINT,
    MAX_BODY_BYTES,
    SynapseProvider,
    batch_body,
    encode_body,
)
from reconciler.providers.synapse_annotations import status_for_write
from reconciler.store import NewItem

QUEUE = "9615000"
FIRST = 9700001  # the sandbox's first synthetic id


def queue_spec(queue_id: str = QUEUE, lock: str = "locked") -> QueueSpec:
    return QueueSpec(id=queue_id, source=Source("spec.yaml", 1), lock_key=lock)


def provider(url: str, token: str = "sandbox-test-token", retries: int = 3, readers: int = 3) -> SynapseProvider:
    return SynapseProvider(url, token, retries=retries, backoff=0.01, timeout=(2.0, 10.0), readers=readers)


def config(**options: Any) -> ProviderConfig:
    return ProviderConfig(type="synapse", options=options, base_dir=".")


def change(item: Item, *fields: tuple[str, Any], lock: str | None = None) -> Change:
    before = {"status": item.status, "locked": item.locked}
    return Change(
        item_id=item.id,
        etag=item.etag,
        base=item.base,
        lock=lock,  # type: ignore[arg-type]
        fields=tuple(
            FieldChange(
                name, item.tags.get(key) if (key := tag_key_of(name)) is not None else before[name], after, None
            )
            for name, after in fields
        ),
    )


def requests_to(sb, method: str, path_part: str) -> list[dict]:
    return [e for e in sb.request_log() if e["method"] == method and path_part in e["path"]]


def put_status(sb, status: dict) -> requests.Response:
    """Another writer: a single-status PUT, straight over HTTP."""
    return requests.put(
        f"{sb.url}/evaluation/submission/{status['id']}/status",
        json=status,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=10,
    )


# -------------------------------------------------------------------- config
def test_the_registry_finds_the_synapse_provider():
    assert provider_class("synapse") is SynapseProvider


def test_from_config_defaults_to_production_with_the_env_token(monkeypatch):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", "tok")
    with SynapseProvider.from_config(config()) as p:
        assert p.endpoint == DEFAULT_ENDPOINT == "https://repo-prod.prod.sagebase.org/repo/v1"


def test_from_config_strips_a_trailing_slash(monkeypatch):
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", "tok")
    p = SynapseProvider.from_config(config(endpoint="https://repo-staging.prod.sagebase.org/repo/v1/"))
    assert p.endpoint == "https://repo-staging.prod.sagebase.org/repo/v1"


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"endpiont": "https://x"},
            "synapse provider: unknown field 'endpiont': did you mean 'endpoint'? (allowed: endpoint)",
        ),
        ({"endpoint": 5}, "synapse provider: endpoint: expected an http:// or https:// URL"),
        (
            {"endpoint": "http://10.255.255.1/repo/v1"},
            "endpoint 'http://10.255.255.1/repo/v1' uses plain http://, which is only allowed for a "
            "loopback address (127.0.0.1, ::1, localhost); use https://",
        ),
    ],
)
def test_bad_options_are_config_errors_before_any_token_lookup(options, message, monkeypatch, tmp_path):
    monkeypatch.delenv("SYNAPSE_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as exc:
        SynapseProvider.from_config(config(**options))
    assert str(exc.value) == message


@pytest.mark.parametrize("readers", [0, 4])
def test_page_readers_are_between_one_and_synapses_in_flight_limit(readers):
    with pytest.raises(ValueError, match="readers must be between 1 and 3"):
        SynapseProvider("https://example.org/repo/v1", "tok", readers=readers)


def test_constructing_with_remote_plain_http_is_refused():
    with pytest.raises(ConfigError, match="uses plain http://"):
        SynapseProvider("http://10.255.255.1/repo/v1", "tok")


def test_offline_checks_refuse_what_synapse_would_refuse():
    bad = queue_spec("syn123")
    assert [p.message for p in SynapseProvider.check_queue(bad)] == [
        "queue id 'syn123' is not a Synapse evaluation id (digits only)"
    ]
    assert SynapseProvider.check_queue(queue_spec()) == []


def test_from_config_reads_the_token_and_talks_to_the_sandbox(make_sandbox, monkeypatch):
    sb = make_sandbox(synthetic=[(QUEUE, 3)])
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", sb.token)
    with SynapseProvider.from_config(config(endpoint=sb.url)) as p:
        assert [i.id for i in p.list_items(queue_spec())] == [str(FIRST + n) for n in range(3)]


# ------------------------------------------------------------------- listing
@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250])
def test_one_reader_reads_pages_of_100_until_a_short_page(make_sandbox, count):
    sb = make_sandbox(synthetic=[(QUEUE, count)])
    seen: list[int] = []
    items = provider(sb.url, readers=1).list_items(queue_spec(), progress=seen.append)
    assert [i.id for i in items] == [str(FIRST + n) for n in range(count)]
    pages = requests_to(sb, "GET", "/submission/status/all")
    assert len(pages) == count // 100 + 1
    assert [e["query"] for e in pages] == [f"limit=100&offset={100 * n}" for n in range(count // 100 + 1)]
    assert sum(seen) == count


def offsets_read(sb) -> list[int]:
    return [int(e["query"].rsplit("offset=", 1)[1]) for e in requests_to(sb, "GET", "/submission/status/all")]


@pytest.mark.parametrize("count", [0, 1, 99, 100, 101, 250, 1000])
def test_concurrent_readers_read_each_item_once_and_at_most_two_pages_past_the_end(make_sandbox, count):
    sb = make_sandbox(synthetic=[(QUEUE, count)])
    seen: list[int] = []
    pages = list(provider(sb.url).pages(queue_spec(), progress=seen.append))
    assert RELISTED not in pages
    assert [i.id for page in pages for i in page] == [str(FIRST + n) for n in range(count)]  # in order
    # the empty page after a multiple of 100 may not be handed on: once the page past the
    # end (total N) is in, a full page reaching N is the end (totalNumberOfResults)
    assert [len(page) for page in pages if page] == [100] * (count // 100) + [count % 100] * (count % 100 > 0)
    assert sum(seen) == count
    offsets = offsets_read(sb)
    needed = count // 100 + 1
    assert len(offsets) == len(set(offsets)) <= needed + 2  # floor(N/100) + 1, plus ≤ 2 in flight past the end
    assert sorted(offsets)[:needed] == [100 * n for n in range(needed)]  # every page, each once
    assert offsets[0] == 0 and (count >= 100 or len(offsets) == 1)  # the first page is read alone


def test_concurrent_readers_keep_at_most_three_requests_in_flight(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1000)], max_concurrent=3, latency_ms=30)
    items = provider(sb.url, retries=0).list_items(queue_spec())
    assert len({i.id for i in items}) == len(items) == 1000
    log = sb.request_log()
    assert all(e["status"] == 200 for e in log)  # no 429 "Too many concurrent requests"
    assert sb.faults.max_in_flight == 3  # three at a time, never four
    assert len(log) <= 11 + 2


def test_listing_turns_annotations_into_tags_and_the_lock(make_sandbox):
    sb = make_sandbox()
    sb.store.create_queue(QUEUE)
    when = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
    sb.store.insert(
        QUEUE,
        [
            NewItem(
                id="1",
                status="SCORED",
                tags={"auc": (0.91,), "rank": (2,), "when": (when,), "who": ("a", "b"), "locked": (True,)},
                extra={"canCancel": False},
            ),
            NewItem(id="2", tags={"frozen": (True,)}),
        ],
    )
    one, two = provider(sb.url).list_items(queue_spec())
    assert (one.status, one.locked) == ("SCORED", True)
    assert one.tags == {"auc": (0.91,), "rank": (2,), "when": (when,), "who": ("a", "b")}
    assert (two.locked, two.tags) == (False, {"frozen": (True,)})
    assert one.base["etag"] == one.etag and one.base["canCancel"] is False


def test_listing_an_unknown_or_unreadable_queue_is_queue_not_found(sandbox):
    with pytest.raises(QueueNotFound) as exc:
        provider(sandbox.url).list_items(queue_spec("404404"))
    assert str(exc.value) == "evaluation 404404 not found or not readable"


def test_a_refused_token_is_a_config_error_without_the_token(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1)])
    with pytest.raises(ConfigError) as exc:
        provider(sb.url, token="wrong-secret-token").list_items(queue_spec())
    assert str(exc.value) == (
        "Synapse refused the token (HTTP 401: Invalid access token.); set SYNAPSE_AUTH_TOKEN or add "
        "`authtoken = <token>` under [authentication] in ~/.synapseConfig (a Synapse personal "
        "access token with view and modify scopes)"
    )


def after_each_response(p: SynapseProvider, act: Callable[[], None]) -> SynapseProvider:
    """Run `act` when a response arrives, before the next request is sent: pages are
    read ahead on a reader thread, so the progress callback would race with it."""
    p.client.session.hooks["response"].append(lambda response, *args, **kwargs: act())
    return p


def test_a_queue_that_changes_during_listing_is_listed_again(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 250)])
    inserted: list[str] = []

    def insert_before_the_listed_rows() -> None:
        if not inserted:  # ids sort first, so every later row shifts down by one
            inserted.append("1000")
            sb.store.insert(QUEUE, [NewItem(id="1000")])

    items = after_each_response(provider(sb.url), insert_before_the_listed_rows).list_items(queue_spec())
    ids = [i.id for i in items]
    assert len(ids) == len(set(ids)) == 251
    offsets = [e["query"] for e in requests_to(sb, "GET", "/submission/status/all")]
    assert offsets.count("limit=100&offset=0") == 2


def test_pages_signal_the_second_listing_and_the_plan_uses_only_it(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 250)])
    new_ids = iter(["1000", "1001"])
    armed = [True]

    def insert_once_before_the_listed_rows() -> None:
        if armed[0]:
            armed[0] = False
            sb.store.insert(QUEUE, [NewItem(id=next(new_ids))])

    p = after_each_response(provider(sb.url), insert_once_before_the_listed_rows)
    pages = list(p.pages(queue_spec()))
    restart = pages.index(RELISTED)
    assert RELISTED not in pages[restart + 1 :]
    after = [i.id for page in pages[restart + 1 :] for i in page]
    assert len(after) == len(set(after)) == 251 and "1000" in after
    assert [len(page) for page in pages[restart + 1 :]] == [100, 100, 51]

    armed[0] = True
    spec = Spec(config(endpoint=sb.url), (queue_spec(),), ("spec.yaml",), "sha256:0")
    (planned,) = build_plan(spec, p).plan.queues
    assert planned.items_seen == 252  # not "listed twice": the first listing was dropped


def test_closing_the_pages_early_stops_the_reader_thread(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 5_000)])
    pages = provider(sb.url).pages(queue_spec())
    first = next(pages)
    pages.close()
    assert len(first) == 100
    assert not [t for t in threading.enumerate() if t.name == "synapse-pages"]
    # the reader runs at most _PAGES_AHEAD pages ahead (plus the one in flight), never to the end
    assert len(requests_to(sb, "GET", "/submission/status/all")) <= 3 + _PAGES_AHEAD < 51


def test_closing_the_pages_early_stops_every_reader_mid_request(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 5_000)], latency_ms=50)
    pages = provider(sb.url).pages(queue_spec())
    first = next(pages)  # the readers are now waiting on pages 100, 200, 300
    pages.close()
    assert len(first) == 100
    assert not [t for t in threading.enumerate() if t.name.startswith("synapse-pages")]
    sent = len(requests_to(sb, "GET", "/submission/status/all"))
    assert sent <= 1 + 3  # the first page, and the three in flight when it was closed
    time.sleep(0.2)
    assert len(requests_to(sb, "GET", "/submission/status/all")) == sent  # nothing after


def test_a_429_mid_listing_slows_every_reader_and_the_listing_completes():
    """Synapse's sliding window in miniature (4 requests a second): the session learns
    it from the first refusal; only requests already in flight then can be refused."""
    count, lock, admitted, answers = 650, threading.Lock(), [], []

    def respond(request):
        with lock:
            now = time.monotonic()
            admitted[:] = [t for t in admitted if now - t < 1.0]
            if len(admitted) >= 4:
                answers.append(429)
                return json_response({"reason": "Requests are too frequent. Allowed 4 requests every 1 seconds."}, 429)
            admitted.append(now)
            answers.append(200)
        offset = int(request.args["offset"])
        return json_response({"results": [status(str(FIRST + n)) for n in range(offset, min(offset + 100, count))]})

    with serve(Scripted(respond)) as url:
        items = provider(url, retries=5).list_items(queue_spec())
    assert [i.id for i in items] == [str(FIRST + n) for n in range(count)]
    assert 1 <= answers.count(429) <= 3
    assert answers.count(200) <= count // 100 + 1 + 2


def test_a_queue_that_keeps_changing_during_listing_is_an_error(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 150)])
    ids = iter(range(1000, 2000))

    def insert_before_the_listed_rows() -> None:
        sb.store.insert(QUEUE, [NewItem(id=str(next(ids)))])

    with pytest.raises(ProviderError) as exc:  # one reader: the interleaving below is exact
        after_each_response(provider(sb.url, readers=1), insert_before_the_listed_rows).list_items(queue_spec())
    # A row arrives after every page. The first listing repeats its 100th row; the
    # second starts with two new rows and a third shifts its second page, so its first
    # page ends at FIRST + 97 and the second page starts with that row again.
    assert str(exc.value) == (
        f"evaluation {QUEUE}: submission {FIRST + 97} was listed twice; the queue kept changing "
        "while it was read, try again"
    )


def test_concurrent_readers_detect_a_queue_that_keeps_changing(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1000)], latency_ms=20)
    ids = iter(range(1000, 2000))

    def insert_before_the_listed_rows() -> None:
        sb.store.insert(QUEUE, [NewItem(id=str(next(ids)))])

    with pytest.raises(
        ProviderError,
        match=rf"^evaluation {QUEUE}: submission \d+ was listed twice; "
        "the queue kept changing while it was read, try again$",
    ):
        after_each_response(provider(sb.url), insert_before_the_listed_rows).list_items(queue_spec())
    offsets = offsets_read(sb)
    assert offsets.count(0) == 2  # listed again once, then given up
    assert len(offsets) < 2 * 11  # neither listing read on to the end after its repeat


def test_concurrent_readers_relist_a_queue_changed_mid_read(make_sandbox):
    """Page 0 is read alone, then three at a time. A row that sorts first is inserted
    when the first of pages 100, 200, 300 is answered; every page asked for after that
    reads the store at least 50 ms later (the sandbox's latency comes first), so page
    400 starts with the row page 300 ended with: the repeat is caught and the queue
    listed again."""
    sb = make_sandbox(synthetic=[(QUEUE, 1000)], latency_ms=50)
    lock = threading.Lock()
    answered: list[int] = []

    def insert_when_the_second_page_is_answered() -> None:
        with lock:
            answered.append(1)
            if len(answered) == 2:  # page 0, then the first of 100/200/300
                sb.store.insert(QUEUE, [NewItem(id="1000")])

    pages = list(after_each_response(provider(sb.url), insert_when_the_second_page_is_answered).pages(queue_spec()))
    assert pages.count(RELISTED) == 1
    after = [i.id for page in pages[pages.index(RELISTED) + 1 :] for i in page]
    assert len(after) == len(set(after)) == 1001 and after[0] == "1000"
    assert offsets_read(sb).count(0) == 2


def test_listing_survives_injected_503s_and_dropped_connections(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1000)], fail_rate=0.2, drop_rate=0.2, random_seed=11)
    items = provider(sb.url, retries=10).list_items(queue_spec())
    assert len({i.id for i in items}) == 1000
    log = sb.request_log()
    assert any(e["status"] == 503 for e in log) and any(e.get("dropped") for e in log)


def test_a_dead_service_is_a_provider_error(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1)], fail_rate=1.0)
    with pytest.raises(ProviderError) as exc:
        provider(sb.url, retries=1).list_items(queue_spec())
    assert str(exc.value) == (
        f"GET {sb.url}/evaluation/{QUEUE}/submission/status/all?limit=100&offset=0 failed "
        "(HTTP 503): Service temporarily unavailable, please try again later."
    )


def test_an_unreachable_service_is_a_provider_error():
    with pytest.raises(ProviderError) as exc:
        provider("http://127.0.0.1:9/repo/v1", retries=0).list_items(queue_spec())
    assert str(exc.value) == (  # port 9 refuses: not retried, and the fix is named
        "cannot connect to http://127.0.0.1:9/repo/v1: connection refused; is the server running, on that port?"
    )


# -------------------------------------------------------- untrusted responses
def status(sid: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "etag": f"e{sid}", "status": "RECEIVED", "statusVersion": 1, **extra}


@pytest.mark.parametrize(
    "body, detail",
    [
        ("<html>maintenance</html>", "the body is not JSON"),
        ([], "expected an object with a `results` array of at most 100"),
        ({"results": {"id": "1"}}, "expected an object with a `results` array of at most 100"),
        ({"results": [status(str(n)) for n in range(101)]}, "expected an object with a `results` array of at most 100"),
        ({"results": ["1"]}, "a status is a string, not an object"),
        ({"results": [{"id": "1", "status": "OPEN"}]}, "status '1' has no string 'etag'"),
        (
            {"results": [status("1", submissionAnnotations={"annotations": {"k": {"type": "LONG", "value": ["x"]}}})]},
            "submission 1: LONG annotation value 'x' is not valid",
        ),
    ],
)
def test_a_malformed_listing_is_an_unexpected_response_error(body, detail):
    with serve(Scripted(lambda r: json_response(body))) as url, pytest.raises(ProviderError) as exc:
        provider(url).list_items(queue_spec())
    assert str(exc.value) == (
        f"unexpected response from {url}/evaluation/{QUEUE}/submission/status/all?limit=100&offset=0: {detail}"
    )


def test_a_malformed_single_status_is_an_unexpected_response_error():
    with serve(Scripted(lambda r: json_response(status("2")))) as url, pytest.raises(ProviderError) as exc:
        provider(url).get(queue_spec(), ["1"])
    assert str(exc.value) == (
        f"unexpected response from {url}/evaluation/submission/1/status: asked for submission 1, got 2"
    )


def test_a_token_echoed_by_the_server_is_redacted_from_errors(caplog):
    caplog.set_level(logging.DEBUG)
    token = "very-secret-token"

    def echo(request):
        return json_response({"reason": f"bad header {request.headers['Authorization']} / {token}"}, 400)

    with serve(Scripted(echo)) as url:
        p = provider(url, token=token)
        with pytest.raises(ProviderError) as listing:
            p.list_items(queue_spec())
        with pytest.raises(WriteFailed) as writing:
            p.write(queue_spec(), [change(Item("1", "e1", "OPEN", base=status("1")), ("status", "SCORED"))])
    for exc in (listing.value, writing.value):
        assert token not in str(exc) and token not in repr(exc)
        assert "bad header Bearer *** / ***" in str(exc)
    assert token not in caplog.text


# ----------------------------------------------------------------------- get
def test_get_returns_fresh_items_and_leaves_out_unknown_ids(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 5)])
    ids = [str(FIRST + 3), "424242", str(FIRST), "not-a-number", str(FIRST + 3)]
    items = provider(sb.url).get(queue_spec(), ids)
    assert [i.id for i in items] == [str(FIRST + 3), str(FIRST)]
    assert len(requests_to(sb, "GET", "/evaluation/submission/")) == 3


def test_get_keeps_at_most_three_requests_in_flight(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 12)], max_concurrent=3, latency_ms=50)
    items = provider(sb.url, retries=0).get(queue_spec(), [str(FIRST + n) for n in range(12)])
    assert len(items) == 12
    assert all(e["status"] == 200 for e in sb.request_log())


# --------------------------------------------------------------------- write
def test_a_write_is_one_statusbatch_request_and_keeps_unmanaged_fields(make_sandbox):
    sb = make_sandbox()
    sb.store.create_queue(QUEUE)
    sb.store.insert(
        QUEUE,
        [
            NewItem(
                id=str(FIRST + n),
                tags={"keep": ("x",), "old": (1,)},
                extra={"canCancel": True, "cancelRequested": True, "score": 0.5},
            )
            for n in range(3)
        ],
    )
    p = provider(sb.url)
    items = p.list_items(queue_spec())
    changes = [
        change(items[0], ("status", "SCORED"), ("tags.auc", (0.91,)), ("tags.old", None)),
        change(items[1], ("locked", True), lock="lock"),
    ]
    p.write(queue_spec(), changes)
    puts = requests_to(sb, "PUT", "/statusBatch")
    assert [e["path"] for e in puts] == [f"/repo/v1/evaluation/{QUEUE}/statusBatch"]
    fresh = {i.id: i for i in p.list_items(queue_spec())}
    first, second, third = (fresh[i.id] for i in items)
    assert (first.status, first.tags) == ("SCORED", {"keep": ("x",), "auc": (0.91,)})
    assert (second.locked, second.tags) == (True, {"keep": ("x",), "old": (1,)})
    assert third.etag == items[2].etag
    for item in (first, second):
        assert item.etag != items[0].etag
        assert (item.base["canCancel"], item.base["cancelRequested"], item.base["score"]) == (True, True, 0.5)


def test_a_stale_etag_refuses_the_whole_batch_naming_the_item(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 3)])
    p = provider(sb.url)
    items = p.list_items(queue_spec())
    concurrent = dict(items[1].base, status="INVALID")
    assert put_status(sb, concurrent).status_code == 200
    with pytest.raises(StaleEtag) as exc:
        p.write(queue_spec(), [change(i, ("status", "ACCEPTED")) for i in items])
    assert exc.value.item_id == items[1].id
    assert str(exc.value) == f"item {items[1].id} was changed since it was read"
    fresh = {i.id: i for i in p.list_items(queue_spec())}
    assert fresh[items[0].id].etag == items[0].etag and fresh[items[0].id].status == "RECEIVED"
    assert fresh[items[1].id].status == "INVALID"


def bad_then_good_seed() -> int:
    """A fault seed whose first roll at rate 0.5 hits and whose second does not."""
    return next(s for s in range(1000) if (r := random.Random(s)).random() < 0.5 <= r.random())


def test_a_lost_response_is_retried_and_surfaces_as_stale_with_the_change_applied(make_sandbox):
    seed = bad_then_good_seed()
    sb = make_sandbox(synthetic=[(QUEUE, 2)])
    items = provider(sb.url).list_items(queue_spec())
    flaky = make_sandbox(db_path=sb.db_path, drop_rate=0.5, random_seed=seed)
    with pytest.raises(StaleEtag):
        provider(flaky.url).write(queue_spec(), [change(i, ("status", "ACCEPTED")) for i in items])
    assert [(e["status"], e.get("dropped", False)) for e in flaky.request_log()] == [(200, True), (412, False)]
    assert {i.status for i in provider(flaky.url).get(queue_spec(), [i.id for i in items])} == {"ACCEPTED"}


def test_a_write_answered_503_is_retried(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 20)])
    items = provider(sb.url).list_items(queue_spec())
    flaky = make_sandbox(db_path=sb.db_path, fail_rate=0.5, random_seed=bad_then_good_seed())
    provider(flaky.url).write(queue_spec(), [change(i, ("status", "VALIDATED")) for i in items])
    assert [(e["method"], e["status"]) for e in flaky.request_log()] == [("PUT", 503), ("PUT", 200)]
    assert {i.status for i in provider(sb.url).list_items(queue_spec())} == {"VALIDATED"}


@pytest.mark.parametrize(
    "fields, message",
    [
        ((("status", "BOGUS"),), "No enum constant org.sagebionetworks.evaluation.model.SubmissionStatusEnum.BOGUS"),
        (
            (("tags.bad key", ("x",)),),
            "Invalid annotation name: 'bad key'. Annotation names may only contain; letters, numbers, '_' and '.'",
        ),
    ],
)
def test_a_refused_batch_is_write_failed_with_synapse_reason(make_sandbox, fields, message):
    sb = make_sandbox(synthetic=[(QUEUE, 1)])
    p = provider(sb.url)
    (item,) = p.list_items(queue_spec())
    with pytest.raises(WriteFailed) as exc:
        p.write(queue_spec(), [change(item, *fields)])
    assert str(exc.value) == f"evaluation {QUEUE}: statusBatch failed (HTTP 400): {message}"


def test_a_batch_of_unknown_submissions_is_write_failed(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1)])
    ghost = Item("424242", "e", "OPEN", base=status("424242"))
    with pytest.raises(WriteFailed) as exc:
        provider(sb.url).write(queue_spec(), [change(ghost, ("status", "SCORED"))])
    assert str(exc.value) == (
        f"evaluation {QUEUE}: statusBatch failed (HTTP 404): Submissions are not found in the system."
    )


@pytest.mark.parametrize(
    "code, reason",
    [
        (403, "User lacks UPDATE_SUBMISSION access to Evaluation 9615000"),
        (413, "Request body exceeds the maximum allowed size of 2097152 bytes."),
        (412, "Your batch token is out of date.  You must restart upload from first batch."),
        (412, "Submission Status: 999 was updated since you last fetched it"),  # not in the batch
    ],
)
def test_other_refusals_are_write_failed(code, reason):
    app = Scripted(lambda r: json_response({"reason": reason}, code))
    with serve(app) as url, pytest.raises(WriteFailed) as exc:
        provider(url).write(queue_spec(), [change(Item("1", "e1", "OPEN", base=status("1")), ("status", "SCORED"))])
    assert str(exc.value) == f"evaluation {QUEUE}: statusBatch failed (HTTP {code}): {reason}"
    assert len(app.seen) == 1


def test_a_write_whose_answer_never_comes_may_have_been_written(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 1)])
    (item,) = provider(sb.url).list_items(queue_spec())
    flaky = make_sandbox(db_path=sb.db_path, drop_rate=1.0)
    with pytest.raises(WriteFailed) as exc:
        provider(flaky.url, retries=1).write(queue_spec(), [change(item, ("status", "SCORED"))])
    assert str(exc.value) == (
        f"evaluation {QUEUE}: statusBatch got no response (ProtocolError); it may "
        "or may not have been written, run plan again"
    )


def test_any_2xx_answer_to_a_write_is_success():
    app = Scripted(lambda r: json_response("not json at all", 200))
    with serve(app) as url:
        provider(url).write(queue_spec(), [change(Item("1", "e1", "OPEN", base=status("1")), ("status", "SCORED"))])
    body = app.seen[0]
    assert body.method == "PUT" and body.headers["Content-Type"] == "application/json; charset=utf-8"


def test_writing_nothing_sends_nothing(sandbox):
    provider(sandbox.url).write(queue_spec(), [])
    assert sandbox.request_log() == []


def test_the_body_sent_is_a_single_batch_series():
    app = Scripted(lambda r: json_response({}))
    item = Item("1", "e1", "OPEN", base=status("1", modifiedOn="2024-01-01T00:00:00.000Z"))
    with serve(app) as url:
        provider(url).write(queue_spec(), [change(item, ("status", "SCORED"))])
    assert app.seen[0].body == encode_body(
        {
            "statuses": [{"id": "1", "etag": "e1", "status": "SCORED", "statusVersion": 1}],
            "isFirstBatch": True,
            "isLastBatch": True,
        }
    )


# ------------------------------------------------------------------- batches
def big_changes(n: int, chars: int = 450, keys: int = 10) -> list[Change]:
    out = []
    for k in range(n):
        item = Item(str(FIRST + k), f"e{k}", "RECEIVED", base=status(str(FIRST + k)))
        out.append(change(item, *((f"tags.k{j}", ("x" * chars,)) for j in range(keys))))
    return out


def body_size(changes: list[Change]) -> int:
    return len(encode_body(batch_body([status_for_write(c, "locked") for c in changes])))


def test_batches_hold_at_most_500_changes_in_order():
    changes = big_changes(1201, chars=1, keys=1)
    batches = provider("https://example.org/repo/v1").batches(queue_spec(), changes)
    assert [len(b) for b in batches] == [500, 500, 201]
    assert [c for b in batches for c in b] == changes


def test_batches_stay_under_two_mebibytes_of_json():
    changes = big_changes(500)
    assert body_size(changes) > MAX_BODY_BYTES
    batches = provider("https://example.org/repo/v1").batches(queue_spec(), changes)
    assert len(batches) == 2
    assert [c for b in batches for c in b] == changes
    assert all(body_size(b) < MAX_BODY_BYTES for b in batches)
    assert body_size(batches[0] + batches[1][:1]) >= MAX_BODY_BYTES  # filled, not halved


def test_large_batches_are_accepted_by_the_sandbox(make_sandbox):
    sb = make_sandbox(synthetic=[(QUEUE, 500)])
    p = provider(sb.url)
    items = p.list_items(queue_spec())
    changes = [
        change(i, *((f"tags.k{j}", ("x" * 450,)) for j in range(10)), ("locked", True), lock="lock") for i in items
    ]
    batches = p.batches(queue_spec(), changes)
    assert len(batches) == 2
    for batch in batches:
        p.write(queue_spec(), batch)
    puts = requests_to(sb, "PUT", "/statusBatch")
    assert [e["status"] for e in puts] == [200, 200]
    assert all(e["bytes_in"] < MAX_BODY_BYTES for e in puts)
    assert all(i.locked and len(i.tags) == 10 for i in p.list_items(queue_spec()))


def test_a_batch_over_two_mebibytes_is_refused_before_sending(sandbox):
    with pytest.raises(WriteFailed) as exc:
        provider(sandbox.url).write(queue_spec(), big_changes(500))
    assert str(exc.value).startswith(f"evaluation {QUEUE}: a batch of 500 statuses is ")
    assert str(exc.value).endswith(" bytes, over Synapse's 2097152 byte request limit")
    assert sandbox.request_log() == []


def test_an_unwritable_tag_value_is_write_failed_naming_the_submission():
    item = Item("1", "e1", "OPEN", base=status("1"))
    with pytest.raises(WriteFailed) as exc:
        provider("https://example.org/repo/v1").batches(queue_spec(), [change(item, ("tags.k", (1, "a")))])
    assert str(exc.value) == "submission 1: values of one tag must share a type, got LONG, STRING"


def count_encodings(monkeypatch) -> Callable[[], int]:
    """How many statuses the provider has built since (each is then encoded)."""
    from reconciler.providers import synapse

    calls = []
    built = synapse._status
    monkeypatch.setattr(synapse, "_status", lambda *args: calls.append(1) or built(*args))
    return lambda: len(calls)


def test_a_written_body_is_the_canonical_encoding_whether_batches_encoded_it_or_not(monkeypatch):
    """write() joins the statuses batches() encoded and its batch carries; the bytes
    sent must be exactly encode_body(batch_body(...)) with the queue's own lock
    annotation."""
    app = Scripted(lambda request: json_response({}))
    items = [Item(str(FIRST + n), f"e{n}", "OPEN", base=status(str(FIRST + n))) for n in range(4)]
    changes = [change(i, ("tags.note", ("é\u2028x",)), ("locked", True), lock="lock") for i in items]
    frozen = queue_spec(lock="frozen")
    with serve(app) as url:
        p = provider(url)
        (batch,) = p.batches(frozen, changes)
        encoded_since = count_encodings(monkeypatch)
        p.write(frozen, batch[:3])  # as batches() encoded them
        assert encoded_since() == 0
        p.write(queue_spec(lock="other"), batch[3:])  # another lock key: encoded again
        assert encoded_since() == 1
        provider(url).write(frozen, changes)  # never seen by batches(): encoded on the spot
        assert encoded_since() == 5
    bodies = [seen.body for seen in app.seen]
    assert bodies == [
        encode_body(batch_body([status_for_write(c, "frozen") for c in changes[:3]])),
        encode_body(batch_body([status_for_write(changes[3], "other")])),
        encode_body(batch_body([status_for_write(c, "frozen") for c in changes])),
    ]
