"""Where the Synapse token comes from (docs/synapse.md, "Authentication").

The official client's conventions, so a user who already works with `synapseclient`
needs no new setup: the `SYNAPSE_AUTH_TOKEN` environment variable, else `authtoken`
under `[authentication]` in `~/.synapseConfig`. The environment wins (the official
client reads the file first) because CI systems inject secrets as variables and a stale
token in a developer's home must not shadow them.

The token is only ever returned, never formatted: no message, repr, log line or
exception raised here contains it or any line of the config file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from collections.abc import Mapping

from .errors import ConfigError

TOKEN_ENV = "SYNAPSE_AUTH_TOKEN"
CONFIG_ENV = "SYNAPSE_CONFIG_FILE"  # overrides the file's location (tests, several accounts)
CONFIG_NAME = ".synapseConfig"

# What an HTTP header value may hold. Anything else would make requests raise an
# exception whose message quotes the header, i.e. the token. Every service's token is
# held to it (checked_token).
TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")

HOW_TO = (
    f"set {TOKEN_ENV} or add `authtoken = <token>` under [authentication] in "
    f"~/{CONFIG_NAME} (a Synapse personal access token with view and modify scopes)"
)


def in_home(environ: Mapping[str, str], relative: str | Path) -> Path:
    """A credentials file under the home directory the environment names (HOME), as
    each service's own client looks for it."""
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / relative


def config_path(environ: Mapping[str, str]) -> Path:
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return in_home(environ, CONFIG_NAME)


def find_token(environ: Mapping[str, str] | None = None) -> str:
    """The Synapse token, or ConfigError saying how to provide one."""
    environ = os.environ if environ is None else environ
    token = environ.get(TOKEN_ENV, "").strip()
    if token:
        return checked_token(token, f"the {TOKEN_ENV} environment variable")
    path = config_path(environ)
    token = _read_config(path)
    if token:
        return checked_token(token, str(path))
    raise ConfigError(f"no Synapse token found: {HOW_TO}")


def _read_config(path: Path) -> str:
    if not path.is_file():
        return ""
    import configparser  # here, not at the top: unused when the token is in the environment

    parser = configparser.RawConfigParser()  # raw: a `%` in a token is not interpolation
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}") from None
    try:
        parser.read_string(text, source=str(path))
        broken = False
    except configparser.Error:
        broken = True
    if broken:
        # Raised outside the handler: configparser's exception quotes the offending
        # lines, which may hold the token, and must not ride along as __context__.
        raise ConfigError(f"{path} is not a valid config file (INI syntax)")
    return parser.get("authentication", "authtoken", fallback="").strip()


def checked_token(token: str, origin: str, service: str = "Synapse") -> str:
    """`token` if an HTTP header can carry it as it is (TOKEN_SHAPE); else one line
    naming where it came from (`origin`), never the token."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise ConfigError(f"the {service} token in {origin} contains spaces or control characters")
    return token
