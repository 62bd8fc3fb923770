"""A fake's own switches (`reconciler serve --quirk NAME[=VALUE]`), declared once per fake.

Each fake module lists the quirks it accepts in `QUIRKS`: the name, the values it takes,
the default and one line of help. `serve --help`, the one-line refusal of an unknown
name or a bad value, and the in-process sandbox (`SandboxConfig(quirks={...})`, which
tests use) all read that one declaration, so a switch cannot be accepted in one place
and refused, or parsed differently, in another.

A default is the LEAST convenient behaviour the real service is documented or observed
to have (docs/sandbox.md): a client tested against the defaults meets the hard case
first; a quirk turns on a gentler or a rarer behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping, Sequence

from ..errors import UserError, suggest


@dataclass(frozen=True)
class Quirk:
    """One switch. Without `values` and `number` it is a flag: named alone, it is on
    (True), else off (False). With `values`, one of them (a str). With `number` (int or
    float), a number in [low, high]. `default` is what the fake gets when the quirk is
    not given (None: the fake's normal behaviour, which `default_text` describes)."""

    name: str
    help: str
    values: tuple[str, ...] = ()
    number: type[int] | type[float] | None = None
    low: float = 0
    high: float | None = None
    default: Any = None
    default_text: str = ""
    metavar: str = "N"

    @property
    def is_flag(self) -> bool:
        return not self.values and self.number is None

    def usage(self) -> str:
        """How it is written: `one-host`, `list-rows=short|full`, `glitch-520=N`."""
        if self.is_flag:
            return self.name
        return f"{self.name}={'|'.join(self.values) if self.values else self.metavar}"

    def shown_default(self) -> str:
        if self.is_flag:
            return "off"
        if self.default_text:
            return self.default_text
        return f"{self.default:g}" if self.number else str(self.default)

    def parse(self, raw: str) -> Any:
        """The value the fake gets for `--quirk NAME=raw` ("" when no `=VALUE`), or a
        ValueError saying what was expected."""
        if self.is_flag:
            if raw:
                raise ValueError("expected no value")
            return True
        if self.values:
            if raw not in self.values:
                raise ValueError(f"expected one of {', '.join(self.values)}")
            return raw
        assert self.number is not None
        try:
            value: float = self.number(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < self.low or (self.high is not None and value > self.high):
            bound = f"between {self.low:g} and {self.high:g}" if self.high is not None else f"at least {self.low:g}"
            raise ValueError(f"expected {'a whole number' if self.number is int else 'a number'} {bound}")
        return value


def resolve(service: str, declared: Sequence[Quirk], given: Mapping[str, str]) -> dict[str, Any]:
    """Every declared quirk's value (name → value, defaults filled in) from the
    `--quirk` values given; anything else is refused in one line naming the service and
    what it accepts."""
    by_name = {quirk.name: quirk for quirk in declared}
    out = {quirk.name: False if quirk.is_flag else quirk.default for quirk in declared}
    for name, raw in given.items():
        if name not in by_name:
            near = suggest(name, by_name, ignore_case=True)
            hint = f"did you mean {near!r}? " if near else ""
            raise UserError(
                f"--quirk {name}: the {service} sandbox has no such quirk ({hint}its quirks: {summary(declared)})"
            )
        try:
            out[name] = by_name[name].parse(raw)
        except ValueError as e:
            shown = f"{name}={raw}" if raw else name
            raise UserError(f"--quirk {shown}: {e} (the {service} sandbox's quirks: {summary(declared)})") from None
    return out


def summary(declared: Sequence[Quirk]) -> str:
    """The quirks as written on the command line, for one-line messages."""
    return ", ".join(quirk.usage() for quirk in declared) or "none"
