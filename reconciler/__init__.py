"""reconciler: infrastructure-as-code for evaluation queues."""

# The one place the version is written (pyproject.toml reads it from here): asking
# importlib.metadata instead costs every command its imports at start-up (BENCHMARKS.md).
__version__ = "0.1.0"
