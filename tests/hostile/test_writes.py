"""A write answered outside 2xx (a proxy's redirect, a cache's "Not Modified") with
nothing written is never reported applied (issue 29 item 1): through the CLI, against
each HTTP fake told to answer its write requests with a bare status (answer_unserved)."""

from __future__ import annotations

import re

import pytest

from cli_helpers import run_cli
from service_cli import SERVICES, write_spec


@pytest.mark.parametrize("status", [302, 304, 307])
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_write_answered_with_a_redirect_or_not_modified_is_not_applied(make_sandbox, tmp_path, name, status):
    service = SERVICES[name]
    sb = make_sandbox(service=name, synthetic=[(service.queue, 5)])
    spec = write_spec(service, sb.url, tmp_path)
    env = service.env(sb.url, sb.token, tmp_path)
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
