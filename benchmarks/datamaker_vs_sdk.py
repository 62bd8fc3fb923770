"""datamaker task tags: reconciler against synapse-sdk's per-task set_tags (BENCHMARKS.md).

The job: every task of project 7 carries the project tag `scored`. The store holds N
tasks; the drifted ones lack it, the others have it. The project has the fake's four
tags (accepted, locked, rejected, scored).

The SDK's way (`synapse-sdk` 2026.2.17, which needs Python 3.12 and so cannot be
installed here): its exact wire calls, replayed with plain `requests` as
tests/sandbox/test_datamaker_sdk_wire.py does: `list_task_tags(project)` for the tag id,
`list_tasks(project, list_all=True)` for the task ids and `list_tasks(project,
tags=<scored>, fields=id)` for who has it already (`page_size=100` on the first request,
then DRF's `next` links), then one `set_tags_tasks({"ids": [task], "tags": [scored]})`
per task that lacks it: `POST tasks/set_tags/`, sequential.

    python benchmarks/datamaker_vs_sdk.py [--sizes 1000,10000] [--drifts 0.1,1] [--latencies 0,50]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from service_bench import Service, build_store, ceil_div, changes, drifted, main

TOKEN = "bench-datamaker-token"
PROJECT = 7
FIRST = 200_001
TAG_COUNT = 4  # the fake's project tags: accepted, locked, rejected, scored
SPEC = f"""version: 1
provider: {{type: datamaker, endpoint: "{{url}}"}}
queues:
  - id: "{PROJECT}"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: score-all, where: {{}}, set: {{tags: [scored]}}}}
"""


def prepare(db: Path, n: int, drift: float) -> None:
    build_store(
        "datamaker",
        db,
        str(PROJECT),
        ({"id": str(FIRST + i), **({} if drifted(i, drift) else {"tags": {"scored": True}})} for i in range(n)),
    )


def minimum(n: int, drift: float) -> dict[str, int]:
    """plan: ceil(T/100) tag pages + 1 count (offset page 1 of one row) + per tag
    max(1, ceil(n_t/100)) membership pages + ceil(N/100) cursor pages of tasks; apply: per
    1,000 changes ceil(b/100) × (1 + 2) guard pages (existence, `scored`, the lock tag) +
    ceil(C/200) set_tags (one group: add scored)."""
    c = changes(n, drift)
    guard = sum(ceil_div(min(1000, c - start), 100) * 3 for start in range(0, c, 1000))
    membership = max(1, ceil_div(n - c, 100)) + (TAG_COUNT - 1)
    return {
        "task_tags": ceil_div(TAG_COUNT, 100),
        "sdk/tasks": 1 + membership + max(1, ceil_div(n, 100)) + guard,
        "tasks/set_tags": ceil_div(c, 200),
    }


def operation(entry: Mapping[str, Any]) -> str:
    return entry["path"].strip("/")


def official(url: str, sample: int):
    import requests

    session = requests.Session()  # BaseClient keeps one
    base = url.rstrip("/")
    headers = {"Synapse-Access-Token": f"Token {TOKEN}"}

    def get(path: str, params: dict | None = None) -> Any:
        target = path if path.startswith("http") else f"{base}/{path}"
        response = session.get(target, headers=headers, params=params, timeout=(5, 60))
        response.raise_for_status()
        return response.json()

    def list_all(params: dict, stop_after: int | None = None):
        """`_list(list_all=True)`: page_size=100 on the first request, then `next`."""
        page = get("sdk/tasks/", {**params, "page_size": 100})
        yield from page["results"]
        while page.get("next"):
            if stop_after is not None and page["results"] and page["results"][-1]["id"] > stop_after:
                return  # the sample's ids are all read (pages come in id order)
            page = get(page["next"])
            yield from page["results"]

    def loop() -> int:
        tags = get("task_tags/", {"project": PROJECT})["results"]
        scored = next(t["id"] for t in tags if t["name"] == "scored")
        ids = []
        for row in list_all({"project": PROJECT}):
            ids.append(row["id"])
            if len(ids) == sample:
                break
        last = ids[-1] if ids else 0
        have = {row["id"] for row in list_all({"project": PROJECT, "tags": scored, "fields": "id"}, last)}
        for task_id in ids:
            if task_id not in have:  # set_tags_tasks: SetTagsRequest(ids, tags, action='add')
                response = session.post(
                    f"{base}/tasks/set_tags/",
                    data=json.dumps({"ids": [task_id], "tags": [scored], "action": "add"}),
                    headers={**headers, "Content-Type": "application/json"},
                    timeout=(5, 60),
                )
                response.raise_for_status()
        return len(ids)

    return loop


def check(db: Path, n: int, drift: float, limit: int) -> list[str]:
    from reconciler.sandbox.docstore import DocStore

    store = DocStore(db)
    try:
        scored = next(t["id"] for t in store.iterate("task_tags") if t["name"] == "scored" and t["project"] == PROJECT)
        problems = []
        for i in range(limit):
            task = store.get("tasks", str(FIRST + i))
            if task is None or task["tags"] != [scored]:
                problems.append(f"task {FIRST + i}: {task and task['tags']}")
        return problems
    finally:
        store.close()


SERVICE = Service(
    name="datamaker",
    token=TOKEN,
    official_name="SDK set_tags per task (requests, sequential)",
    prepare=prepare,
    spec=lambda url: SPEC.replace("{url}", url),
    env=lambda url: {"SYNAPSE_ACCESS_TOKEN": TOKEN},
    official=official,
    operation=operation,
    minimum=minimum,
    check=check,
    once=frozenset({"task_tags"}),
)

if __name__ == "__main__":
    sys.exit(main(services=["datamaker"]))
