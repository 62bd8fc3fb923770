"""A distinctive token never appears in stdout, stderr, plan files, request logs, log
records or exceptions, in clear or encoded, on any path through the CLI."""

from __future__ import annotations

import base64
import logging
import re
import traceback
import urllib.parse

import pytest

from cli_helpers import run_cli
from reconciler import http
from reconciler.model import QueueSpec, Source
from reconciler.providers.base import ProviderError
from reconciler.providers.synapse import SynapseProvider

TOKEN = "tok-SECRET-7f3a9c"
FORMS = [
    TOKEN,
    base64.b64encode(TOKEN.encode()).decode(),
    base64.b64encode(TOKEN.encode()).decode().rstrip("="),
    base64.urlsafe_b64encode(TOKEN.encode()).decode(),
    urllib.parse.quote(TOKEN),
    urllib.parse.quote(f"Bearer {TOKEN}"),
    TOKEN.encode().hex(),
    TOKEN[::-1],
    "SECRET-7f3a9c",  # a part of it
]
UNREACHABLE = "http://127.0.0.1:9/repo/v1"  # nothing listens on the discard port


def spec_for(directory, url):
    directory.mkdir(exist_ok=True)
    spec = directory / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\n'
        'queues:\n  - id: "9615000"\n    safety: {max_change_percent: 100}\n'
        "    rules:\n      - {name: accept, where: {status: RECEIVED}, set: {status: ACCEPTED, tags: {k: 1}}}\n"
    )
    return spec


def assert_no_token(text: str) -> None:
    for form in FORMS:
        assert form not in text


def test_token_never_leaks_through_any_cli_path(make_sandbox, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(http, "MAX_BACKOFF", 0.0)  # the unreachable endpoint fails at once
    good = make_sandbox(token=TOKEN, synthetic=[("9615000", 120)])
    other = make_sandbox(token="another-token", synthetic=[("9615000", 3)])
    env = {"SYNAPSE_AUTH_TOKEN": TOKEN}
    spec = spec_for(tmp_path / "good", good.url)
    wrong_token = spec_for(tmp_path / "wrong", other.url)
    plan_file, json_plan = tmp_path / "plan.json", tmp_path / "plan-stdout.json"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"version: 1\nprovider: {{type: synapse, token: {TOKEN}}}\nqueues: []\n")
    caplog.set_level(logging.DEBUG)
    runs = {
        "validate": run_cli("validate", spec, env=env),
        "plan -v": run_cli("-v", "plan", spec, env=env),
        "plan -vv -o": run_cli("-vv", "plan", spec, "-o", plan_file, env=env),
        **{f"plan --format {f}": run_cli("plan", spec, "--format", f, env=env) for f in ("json", "markdown", "github")},
        **{
            f"show --format {f}": run_cli("show", plan_file, "--format", f, env=env)
            for f in ("text", "json", "markdown")
        },
        "apply plan file": run_cli("-v", "apply", plan_file, "--auto-approve", env=env),
        "apply spec": run_cli("-vv", "apply", spec, "--auto-approve", env=env),
        "plan, 401": run_cli("-v", "plan", wrong_token, env=env),
        "apply, 401": run_cli("-v", "apply", wrong_token, "--auto-approve", env=env),
        "unreachable": run_cli("-v", "plan", spec_for(tmp_path / "dead", UNREACHABLE), env=env),
        "remote http": run_cli("plan", spec_for(tmp_path / "remote", "http://10.255.255.1/repo/v1"), env=env),
        "token in spec": run_cli("plan", bad, env=env),
    }
    json_plan.write_text(runs["plan --format json"].out)
    assert [name for name, r in runs.items() if r.code != 0] == [
        "plan, 401",
        "apply, 401",
        "unreachable",
        "remote http",
        "token in spec",
    ]
    refused = (
        "error: Synapse refused the token (HTTP 401: Invalid access token.); set SYNAPSE_AUTH_TOKEN "
        "or add `authtoken = <token>` under [authentication] in ~/.synapseConfig (a Synapse "
        "personal access token with view and modify scopes)\n"
    )
    assert runs["plan, 401"].err.endswith(refused) and runs["apply, 401"].err.endswith(refused)
    assert runs["unreachable"].err.endswith(  # refused: not retried, and the fix is named
        f"error: cannot connect to {UNREACHABLE}: connection refused; is the server running, on that port?\n"
    )
    assert runs["token in spec"].err == (
        f"error: {bad}:2:27: secrets do not belong in a spec: remove 'token' (use SYNAPSE_AUTH_TOKEN)\n"
        f"error: {bad}:3:9: must not be empty\n"
    )
    assert "Apply complete: 120 applied," in runs["apply plan file"].out
    haystacks = {f"{name} stdout+stderr": r.out + r.err for name, r in runs.items()}
    haystacks.update(
        {
            "plan file": plan_file.read_text(),
            "plan --format json": json_plan.read_text(),
            "request log (good token)": good.log_path.read_text(),
            "request log (other token)": other.log_path.read_text(),
            "log records": "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records),
        }
    )
    for name, text in haystacks.items():
        assert text, name
        assert_no_token(text)


def test_verbose_logs_say_method_path_status_and_time_and_nothing_of_the_credential(sandbox, tmp_path):
    spec = spec_for(tmp_path, sandbox.url)
    sandbox.store.create_queue("9615000")
    result = run_cli("-v", "plan", spec, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 0
    (line,) = [line for line in result.err.splitlines() if line.startswith("INFO reconciler.http: ")]
    assert re.fullmatch(
        r"INFO reconciler\.http: GET /repo/v1/evaluation/9615000/submission/status/all"
        r"\?limit=100&offset=0 -> 200 in \d+ ms",
        line,
    )
    for secret in (sandbox.token, "Authorization", "Bearer"):
        assert secret not in result.err


def queue() -> QueueSpec:
    return QueueSpec(id="9615000", source=Source("spec.yaml", 3))


def exception_texts(exc: BaseException) -> str:
    """Everything an exception could show: str, repr, args and the whole chain as a
    traceback would print it, suppressed context included."""
    texts = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(texts)


@pytest.mark.parametrize("case", ["refused token", "unreachable"])
def test_provider_exceptions_carry_no_token_anywhere_in_their_chain(make_sandbox, monkeypatch, case):
    monkeypatch.setattr(http, "MAX_BACKOFF", 0.0)
    url = make_sandbox(token="another-token").url if case == "refused token" else UNREACHABLE
    provider = SynapseProvider(url, TOKEN, retries=1, backoff=0.0)
    with pytest.raises(ProviderError) as caught:
        provider.list_items(queue())
    assert_no_token(exception_texts(caught.value))
    assert_no_token(repr(vars(provider)))
