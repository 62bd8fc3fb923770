"""One backend per provider for the shared contract suite (tests/contract/test_providers.py;
tests/contract/test_kill_9.py through the `kill_9` hook).

A backend makes a queue of fresh items on its service's fake (or store) and opens the
provider on it; everything the suite asserts goes through the provider itself, so a new
provider joins the suite with one small module here and one line in NAMES.

    class Backend(base.Backend):
        name = "synapse"
        def make(self, n): ...  -> (provider, queue spec)
"""

from __future__ import annotations

# module names under tests/backends/, one per provider
NAMES = ["local", "synapse", "omics", "supervisely", "datamaker", "workflow_results"]
