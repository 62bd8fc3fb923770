"""Errors the user can fix: UserError and its kinds (located in a file, several at once,
from a service), which the CLI turns into one line each on stderr and exit 1, and the
one "did you mean …?" suggestion their messages use.

Anything else that escapes is a bug: error_handler.py exits 3 and writes its traceback
to a log file. Messages must never contain a secret.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple
from collections.abc import Iterable, Sequence


class Problem(NamedTuple):
    """One problem as the CLI prints it and the API carries it: file, line and column
    (None where the problem has no place) and the message."""

    file: str | None
    line: int | None
    column: int | None
    message: str


class UserError(Exception):
    """Something the user can fix: bad input, refused plan, unreachable service."""

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Each problem with its place: what `validate --format json` and the Python
        API's callers read instead of parsing the text."""
        return (Problem(None, None, None, str(self)),)


class Located(UserError):
    """A UserError at a place in a file, rendered `FILE:LINE:COLUMN: message`."""

    def __init__(self, file: str, line: int | None, column: int | None, message: str) -> None:
        self.file, self.line, self.column, self.message = file, line, column, message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (Problem(self.file, self.line, self.column, self.message),)


class UserErrors(UserError):
    """Several located errors found in one pass (every schema violation at once)."""

    def __init__(self, errors: Sequence[UserError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in errors))

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for e in self.errors for p in e.problems)


class SpecError(UserErrors):
    """A spec (file, dict or records) that does not load: `.problems` holds every
    problem found in one pass, located as the CLI prints them."""


class ProviderError(UserError):
    """A failure of a service the user must see; never carries a secret in its message."""


class ConfigError(ProviderError):
    """Bad provider configuration (endpoint, credentials, missing seed...)."""


def suggest(word: str, choices: Iterable[str], *, ignore_case: bool = False, cutoff: float = 0.6) -> str | None:
    """The choice `word` was most likely meant to be (difflib's closest, at `cutoff`
    similarity), or None: an error that says "did you mean 'where'?" names the fix.
    With `ignore_case` a match but for case wins (`scored` → `SCORED`), and spellings
    are compared case-folded."""
    if not ignore_case:
        found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
        return found[0] if found else None
    folded = {choice.casefold(): choice for choice in choices}
    if word.casefold() in folded:
        return folded[word.casefold()]
    near = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=cutoff)
    return folded[near[0]] if near else None
