"""One event, one wording, on every HTTP provider (providers/service_client.py).

Each event is driven over real HTTP on loopback (the `hostile` server, or a port where
nothing listens) against the first request each provider's listing sends, and the
message is held to ONE template per event: the provider only chooses its service's name,
its token help, and where its error body keeps the reason.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import pytest
from hostile_server import Answer

from reconciler.auth import HOW_TO as SYNAPSE_HOW_TO
from reconciler.errors import ConfigError, ProviderError
from reconciler.model import QueueSpec, Source
from reconciler.providers import datamaker, supervisely, workflow_results
from reconciler.providers.base import Provider
from reconciler.providers.datamaker import DatamakerProvider
from reconciler.providers.supervisely import SuperviselyProvider
from reconciler.providers.synapse import SynapseProvider
from reconciler.providers.workflow_results import WorkflowResultsProvider

TOKEN = "s3cret-token-value"
FAST = {"retries": 0, "backoff": 0.0, "timeout": (1.0, 0.3)}


@dataclass(frozen=True)
class Service:
    open: Callable[[str], Provider]  # endpoint → provider (token TOKEN, no retries)
    prefix: str  # the endpoint's path under the server
    queue: str
    method: str  # of the listing's first request
    first: str  # its path under the endpoint, as messages show it
    name: str  # how messages name the service
    help: str  # where the token comes from
    error: Callable[[str], dict[str, Any]]  # an error body carrying a reason, in the service's shape


SERVICES = {
    "synapse": Service(
        lambda url: SynapseProvider(url, TOKEN, **FAST),
        "/repo/v1",
        "9615000",
        "GET",
        "/evaluation/9615000/submission/status/all?limit=100&offset=0",
        "Synapse",
        SYNAPSE_HOW_TO,
        lambda reason: {"reason": reason},
    ),
    "workflow-results": Service(
        lambda url: WorkflowResultsProvider(url, TOKEN, **FAST),
        "/workflow/results",
        "pipe",
        "POST",
        "/view/count",
        "the workflow Results server",
        f"set one of {', '.join(workflow_results.TOKEN_ENVS)} to a token it accepts",
        lambda reason: {"error": reason},
    ),
    "datamaker": Service(
        lambda url: DatamakerProvider(url, TOKEN, **FAST),
        "/api",
        "7",
        "GET",
        "/task_tags/",
        "datamaker",
        datamaker.HOW_TO,
        lambda reason: {"detail": reason},
    ),
    "supervisely": Service(
        lambda url: SuperviselyProvider(url, TOKEN, **FAST),
        "",
        "7",
        "POST",
        "/public/api/v3/tasks.list",
        "Supervisely",
        supervisely.HOW_TO,
        lambda reason: {"error": reason},
    ),
}

# One template per event, whatever the service
REFUSED = "cannot connect to {endpoint}: connection refused; is the server running, on that port?"
NO_ANSWER = "{method} {url}: no response after retries (ReadTimeoutError)"
TOKEN_REFUSED = "{name} refused the token (HTTP 401: {reason}); {help}"
STATUS = "{method} {url} failed (HTTP 418): {reason}"
NOT_JSON = "unexpected response from {url}: the body is not JSON"
SHAPE = "unexpected response from {url}: "

NAMES = sorted(SERVICES)


def queue(service: Service) -> QueueSpec:
    return QueueSpec(id=service.queue, source=Source("spec.yaml", 1))


def listing_error(service: Service, endpoint: str) -> BaseException:
    with service.open(endpoint) as provider, pytest.raises((ProviderError, ConfigError)) as caught:
        provider.list_items(queue(service))
    return caught.value


def served(hostile, service: Service, answer: Answer) -> tuple[str, BaseException]:
    hostile.route("/", answer)
    endpoint = hostile.url + service.prefix
    return endpoint, listing_error(service, endpoint)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_listening_names_the_fix(name):
    service = SERVICES[name]
    with socket.socket() as bound:  # bound but not listening: every connect is refused
        bound.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{bound.getsockname()[1]}{service.prefix}"
        error = listing_error(service, endpoint)
    assert str(error) == REFUSED.format(endpoint=endpoint)


@pytest.mark.parametrize("name", NAMES)
def test_no_answer_after_retries(hostile, name):
    service = SERVICES[name]
    endpoint, error = served(hostile, service, Answer(body=b"{}", trickle=1.0))
    assert str(error) == NO_ANSWER.format(method=service.method, url=endpoint + service.first)


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_token_says_where_the_token_comes_from_without_showing_it(hostile, name):
    service = SERVICES[name]
    _endpoint, error = served(hostile, service, Answer(401, body=_json(service.error(f"bad token {TOKEN}"))))
    assert isinstance(error, ConfigError)
    assert str(error) == TOKEN_REFUSED.format(name=service.name, reason="bad token ***", help=service.help)


@pytest.mark.parametrize("name", NAMES)
def test_a_status_is_shown_with_the_services_reason_redacted(hostile, name):
    service = SERVICES[name]
    endpoint, error = served(hostile, service, Answer(418, body=_json(service.error(f"teapot; {TOKEN}"))))
    assert str(error) == STATUS.format(method=service.method, url=endpoint + service.first, reason="teapot; ***")


@pytest.mark.parametrize("name", NAMES)
def test_a_body_that_is_not_json(hostile, name):
    service = SERVICES[name]
    endpoint, error = served(hostile, service, Answer(body=b"<html>maintenance</html>", content_type="text/html"))
    assert str(error) == NOT_JSON.format(url=endpoint + service.first)


@pytest.mark.parametrize("name", NAMES)
def test_an_answer_of_the_wrong_shape(hostile, name):
    service = SERVICES[name]
    endpoint, error = served(hostile, service, Answer(body=b'{"unexpected": true}'))
    assert str(error).startswith(SHAPE.format(url=endpoint + service.first)) and "\n" not in str(error)


def _json(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()
