"""Bad input through the CLI: exit 1, one located message per problem, no traceback,
nothing on stdout, and not a single request sent to the service."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cli_helpers import run_cli

BAD = Path(__file__).resolve().parent / "specs" / "bad"
CORPUS = sorted(p.name for p in BAD.iterdir())
GOOD_SYNAPSE = """version: 1
provider: {{type: synapse, endpoint: "{url}"}}
queues:
  - id: "9615000"
    safety: {{max_change_percent: 100}}
    rules:
      - {{name: accept, where: {{status: RECEIVED}}, set: {{status: ACCEPTED}}}}
"""


def point_at(tmp_path: Path, name: str, url: str) -> Path:
    """A private copy of one corpus entry whose synapse provider targets the sandbox."""
    source = BAD / name
    if source.is_dir():
        shutil.copytree(source, tmp_path / name)
        target = tmp_path / name / "spec.yaml"
    else:
        target = tmp_path / name
        shutil.copy(source, target)
    raw = target.read_bytes()
    target.write_bytes(raw.replace(b"{type: synapse}", f'{{type: synapse, endpoint: "{url}"}}'.encode()))
    return target


@pytest.mark.parametrize("name", CORPUS)
@pytest.mark.parametrize("command", [("validate",), ("plan",), ("apply", "--auto-approve")])
def test_bad_spec_is_refused_before_anything_is_sent(sandbox, tmp_path, name, command):
    spec = point_at(tmp_path, name, sandbox.url)
    result = run_cli(*command, spec, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.err
    assert "Traceback" not in result.err
    assert re.match(r"error: [^:]+(:\d+(:\d+)?)?: ", lines[0]), lines[0]
    assert sandbox.request_log() == []
    assert not (spec.parent / "state.db").exists() and not (spec.parent / ".reconciler").exists()


@pytest.fixture
def plan_file(sandbox, tmp_path):
    sandbox.store.create_queue("9615000")
    from reconciler.store import NewItem

    sandbox.store.insert("9615000", [NewItem(id=str(9700001 + i)) for i in range(3)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(GOOD_SYNAPSE.format(url=sandbox.url))
    out = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", out, env={"SYNAPSE_AUTH_TOKEN": sandbox.token}).code == 0
    return out


def _edit(path: Path, change, *, reseal: bool) -> Path:
    """Edit a plan file; `reseal` recomputes its checksum, as a deliberate forger would,
    so the checks behind the checksum are exercised too."""
    from reconciler.planfile import _checksum

    doc = json.loads(path.read_text())
    change(doc)
    if reseal:
        doc.pop("checksum")
        doc["checksum"] = _checksum(doc)
    path.write_text(json.dumps(doc, indent=2))
    return path


def _retarget(doc: dict, endpoint: str) -> None:
    doc["provider"]["endpoint"] = endpoint


BAD_PLANS = {
    "tampered": (lambda d: d["queues"][0]["changes"][0]["after"].update(status="SCORED"),
                 "plan file was modified after it was written (checksum mismatch)"),
    "wrong-version": (lambda d: d.update(format_version=2),
                      "unsupported plan format_version 2 (this reconciler reads 1)"),
    "non-loopback-http": (lambda d: _retarget(d, "http://10.255.255.1/repo/v1"), "http"),
    "unknown-provider": (lambda d: d["provider"].update(type="ftp"), "ftp"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("show",)])
def test_bad_plan_file_is_refused_before_anything_is_sent(sandbox, plan_file, case, command):
    change, expected = BAD_PLANS[case]
    _edit(plan_file, change, reseal=case != "tampered")
    before = len(sandbox.request_log())
    result = run_cli(*command, plan_file, env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    if command[0] == "show" and case in ("non-loopback-http", "unknown-provider"):
        return  # show only prints; the endpoint is judged when applying (checksum aside)
    assert result.code == 1
    assert expected in result.err and result.err.startswith("error: ")
    assert "Traceback" not in result.err
    assert sandbox.request_log()[before:] == []


@pytest.mark.parametrize("text,expected", [
    ("", "plan.json:"),
    ('{"format_version": 1, "queues": [', "plan.json:1:"),
    ("\xff\xfe not json", "plan.json:"),
])
def test_truncated_or_garbage_plan_files(sandbox, tmp_path, text, expected):
    path = tmp_path / "plan.json"
    path.write_bytes(text.encode("latin-1"))
    result = run_cli("apply", path, "--auto-approve", env={"SYNAPSE_AUTH_TOKEN": sandbox.token})
    assert result.code == 1 and expected in result.err and "Traceback" not in result.err
    assert sandbox.request_log() == []
