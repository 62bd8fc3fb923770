"""workflow Results: reconciler against workflow-core's `Results.update` / `lock` (BENCHMARKS.md).

The job: every `failure` work of pipeline `bench-pipeline` carries the label `reviewed`
and is locked (`results.locked: true`). The store holds N works (the fake's synthetic
works); the drifted ones are `failure`, the others `success`.

The official client's way (`workflow-core` 1.12.3, installed, used unchanged): page
through `Results.view(pipeline, {}, skip, limit=100)` (its default page), and per page
`Results.update(works)` with the label added to each failure work, then
`Results.lock(pipeline, ids)` (its `get_by_id` view, then a PUT of the whole documents).
Both take lists, so a page is two writes and one read, sequential. The client's
constructor probe (`HEAD /version`) is sent before the clock starts and not counted; its
calls close their session after each request (`with self.session`), as it does.

    python benchmarks/workflow_results_vs_client.py [--sizes 1000,10000] [--drifts 0.1,1] [--latencies 0,50]
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from service_bench import Service, ceil_div, changes, drifted, main

TOKEN = "bench-workflow-token"
PIPELINE = "bench-pipeline"
LABEL = "reviewed"
SPEC = f"""version: 1
provider: {{type: workflow-results, endpoint: "{{url}}"}}
queues:
  - id: "{PIPELINE}"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: review-failures, where: {{status: failure}}, set: {{tags: [{LABEL}], locked: true}}}}
"""


def prepare(db: Path, n: int, drift: float) -> None:
    from reconciler.sandbox.server import SandboxConfig, build_fake

    fake = build_fake(SandboxConfig(token=TOKEN, service="workflow-results", db_path=db, synthetic=[(PIPELINE, n)]))
    try:
        with fake.store.transaction():
            for i, work in enumerate(fake.store.all(PIPELINE)):
                if drifted(i, drift):
                    fake.store.put(PIPELINE, work["id"], {**work, "status": "failure"})
    finally:
        fake.close()


def minimum(n: int, drift: float) -> dict[str, int]:
    """plan: 1 count + ceil(N/100) pages + 1 id listing; apply: per 100 changes one
    re-read (the guard), one PUT (label and lock together) and one read-back (a
    concurrent whole-document PUT may have erased it)."""
    c = changes(n, drift)
    return {
        "POST /view/count": 1,
        "POST /view": ceil_div(n, 100) + 1 + 2 * ceil_div(c, 100),
        "PUT /results": ceil_div(c, 100),
    }


def operation(entry: Mapping[str, Any]) -> str:
    return f"{entry['method']} {entry['path']}"


def official(url: str, sample: int):
    import requests

    os.environ.update(WORKFLOW_HTTP_BASEURL=url, WORKFLOW_HTTP_TOKEN=TOKEN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic-settings: /run/secrets does not exist
        from workflow.http.results import Results

        results = Results(session=requests.Session())  # its default Session is shared by all

    def loop() -> int:
        done = 0
        while done < sample:
            page = results.view(PIPELINE, {}, skip=done, limit=100)[: sample - done]
            if not page:
                break
            todo = [w for w in page if w["status"] == "failure"]
            for work in todo:
                if LABEL not in (work.get("tags") or []):
                    work["tags"] = (work.get("tags") or []) + [LABEL]
            if todo:
                results.update(todo)
                results.lock(PIPELINE, [w["id"] for w in todo])
            done += len(page)
        return done

    return loop


def check(db: Path, n: int, drift: float, limit: int) -> list[str]:
    from reconciler.sandbox.docstore import DocStore

    store = DocStore(db)
    try:
        problems = []
        for i, work in enumerate(store.iterate(PIPELINE)):
            if i >= limit:
                break
            want = ("failure", [LABEL], True) if drifted(i, drift) else ("success", None, False)
            if (work["status"], work.get("tags"), (work.get("results") or {}).get("locked")) != want:
                problems.append(f"work {work['id']}: {work['status']} {work.get('tags')} {work.get('results')}")
        return problems
    finally:
        store.close()


SERVICE = Service(
    name="workflow-results",
    token=TOKEN,
    official_name="workflow-core Results.update + lock per page",
    prepare=prepare,
    spec=lambda url: SPEC.replace("{url}", url),
    env=lambda url: {"WORKFLOW_HTTP_TOKEN": TOKEN},
    official=official,
    operation=operation,
    minimum=minimum,
    check=check,
)

if __name__ == "__main__":
    sys.exit(main(services=["workflow-results"]))
