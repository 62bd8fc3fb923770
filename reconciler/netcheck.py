"""Where a token may be sent: the one endpoint policy every provider, plan file and
sandbox applies (docs/RELIABILITY.md, "Secrets and transport"). Pure, and free of HTTP
machinery, so `validate` can check an endpoint at its spec line without importing
requests."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from .errors import ConfigError

_LOOPBACK_NAMES = frozenset({"localhost"})


def check_endpoint(url: str) -> None:
    """Refuse what would send the token in clear text or to a surprising place.

    Plain http:// is only for the local sandbox (a loopback address). Credentials in
    the URL are refused because endpoints are printed and saved in plan files; every
    message shows the URL through `shown_url`, so a refused one never prints them.
    """
    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"endpoint {shown!r} is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigError(f"endpoint {shown!r} must be an https:// URL")
    if parts.netloc.endswith(":"):
        # urlsplit reads `host:` as no port at all: the user meant one and left it out
        raise ConfigError(f"endpoint {shown!r} has an empty port after ':'; give the port or drop the ':'")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("endpoint must not contain credentials (user:password@)")
    if parts.scheme == "http" and not is_loopback(host):
        raise ConfigError(
            f"endpoint {shown!r} uses plain http://, which is only allowed for a loopback "
            "address (127.0.0.1, ::1, localhost); use https://"
        )


def shown_url(url: str) -> str:
    """`url` fit for a message: everything between the scheme and the last `@` (a user
    and password, however malformed the rest) replaced by `***`. Text, not parsing: a URL
    refused because it does not parse must not print its password either."""
    if "@" not in url:
        return url
    scheme, sep, _ = url.partition("://")
    head = scheme + sep if sep and "@" not in scheme else ""
    return f"{head}***@{url.rpartition('@')[2]}"


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
