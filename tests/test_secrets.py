"""A distinctive token never appears in stdout, stderr, plan files, logs or errors."""
from __future__ import annotations

import base64
import logging
import urllib.parse

from cli_helpers import run_cli

TOKEN = "tok-SECRET-7f3a9c"
FORMS = [TOKEN, base64.b64encode(TOKEN.encode()).decode(), urllib.parse.quote(TOKEN), TOKEN[::-1]]


def spec_for(tmp_path, url, body=""):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{url}"}}\n'
        'queues:\n  - id: "9615000"\n    safety: {max_change_percent: 100}\n'
        '    rules:\n      - {name: accept, where: {status: RECEIVED}, set: {status: ACCEPTED, tags: {k: 1}}}\n'
        + body
    )
    return spec


def test_token_never_leaks_through_any_cli_path(make_sandbox, tmp_path, caplog):
    good = make_sandbox(token=TOKEN, synthetic=[("9615000", 120)])
    other = make_sandbox(token="another-token", synthetic=[("9615000", 3)])
    env = {"SYNAPSE_AUTH_TOKEN": TOKEN}
    spec = spec_for(tmp_path, good.url)
    plan_file = tmp_path / "plan.json"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"version: 1\nprovider: {{type: synapse, token: {TOKEN}}}\nqueues: []\n")
    (tmp_path / "wrong").mkdir()
    caplog.set_level(logging.DEBUG)
    runs = [
        run_cli("validate", spec, env=env),
        run_cli("-v", "plan", spec, env=env),
        run_cli("-vv", "plan", spec, "-o", plan_file, env=env),
        *(run_cli("plan", spec, "--format", fmt, env=env) for fmt in ("json", "markdown", "github")),
        run_cli("show", plan_file, env=env),
        run_cli("-v", "apply", plan_file, "--auto-approve", env=env),
        run_cli("-v", "apply", spec, "--auto-approve", env=env),
        run_cli("-v", "plan", spec_for(tmp_path / "wrong", other.url), env=env),  # 401
        run_cli("plan", spec_for(tmp_path / "wrong", "http://10.255.255.1/repo/v1"), env=env),  # refused
        run_cli("plan", bad, env=env),  # a token in a spec is refused without echoing it
    ]
    assert runs[-3].code == 1 and "401" in runs[-3].err
    assert runs[-1].code == 1 and "secrets do not belong in a spec" in runs[-1].err
    haystacks = [r.out + r.err for r in runs]
    haystacks.append(plan_file.read_text())
    haystacks += [good.log_path.read_text(), other.log_path.read_text()]
    haystacks.append("\n".join(r.getMessage() for r in caplog.records))
    for text in haystacks:
        for form in FORMS:
            assert form not in text
    verbose = "\n".join(r.getMessage() for r in caplog.records if r.name == "reconciler.http")
    assert "GET /repo/v1/evaluation/9615000/submission/status/all" in verbose
    assert "Authorization" not in verbose and "Bearer" not in verbose
