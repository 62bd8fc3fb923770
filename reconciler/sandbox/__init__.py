"""A Synapse-compatible HTTP sandbox over the embedded store (`reconciler serve`)."""
from .server import RunningSandbox, SandboxConfig, serve_forever, start

__all__ = ["RunningSandbox", "SandboxConfig", "serve_forever", "start"]
