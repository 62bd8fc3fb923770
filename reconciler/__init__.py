"""reconciler: infrastructure-as-code for evaluation queues."""

# The one place the version is written (pyproject.toml reads it from here): asking
# importlib.metadata instead cost every command 50 ms of imports at start-up.
__version__ = "0.1.0"
