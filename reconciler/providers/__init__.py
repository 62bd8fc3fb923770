"""Provider registry: a spec's `provider.type` → the module of the class that talks to
that service. Adding a service is one line here; everything else about it (options,
credentials, endpoint policy, checks) belongs to its provider class."""

from __future__ import annotations

import importlib

from ..model import Plan, ProviderConfig
from .base import ConfigError, Provider

# Imported lazily so `validate` never loads HTTP machinery it does not need.
_MODULES = {
    "local": "reconciler.providers.local",
    "synapse": "reconciler.providers.synapse",
    "datamaker": "reconciler.providers.datamaker",
    "omics": "reconciler.providers.omics",
    "supervisely": "reconciler.providers.supervisely",
    "workflow-results": "reconciler.providers.workflow_results",
}
DEFAULT_TYPE = "local"


def provider_types() -> list[str]:
    return sorted(_MODULES)


def provider_class(type_name: str) -> type[Provider]:
    try:
        module = importlib.import_module(_MODULES[type_name])
    except KeyError:
        raise ConfigError(f"unknown provider type {type_name!r} (known: {', '.join(provider_types())})") from None
    return module.PROVIDER


def open_provider(config: ProviderConfig) -> Provider:
    """Instantiate the provider a spec names; each module exposes `PROVIDER` and
    `PROVIDER.from_config(config)`."""
    return provider_class(config.type).from_config(config)


def open_provider_for_plan(plan: Plan) -> Provider:
    """The provider a plan file was made against (Provider.for_plan): its recorded
    endpoint, never the environment's, so a plan cannot be pointed elsewhere by
    accident."""
    return provider_class(plan.provider_type).for_plan(plan.endpoint, plan.provider_options)
