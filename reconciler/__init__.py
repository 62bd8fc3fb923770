"""reconciler: infrastructure-as-code for evaluation queues.

The names in `__all__` are the Python API (docs/python.md); everything else
is internal. They load on first use (module `__getattr__`), so `import reconciler`, and
with it the CLI's start, costs what it did before the API existed (BENCHMARKS.md).
"""

from __future__ import annotations

import sys
from types import ModuleType  # loaded at interpreter start: free

# Not `from typing import …`: typing alone would cost `import reconciler` ten times what
# it costs without it (BENCHMARKS.md, import cost). Type checkers read this name as typing's.
TYPE_CHECKING = False

# The one place the version is written (pyproject.toml reads it from here): asking
# importlib.metadata instead costs every command its imports at start-up (BENCHMARKS.md).
__version__ = "0.1.0"

# name → the module that defines it
_API = {
    "load_spec": "api",
    "plan": "api",
    "apply": "api",
    "Plan": "api",
    "PlanError": "api",
    "Spec": "model",
    "ApplyReport": "model",
    "ItemResult": "model",
    "Change": "model",
    "Problem": "errors",
    "ReconcilerError": "errors",
    "SpecError": "errors",
}
__all__ = sorted(_API) + ["__version__"]

if TYPE_CHECKING:  # what type checkers and editors see; nothing is imported at run time
    from typing import Any

    # `X as X`: re-exported (what `import *` and the names in __all__ give)
    from .api import Plan as Plan, PlanError as PlanError, apply as apply, load_spec as load_spec, plan as plan
    from .errors import Problem as Problem, SpecError as SpecError
    from .errors import UserError as ReconcilerError  # noqa: F401 - public as reconciler.ReconcilerError (__all__ comes from _API)
    from .model import ApplyReport as ApplyReport, Change as Change, ItemResult as ItemResult, Spec as Spec


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"reconciler.{module}"), "UserError" if name == "ReconcilerError" else name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


class _Package(ModuleType):
    """`reconciler.apply` is the API function, though a submodule reconciler/apply.py
    exists: importing a submodule sets the package attribute of its name, which would
    swap the function for the module the first time anything imports the module. The
    module stays importable by name (`from reconciler.apply import apply_plan`)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _API and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
