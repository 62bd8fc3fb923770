"""reconciler: infrastructure-as-code for evaluation queues."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reconciler")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"
