"""Shared fixtures: a real Synapse-compatible sandbox over HTTP on 127.0.0.1.

    def test_x(make_sandbox):
        sb = make_sandbox(synthetic=[("9615000", 12)])   # any SandboxConfig field
        requests.get(sb.url + "/evaluation/9615000/submission/status/all",
                     headers={"Authorization": f"Bearer {sb.token}"})
        sb.store.get("9700001")          # the live state, for assertions
        sb.request_log()                 # one dict per request served

`sandbox` is an empty sandbox; queues and items come from `seed=`/`synthetic=` or are
inserted through `sb.store` (`create_queue`, `insert`) before the test talks to it.
"""

from __future__ import annotations

import gc
import shutil
import textwrap
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest
import yaml

from reconciler.sandbox import RunningSandbox, SandboxConfig, start

SANDBOX_TOKEN = "sandbox-test-token"


@pytest.fixture(autouse=True)
def nothing_frozen() -> None:
    """Each test starts with no object frozen. Code meant for a command about to exit
    freezes what is alive (gcpause.py), and a later pause then freezes what it builds
    too; gc.get_objects() does not list frozen objects, so a test counting what stays
    alive after such a test in the same worker would count nothing."""
    gc.unfreeze()


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Callable[..., RunningSandbox]:
    """Start sandboxes with SandboxConfig overrides; each gets its own db and request log
    under tmp_path; all are stopped at teardown."""
    started: list[RunningSandbox] = []

    def make(**overrides: Any) -> RunningSandbox:
        n = len(started)
        options: dict[str, Any] = {
            "token": SANDBOX_TOKEN,
            "db_path": tmp_path / f"sandbox-{n}.db",
            "log_requests": tmp_path / f"sandbox-{n}.requests.jsonl",
        }
        options.update(overrides)
        running = start(SandboxConfig(**options))
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox()


@pytest.fixture
def tmp_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec (YAML text, dedented, or a dict) to tmp_path and return its path."""

    def write(content: str | dict, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(textwrap.dedent(text))
        return path

    return write


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "challenge"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A private copy of the challenge example (its local store is created inside)."""
    target = tmp_path / "challenge"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".reconciler"))
    return target / "spec.yaml"


@pytest.fixture
def hostile():
    """A HostileServer (tests/hostile_server.py) on 127.0.0.1, stopped at teardown."""
    from hostile_server import HostileServer

    with HostileServer() as server:
        yield server


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_parser(request, monkeypatch):
    """Run a test on both of the YAML loader's parser paths (yamlload.USE_LIBYAML)."""
    import yaml

    from reconciler import yamlload

    if request.param == "libyaml" and not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml here")
    monkeypatch.setattr(yamlload, "USE_LIBYAML", request.param == "libyaml")
    return request.param
