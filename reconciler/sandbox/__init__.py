"""Fakes of every service reconciler talks to, for tests and rehearsals (`reconciler
serve`): one module per service over a shared harness, server and fault injection."""

from .server import RunningSandbox, SandboxConfig, serve_forever, start

__all__ = ["RunningSandbox", "SandboxConfig", "serve_forever", "start"]
