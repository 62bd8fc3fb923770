"""Supervisely tasks: reconciler against the SDK's per-task calls (BENCHMARKS.md).

The job: every task of workspace 23821 still `started` is set `stopped` and tagged
`reviewed=yes` (in meta `reconciler_tags`). The store holds N tasks; the drifted ones are
`started`, the others `finished`; every third task carries an app's `app` meta key,
which must survive.

The SDK's way (`supervisely` 6.74.51): `api.task.get_list(workspace)`, then per task
`api.task.update_status(id, STOPPED)` and `api.task.update_meta(id, {...meta, tags})`.
The SDK is too heavy for CI (about 800 MB installed), so its exact wire calls are
replayed with plain `requests`, as `tests/sandbox/test_supervisely.py` checks them
against a recording of the real SDK (benchmarks/supervisely_sdk_check.py): one
`requests.post` per call (module-level, no session, as the SDK's `Api.post` does), the
first `tasks.list` page without `page`/`per_page`, then pages 2.. with the answer's
`perPage`, sequential.

    python benchmarks/supervisely_vs_sdk.py [--sizes 1000,10000] [--drifts 0.1,1] [--latencies 0,50]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from service_bench import Service, build_store, ceil_div, changes, drifted, main

TOKEN = "bench-supervisely-token-0123456789"
WORKSPACE = 23821
FIRST = 100_001
TAGS_KEY = "reconciler_tags"
APP = {"app": {"id": 10370, "name": "Sandbox App", "version": "v1"}}
SPEC = f"""version: 1
provider: {{type: supervisely, endpoint: "{{url}}"}}
queues:
  - id: "{WORKSPACE}"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: stop-started, where: {{status: started}}, set: {{status: stopped, tags: {{reviewed: "yes"}}}}}}
"""


def prepare(db: Path, n: int, drift: float) -> None:
    build_store(
        "supervisely",
        db,
        str(WORKSPACE),
        (
            {
                "id": str(FIRST + i),
                "status": "started" if drifted(i, drift) else "finished",
                "extra": {"meta": APP} if i % 3 == 0 else {},
            }
            for i in range(n)
        ),
    )


def minimum(n: int, drift: float) -> dict[str, int]:
    """plan: ceil(N/500) tasks.list; apply: per 50 changes two tasks.list (the guard's
    re-read and the read-back of what landed: the write answers say nothing), per
    change one tasks.status.update and one tasks.meta.update."""
    c = changes(n, drift)
    return {
        "tasks.list": max(1, ceil_div(n, 500)) + 2 * ceil_div(c, 50),
        "tasks.status.update": c,
        "tasks.meta.update": c,
    }


def operation(entry: Mapping[str, Any]) -> str:
    return entry["path"].removeprefix("/public/api/v3/")


def official(url: str, sample: int):
    import requests

    api = f"{url}/public/api/v3/"
    headers = {"x-api-key": TOKEN}  # the SDK's whole header dict

    def post(method: str, body: dict) -> Any:
        response = requests.post(api + method, json=body, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json()

    def loop() -> int:
        # api.task.get_list(WORKSPACE): page 1 as sent by the SDK, then 2.. with perPage
        query = {"workspaceId": WORKSPACE, "filter": [], "sort": "id", "sort_order": "asc"}
        first = post("tasks.list", query)
        tasks, page = list(first["entities"]), 2
        while page <= first["pagesCount"] and len(tasks) < sample:
            tasks += post("tasks.list", {**query, "page": page, "per_page": first["perPage"]})["entities"]
            page += 1
        tasks = tasks[:sample]
        for task in tasks:
            if task["status"] != "started":
                continue
            post("tasks.status.update", {"id": task["id"], "status": "stopped"})  # api.task.update_status
            meta = {**(task.get("meta") or {}), TAGS_KEY: {"reviewed": "yes"}}
            post("tasks.meta.update", {"id": task["id"], **meta})  # api.task.update_meta
        return len(tasks)

    return loop


def check(db: Path, n: int, drift: float, limit: int) -> list[str]:
    from reconciler.sandbox.docstore import DocStore

    store = DocStore(db)
    try:
        problems = []
        for i, task in enumerate(store.iterate(f"tasks:{WORKSPACE}")):
            if i >= limit:
                break
            meta = {**(APP if i % 3 == 0 else {}), **({TAGS_KEY: {"reviewed": "yes"}} if drifted(i, drift) else {})}
            status = "stopped" if drifted(i, drift) else "finished"
            if task["id"] != FIRST + i or task["status"] != status or task["meta"] != meta:
                problems.append(f"task {task['id']}: {task['status']} {task['meta']}")
        return problems
    finally:
        store.close()


SERVICE = Service(
    name="supervisely",
    token=TOKEN,
    official_name="SDK calls (requests, sequential)",
    prepare=prepare,
    spec=lambda url: SPEC.replace("{url}", url),
    env=lambda url: {"API_TOKEN": TOKEN, "ENV": "production"},
    official=official,
    operation=operation,
    minimum=minimum,
    check=check,
)

if __name__ == "__main__":
    sys.exit(main(services=["supervisely"]))
