"""The four HTTP providers as the CLI meets them, for tests that run one scenario on
each: the queue, the write requests, a spec and the environment (endpoint, token)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from hostile_server import Answer, HostileServer


@dataclass(frozen=True)
class Service:
    name: str
    queue: str
    method: str
    write_path: str  # part of the path of the write requests
    spec: Callable[[str, str], str]  # (endpoint, queue) -> spec text
    env: Callable[[str, str, Path], dict[str, str | None]]  # (url, token, home) -> environment


def _spec(provider: str, rule: str) -> Callable[[str, str], str]:
    def text(endpoint: str, queue: str) -> str:
        return (
            f'version: 1\nprovider: {{type: {provider}, endpoint: "{endpoint}"}}\n'
            f'queues:\n  - id: "{queue}"\n    safety: {{max_change_percent: 100}}\n'
            f"    rules:\n      - name: mark\n        {rule}\n"
        )

    return text


SERVICES = {
    "synapse": Service(
        "synapse",
        "9615000",
        "PUT",
        "/statusBatch",
        _spec("synapse", "where: {status: RECEIVED}\n        set: {status: VALIDATED}"),
        lambda url, token, home: {"SYNAPSE_AUTH_TOKEN": token, "HOME": str(home)},
    ),
    "workflow-results": Service(
        "workflow-results",
        "frb-search",
        "PUT",
        "/results",
        lambda endpoint, queue: _spec("workflow-results", "where: {}\n        set: {tags: [reviewed]}")(
            endpoint, queue
        ).replace(f', endpoint: "{endpoint}"', ""),
        lambda url, token, home: {"WORKFLOW_HTTP_BASEURL": url, "WORKFLOW_HTTP_TOKEN": token, "HOME": str(home)},
    ),
    "datamaker": Service(
        "datamaker",
        "7",
        "POST",
        "set_tags",
        _spec("datamaker", "where: {}\n        set: {tags: [scored]}"),
        lambda url, token, home: {
            "SYNAPSE_ACCESS_TOKEN": token,
            "HOME": str(home),
            "SYNAPSE_HOST": None,
            "SYNAPSE_PLUGIN_RUN_TENANT": None,
        },
    ),
    "supervisely": Service(
        "supervisely",
        "1",
        "POST",
        ".update",
        _spec("supervisely", 'where: {}\n        set: {tags: {phase: "one"}}'),
        lambda url, token, home: {"API_TOKEN": token, "HOME": str(home), "SERVER_ADDRESS": None},
    ),
}


def write_spec(service: Service, url: str, directory: Path) -> Path:
    spec = directory / "spec.yaml"
    spec.write_text(service.spec(url, service.queue))
    return spec


def datamaker_pages(server: HostileServer, endless: bool) -> Callable[[Any], Answer]:
    """A datamaker project: tag `scored`, and pages of 100 new task ids under a `count`
    that never moves, each page's `next` link new (endless), or one page (baseline)."""

    def answer(request):
        query = parse_qs(urlsplit(request.path).query)
        if request.path.startswith("/task_tags/"):
            rows = [{"id": 51, "name": "scored", "project": 7}]
            return Answer(body=json.dumps({"count": 1, "next": None, "results": rows}))
        if "tags" in query:
            return Answer(body=json.dumps({"count": 0, "next": None, "results": []}))
        page = int(query.get("page", ["0"])[0])
        rows = [{"id": 100 * page + i, "project": 7, "tags": []} for i in range(1, 101)]
        more = f"{server.url}/sdk/tasks/?project=7&page={page + 1}" if endless else None
        return Answer(body=json.dumps({"count": 10**9 if endless else 100, "results": rows, "next": more}))

    return answer
