"""HealthOmics run batches: reconciler against a boto3 per-batch loop (BENCHMARKS.md).

The job: every batch of run group 4242 carries the tag `reviewed=yes`, and every batch
still PENDING, SUBMITTING or INPROGRESS is cancelled. The store holds N batches; the
drifted ones lack the tag and rotate through all eleven statuses (3 of 11 cancellable),
the others are PROCESSED and tagged already.

boto3's way: the ListBatch paginator, then per batch GetBatch (tags and ARN are only
there), TagResource where the tag is missing, CancelRunBatch where the batch is
cancellable; one call at a time, as a script does.

    python benchmarks/omics_vs_boto3.py [--sizes 1000,10000] [--drifts 0.1,1] [--latencies 0,50]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from service_bench import Service, ceil_div, changes, drifted, main

TOKEN = "AKIDBENCHSANDBOX"
GROUP = "4242"
FIRST = 1_000_001
TAG = {"reviewed": "yes"}
CANCELLABLE = ("PENDING", "SUBMITTING", "INPROGRESS")
SPEC = f"""version: 1
provider: {{type: omics, region: us-east-1, endpoint: "{{url}}"}}
queues:
  - id: "{GROUP}"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: reviewed, where: {{}}, set: {{tags: {{reviewed: "yes"}}}}}}
      - {{name: cancel-running, where: {{status: [PENDING, SUBMITTING, INPROGRESS]}}, set: {{status: CANCELLED}}}}
"""


def status_of(i: int, drift: float) -> str:
    from reconciler.sandbox.omics import STATUSES

    return STATUSES[(i // max(1, round(1 / drift))) % len(STATUSES)] if drifted(i, drift) else "PROCESSED"


def prepare(db: Path, n: int, drift: float) -> None:
    from reconciler.sandbox.docstore import DocStore
    from reconciler.sandbox.omics import COLLECTION, new_batch

    def fill(store: DocStore) -> None:
        store.put_many(
            COLLECTION,
            (
                (
                    str(FIRST + i),
                    {
                        "batch": new_batch(
                            str(FIRST + i), GROUP, i, status_of(i, drift), None if drifted(i, drift) else TAG
                        )
                    },
                )
                for i in range(n)
            ),
        )

    DocStore(db, fill).close()


def cancels(n: int, drift: float) -> int:
    return sum(1 for i in range(n) if drifted(i, drift) and status_of(i, drift) in CANCELLABLE)


def minimum(n: int, drift: float) -> dict[str, int]:
    """plan: ceil(N/100) ListBatch + N GetBatch; apply: C GetBatch (the guard's re-read),
    1 TagResource per change (one key), 1 CancelRunBatch per cancel."""
    c = changes(n, drift)
    return {
        "ListBatch": max(1, ceil_div(n, 100)),
        "GetBatch": n + c,
        "TagResource": c,
        "CancelRunBatch": cancels(n, drift),
    }


def operation(entry: Mapping[str, Any]) -> str:
    method, path = entry["method"], entry["path"]
    if path == "/runBatch":
        return "ListBatch"
    if path == "/runBatch/cancel":
        return "CancelRunBatch"
    if path.startswith("/runBatch/"):
        return "GetBatch"
    if path.startswith("/tags/"):
        return {"POST": "TagResource", "DELETE": "UntagResource"}.get(method, "ListTagsForResource")
    return f"{method} {path}"


def official(url: str, sample: int):
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "omics",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=TOKEN,
        aws_secret_access_key="bench-secret",
        config=Config(inject_host_prefix=False, retries={"mode": "standard"}),
    )

    def loop() -> int:
        done = 0
        pages = client.get_paginator("list_batch").paginate(runGroupId=GROUP, PaginationConfig={"PageSize": 100})
        for page in pages:
            for listed in page["items"]:
                batch = client.get_batch(batchId=listed["id"])
                if batch.get("tags", {}).get("reviewed") != "yes":
                    client.tag_resource(resourceArn=batch["arn"], tags=TAG)
                if batch["status"] in CANCELLABLE:
                    client.cancel_run_batch(batchId=batch["id"])
                done += 1
                if done == sample:
                    return done
        return done

    return loop


def check(db: Path, n: int, drift: float, limit: int) -> list[str]:
    from reconciler.sandbox.docstore import DocStore
    from reconciler.sandbox.omics import COLLECTION

    store = DocStore(db)
    try:
        problems = []
        for i in range(limit):
            batch = store.get(COLLECTION, str(FIRST + i))["batch"]
            status = status_of(i, drift)
            allowed = {"STOPPING", "CANCELLED"} if status in CANCELLABLE else {status}
            if batch["tags"] != TAG or batch["status"] not in allowed:
                problems.append(f"batch {batch['id']}: {batch['status']} {batch['tags']}")
        return problems
    finally:
        store.close()


SERVICE = Service(
    name="omics",
    token=TOKEN,
    official_name="boto3 per-batch loop",
    prepare=prepare,
    spec=lambda url: SPEC.replace("{url}", url),
    env=lambda url: {
        "AWS_ACCESS_KEY_ID": TOKEN,
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    },
    official=official,
    operation=operation,
    minimum=minimum,
    check=check,
    serve_args=("--quirk", "one-host"),
)

if __name__ == "__main__":
    sys.exit(main(services=["omics"]))
