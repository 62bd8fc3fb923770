"""Findings about a spec that only live state reveals (an explicit entry for a
submission the queue does not have), located at the spec line that causes them: errors
by default, warnings under --allow-missing.

Plain data shared by the planner, the plan file and every renderer, so the warning
reads the same in the terminal, a PR comment, an annotation and a saved plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Mapping


@dataclass(frozen=True)
class SpecWarning:
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        """`file:line:column: ` (or less, or nothing) to put in front of the message."""
        if self.file is None:
            return ""
        if self.line is None:
            return f"{self.file}: "
        return f"{self.file}:{self.line}:{self.column}: " if self.column else f"{self.file}:{self.line}: "

    def __str__(self) -> str:
        return self.where + self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "file": self.file,
            "line": self.line,
            **({"column": self.column} if self.column else {}),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SpecWarning:
        return cls(raw["message"], raw["file"], raw["line"], raw.get("column"))
