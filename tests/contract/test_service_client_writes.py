"""A write the service refuses with a status reads the same on every HTTP service:
`WHAT failed (HTTP N): REASON`, REASON in the service's words (providers/service_client.py).
The reads' events are asserted in tests/providers/test_service_client.py."""

from __future__ import annotations

import re

import pytest
from contract.test_providers import review_queue, spec_of

from reconciler.apply import apply_plan
from reconciler.planner import build_plan

HTTP_SERVICES = ["datamaker", "supervisely", "synapse", "workflow_results"]
REFUSAL = "Forbidden: the sandbox refuses further requests (refuse_after)."
STATUS = re.compile(r"\S.* failed \(HTTP 403\): " + re.escape(REFUSAL))


@pytest.mark.parametrize("backend", HTTP_SERVICES, indirect=True)
def test_a_refused_write_is_worded_once_on_every_service(backend):
    provider, fresh = backend.make(1)
    queue = review_queue(backend, fresh)
    with provider:
        result = build_plan(spec_of(provider, queue), provider)
        # every write (a part of its path; Synapse's backend names none): 403
        backend.fake.faults.refuse_after(0, backend.write_path or "statusBatch")
        report = apply_plan(result.plan, provider, result.queues)
        backend.fake.faults.refuse_after(None)
    [outcome] = report.results
    assert outcome.outcome == "failed", outcome
    # the provider's own framing ("evaluation Q: ", "not written: ") around one wording
    assert STATUS.search(outcome.detail) and outcome.detail.endswith(REFUSAL), outcome.detail
