"""Which keys inside an item name a secret, in one place.

Services keep secrets inside the objects reconciler reads (a Supervisely app task's
`meta.sessionToken` grants access to the app's session). Whatever reconciler writes or
shows from an item (plan files, exports, reports, rendered plans) goes through these
functions, so no call site keeps its own list of names.

A key names a secret when, ignoring case and any `_`, `-`, `.` or space, it ends in
`token`, `secret`, `password` or `apikey` (`sessionToken`, `api_key`, `DB-Password`).
"""

from __future__ import annotations

import re
from typing import Any

SECRET_ENDINGS = ("token", "secret", "password", "apikey")
_SEPARATORS = re.compile(r"[\s_.\-]+")


def is_secret_key(key: Any) -> bool:
    """True when `key` is a name that marks its value as a secret."""
    if not isinstance(key, str):
        return False
    last = key[-1:]
    if last and last not in "nNtTdDyY_.-" and not last.isspace():
        return False  # no ending or separator: most keys (ids, field names) stop here
    return _SEPARATORS.sub("", key).lower().endswith(SECRET_ENDINGS)


def without_secrets(value: Any) -> Any:
    """`value` (JSON-like: maps, lists, scalars) with every map entry whose key names a
    secret left out, at any depth. Returns `value` itself when it holds none."""
    if isinstance(value, dict):
        if not any(is_secret_key(k) or isinstance(v, (dict, list)) for k, v in value.items()):
            return value
        return {k: without_secrets(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value
