"""Provider registry: a spec's `provider.type` → the class that talks to that service."""
from __future__ import annotations

import importlib

from ..model import ProviderConfig
from .base import ConfigError, Provider

# Imported lazily so `validate` never loads HTTP machinery it does not need.
_MODULES = {"local": "reconciler.providers.local", "synapse": "reconciler.providers.synapse"}
DEFAULT_TYPE = "local"


def provider_types() -> list[str]:
    return sorted(_MODULES)


def provider_class(type_name: str) -> type[Provider]:
    try:
        module = importlib.import_module(_MODULES[type_name])
    except KeyError:
        raise ConfigError(
            f"unknown provider type {type_name!r} (known: {', '.join(provider_types())})"
        ) from None
    return module.PROVIDER


def open_provider(config: ProviderConfig) -> Provider:
    """Instantiate the provider a spec names; each module exposes `PROVIDER` and
    `PROVIDER.from_config(config)`."""
    return provider_class(config.type).from_config(config)  # type: ignore[attr-defined]


def endpoint_problem(type_name: str, endpoint: object) -> str | None:
    """Why the provider would refuse this endpoint, found without opening anything, so
    `validate` reports it at the spec's line and a plan file's is refused before apply
    sends a request; None if it is acceptable (or absent: the provider's default)."""
    if type_name == "local" or not isinstance(endpoint, str):
        return None
    from ..netcheck import check_endpoint

    try:
        check_endpoint(endpoint.rstrip("/"))
    except ConfigError as exc:
        return str(exc)
    return None


def open_provider_for_plan(type_name: str, endpoint: str) -> Provider:
    """The provider a plan file was made against, from its recorded endpoint alone.

    A plan file carries no credentials and no spec: the endpoint says where to write
    (a local store path or a service URL) and credentials come from the environment.
    The endpoint is the file's, never the environment's, so a plan cannot be pointed
    elsewhere by accident; it is checked before anything is opened or sent because the
    file is untrusted (plain http:// to a remote host would carry the token in clear).
    """
    from ..model import ProviderConfig

    if type_name == "local":
        if not endpoint.startswith("local:"):
            raise ConfigError(f"plan file: local endpoint must start with 'local:', got {endpoint!r}")
        options = {"path": endpoint[len("local:"):]}
    else:
        problem = endpoint_problem(type_name, endpoint)
        if problem:
            raise ConfigError(f"plan file: {problem}")
        options = {"endpoint": endpoint}
    return open_provider(ProviderConfig(type=type_name, options=options, base_dir="/"))
