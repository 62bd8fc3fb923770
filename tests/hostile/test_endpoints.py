"""An endpoint holding a user and password is refused, and no message prints the
password, wherever the endpoint came from (issue 29 item 8): the spec, or each HTTP
provider's environment variable; in validate and in plan."""

from __future__ import annotations

import pytest

from cli_helpers import run_cli
from reconciler.errors import ConfigError
from reconciler.netcheck import check_endpoint, shown_url
from service_cli import SERVICES

PASSWORD = "s3cr3t-Pa55word"
BAD = [
    f"http://user:{PASSWORD}@127.0.0.1:99999",  # port out of range
    f"https://user:{PASSWORD}@example.org:80x/api",  # port not a number
    f"https://user:{PASSWORD}@[not-an-ip]/",  # bad host
    f"ftp://user:{PASSWORD}@example.org/",  # bad scheme
    f"http://user:{PASSWORD}@example.org/",  # plain http, remote
    f"https://user:{PASSWORD}@example.org/",  # well-formed, with credentials
    f"https://user:pa/ss@{PASSWORD}@example.org/",  # unencoded / and @ in the password
]
ENV = {"workflow-results": "WORKFLOW_HTTP_BASEURL", "datamaker": "SYNAPSE_HOST", "supervisely": "SERVER_ADDRESS"}


@pytest.mark.parametrize("url", BAD)
def test_check_endpoint_refuses_without_printing_the_password(url):
    with pytest.raises(ConfigError) as refused:
        check_endpoint(url)
    assert PASSWORD not in str(refused.value) and "pa/ss" not in str(refused.value)


def test_shown_url_keeps_what_is_not_a_credential():
    assert shown_url("https://example.org/api") == "https://example.org/api"
    assert shown_url(f"http://u:{PASSWORD}@127.0.0.1:99999/x") == "http://***@127.0.0.1:99999/x"
    assert shown_url(f"u:{PASSWORD}@host") == "***@host"


@pytest.mark.parametrize("url", BAD)
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_an_endpoint_with_a_password_in_the_spec_is_refused_without_printing_it(tmp_path, name, url):
    service = SERVICES[name]
    spec = tmp_path / "spec.yaml"
    text = service.spec("ENDPOINT", service.queue)
    if '"ENDPOINT"' not in text:  # workflow-results reads it from the environment by default
        text = text.replace(f"type: {name}", f'type: {name}, endpoint: "ENDPOINT"')
    spec.write_text(text.replace("ENDPOINT", url))
    env = service.env("unused", "token-1234567890", tmp_path)
    for command in ("validate", "plan"):
        result = run_cli(command, spec, env=env)
        assert result.code == 1, (command, result.out, result.err)
        assert PASSWORD not in result.out + result.err, (command, result.err)


@pytest.mark.parametrize("url", BAD)
@pytest.mark.parametrize("name", sorted(ENV))
def test_an_endpoint_with_a_password_in_the_environment_is_refused_without_printing_it(tmp_path, name, url):
    service = SERVICES[name]
    spec = tmp_path / "spec.yaml"
    spec.write_text(service.spec("ENDPOINT", service.queue).replace(', endpoint: "ENDPOINT"', ""))
    env = {**service.env("unused", "token-1234567890", tmp_path), ENV[name]: url}
    result = run_cli("plan", spec, env=env)
    assert result.code == 1, (result.out, result.err)
    assert PASSWORD not in result.out + result.err, result.err
