"""The contract suite's `backend` fixture: one backend module of tests/backends/ per param."""

from __future__ import annotations

import importlib

import pytest
from backends import NAMES
from backends.base import Backend


@pytest.fixture(params=NAMES)
def backend(request, make_sandbox, tmp_path, monkeypatch) -> Backend:
    module = importlib.import_module(f"backends.{request.param}")
    return module.Backend(make_sandbox, tmp_path, monkeypatch)
