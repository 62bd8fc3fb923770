"""Include patterns → files, walking only the spec's own directory tree (docs/spec.md).

`glob.glob(recursive=True)` follows every directory link while expanding `**`, before
anything can check where the link leads: two links to `.` made it walk forever, memory
growing, and a link to `/` would walk the whole disk. This walk enters a directory link
only when it stays inside the tree and does not lead back to a directory it is already
in, and it visits a bounded number of directories; anything else is refused in one line.
Matching is glob's: `*`, `?`, `[abc]` within a name, `**` for any depth of directories,
and names starting with `.` only for patterns that say so.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath

MAX_DIRECTORIES = 10_000  # per pattern: far beyond a real score tree, small enough to be quick


class WalkRefused(Exception):
    """The pattern leads out of the tree, into a loop, or through too many directories."""


def expand(root: str, pattern: str) -> list[str]:
    """Files and directories under `root` that `pattern` names, relative to it, sorted.
    `pattern` is relative, without `..` (the caller refuses those)."""
    walker = _Walker(root)
    parts = [part for part in pattern.replace(os.sep, "/").split("/") if part not in ("", ".")]
    found: list[str] = []
    walker.match(parts, "", (os.path.realpath(root),), found)
    return sorted(set(found))


class _Walker:
    def __init__(self, root: str) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.directories = 0

    def match(self, parts: list[str], here: str, chain: tuple[str, ...], found: list[str]) -> None:
        """Add the paths matching `parts` below the directory `here`; `chain` holds the
        real paths of the directories walked down to `here`, to see a loop."""
        if not parts:
            return
        part, rest = parts[0], parts[1:]
        if part == "**":
            self.match(rest, here, chain, found)
            if not rest:
                found.extend(name for name, _ in self.entries(here, hidden=False))
            for name, is_dir in self.entries(here, hidden=False):
                if is_dir:
                    below = self.enter(name, chain, recursive=True)
                    if below is not None:
                        self.match(parts, name, below, found)
            return
        names: list[tuple[str, bool | None]]
        if not _magic(part):
            literal = posixpath.join(here, part)
            names = [(literal, None)] if os.path.lexists(self.full(literal)) else []
        else:
            names = [
                (name, is_dir)
                for name, is_dir in self.entries(here, hidden=part.startswith("."))
                if fnmatch.fnmatchcase(posixpath.basename(name), part)
            ]
        for name, known in names:
            if not rest:
                found.append(name)
                continue
            if known if known is not None else os.path.isdir(self.full(name)):
                below = self.enter(name, chain, recursive=False)
                if below is not None:
                    self.match(rest, name, below, found)

    def full(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def entries(self, here: str, *, hidden: bool) -> list[tuple[str, bool]]:
        """(relative path, is a directory) of what `here` holds; `hidden`: with dot names."""
        try:
            with os.scandir(self.full(here) if here else self.root) as listing:
                return sorted(  # sorted: the same walk, and the same refusal, every time
                    (posixpath.join(here, entry.name), _is_dir(entry))
                    for entry in listing
                    if hidden or not entry.name.startswith(".")
                )
        except OSError:
            return []

    def enter(self, name: str, chain: tuple[str, ...], *, recursive: bool) -> tuple[str, ...] | None:
        """The chain below directory `name`, refusing a link out of the tree and (where
        `**` would walk it again and again) a link back into the walk."""
        self.directories += 1
        if self.directories > MAX_DIRECTORIES:
            raise WalkRefused(f"walks more than {MAX_DIRECTORIES} directories")
        path = self.full(name)
        if not os.path.islink(path):
            return (*chain, posixpath.join(chain[-1], posixpath.basename(name)))
        real = os.path.realpath(path)
        if os.path.commonpath([self.real_root, real]) != self.real_root:
            raise WalkRefused(f"leaves the spec's directory ('{name}' resolves outside it)")
        if recursive and real in chain:  # the chain holds every directory from the root down
            back = os.path.relpath(real, self.real_root)
            raise WalkRefused(
                f"loops: '{name}' links back to '{'.' if back == '.' else back}', which the walk is already in"
            )
        return (*chain, real)


def _magic(part: str) -> bool:
    return any(ch in part for ch in "*?[")


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
