"""Many concurrent clients (bounded, loopback only) never corrupt the sandbox's store."""

from __future__ import annotations

import collections
import random
import threading
import time

import pytest
import requests

QUEUE, ITEMS, THREADS, REQUESTS_EACH = "9615000", 40, 16, 50


@pytest.mark.slow
def test_concurrent_clients_leave_a_consistent_store(make_sandbox):
    sandbox = make_sandbox(synthetic=[(QUEUE, ITEMS)])
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    successes: collections.Counter[str] = collections.Counter()
    codes: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + 60  # bounded in time as well as in count

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as http:
            for _ in range(REQUESTS_EACH):
                if time.monotonic() > deadline:
                    return
                offset = rng.randrange(0, ITEMS, 10)
                page = http.get(
                    f"{sandbox.url}/evaluation/{QUEUE}/submission/status/all",
                    params={"limit": 10, "offset": offset},
                    headers=headers,
                    timeout=30,
                )
                statuses = rng.sample(page.json()["results"], k=3)
                for status in statuses:
                    status["status"] = rng.choice(["SCORED", "VALIDATED"])
                put = http.put(
                    f"{sandbox.url}/evaluation/{QUEUE}/statusBatch",
                    headers=headers,
                    timeout=30,
                    json={"statuses": statuses, "isFirstBatch": True, "isLastBatch": True},
                )
                with lock:
                    codes[put.status_code] += 1
                    if put.status_code == 200:
                        successes.update(s["id"] for s in statuses)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    print(f"\n{THREADS} clients x {REQUESTS_EACH} batches: {dict(codes)}")
    assert set(codes) <= {200, 412}, codes  # only wins and clean etag conflicts
    assert codes[200] > 0 and codes[412] > 0  # real contention happened
    for i in range(ITEMS):
        item_id = str(9700001 + i)
        record = sandbox.store.get(item_id)
        # every accepted write bumped the version exactly once: none lost, none doubled
        assert record.version == 1 + successes[item_id], item_id
