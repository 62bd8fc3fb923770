"""A write answered outside 2xx (a proxy's redirect, a cache's "Not Modified") with
nothing written is never reported applied (issue 29 item 1): through the CLI, against
each HTTP fake told to answer its write requests with a bare status (answer_unserved)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from cli_helpers import run_cli


@dataclass(frozen=True)
class Service:
    name: str
    queue: str
    method: str
    write_path: str  # part of the path of the write requests
    spec: Callable[[str, str], str]  # (endpoint, queue) -> spec text
    env: Callable[[object, Path], dict[str, str]]  # (sandbox, home) -> environment


def _spec(provider: str, rule: str) -> Callable[[str, str], str]:
    def text(endpoint: str, queue: str) -> str:
        return (f"version: 1\nprovider: {{type: {provider}, endpoint: \"{endpoint}\"}}\n"
                f"queues:\n  - id: \"{queue}\"\n    safety: {{max_change_percent: 100}}\n"
                f"    rules:\n      - name: mark\n        {rule}\n")
    return text


SERVICES = {
    "synapse": Service(
        "synapse", "9615000", "PUT", "/statusBatch",
        _spec("synapse", "where: {status: RECEIVED}\n        set: {status: VALIDATED}"),
        lambda sb, home: {"SYNAPSE_AUTH_TOKEN": sb.token, "HOME": str(home)}),
    "workflow-results": Service(
        "workflow-results", "frb-search", "PUT", "/results",
        lambda endpoint, queue: _spec("workflow-results", "where: {}\n        set: {tags: [reviewed]}")(
            endpoint, queue).replace(f', endpoint: "{endpoint}"', ""),
        lambda sb, home: {"WORKFLOW_HTTP_BASEURL": sb.url, "WORKFLOW_HTTP_TOKEN": sb.token, "HOME": str(home)}),
    "datamaker": Service(
        "datamaker", "7", "POST", "set_tags",
        _spec("datamaker", "where: {}\n        set: {tags: [scored]}"),
        lambda sb, home: {"SYNAPSE_ACCESS_TOKEN": sb.token, "HOME": str(home),
                          "SYNAPSE_HOST": None, "SYNAPSE_PLUGIN_RUN_TENANT": None}),
    "supervisely": Service(
        "supervisely", "1", "POST", ".update",
        _spec("supervisely", "where: {}\n        set: {tags: {phase: \"one\"}}"),
        lambda sb, home: {"API_TOKEN": sb.token, "HOME": str(home), "SERVER_ADDRESS": None}),
}


@pytest.mark.parametrize("status", [302, 304, 307])
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_write_answered_with_a_redirect_or_not_modified_is_not_applied(make_sandbox, tmp_path, name, status):
    service = SERVICES[name]
    sb = make_sandbox(service=name, synthetic=[(service.queue, 5)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(service.spec(sb.url, service.queue))
    env = service.env(sb, tmp_path)
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 2
    sb.faults.answer_unserved(status, service.method, service.write_path)
    applied = run_cli("apply", spec, "--auto-approve", env=env)
    shown = applied.out + applied.err
    assert applied.code == 1, shown
    assert not re.search(r"\b[1-9][0-9]* applied", shown), shown
    assert f"HTTP {status}" in shown, shown
    assert sb.token not in shown
    writes = [e for e in sb.request_log() if service.write_path in e["path"]]
    assert writes and all(e["status"] == status for e in writes)
    sb.faults.answer_unserved(None)
    again = run_cli("plan", spec, "--detailed-exitcode", env=env)
    assert again.code == 2 and "5 to change" in again.out, again.out + again.err
