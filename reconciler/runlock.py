"""One run per spec or plan file on a machine: a lock file beside it (docs/operations.md).

Two `apply` runs of the same spec at once would each plan the same changes and both
write every item (on whole-document services one run can even erase the other's
write). `apply` and `watch` therefore hold an exclusive lock on `.NAME.reconciler-lock`
beside each spec or plan file for their whole run; a second run refuses in one line
naming the holder, or waits for it with `--wait-lock`.

The lock is the kernel's (`flock`), so it is released on any exit, kill -9 included;
the file's text only says who holds it. A file still naming a holder whose process is
gone (it was killed before it could remove the file) is taken over with a note. Across
machines nothing is locked (docs/semantics.md says what remains).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence

from .durations import format_duration
from .errors import UserError

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


def lock_path(target: str) -> Path:
    """The lock file of a spec or plan file: hidden, beside it, named after it."""
    path = Path(target).resolve()
    return path.with_name(f".{path.name}.reconciler-lock")


def _holder_text(raw: str) -> str:
    """ "pid 123 on HOST since TIME" from a lock file's text, or "another run"."""
    try:
        info = json.loads(raw)
        return f"pid {int(info['pid'])} on {info['host']} (started {info['started']})"
    except (ValueError, KeyError, TypeError):
        return "another run"


def _stale_holder(raw: str) -> str | None:
    """The holder a lock file still names though nobody holds the lock: its process
    ended without removing the file (kill -9, a crash, a power cut)."""
    return _holder_text(raw) if raw.strip() else None


class _Held:
    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    def release(self) -> None:
        # unlink first, then unlock: a run waiting on this inode then sees it is gone
        # (held_by_file below) and opens the new one instead
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)


def _try_take(path: Path) -> _Held | None:
    """The lock if it is free now, else None."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:  # its holder removed this file as we took it: take the new one
        os.close(fd)
        return _try_take(path)
    return _Held(path, fd)


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")[:4096]
    except OSError:
        return ""


def fallback_path(path: Path) -> Path:
    """Where the lock of a file in a read-only folder (a mounted config map, a
    read-only checkout) is kept: the temporary folder, named after the lock's path, so
    every run on the machine agrees on it."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"reconciler-{digest}{path.name}"


def _take(path: Path, display: str, wait: float | None, clock: Callable[[], float]) -> _Held:
    deadline = None if wait is None else clock() + wait
    while True:
        try:
            held = _try_take(path)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or path.parent == Path(tempfile.gettempdir()):
                raise UserError(f"{path}: cannot take the run lock: {exc.strerror}") from None
            path = fallback_path(path)
            continue
        if held is not None:
            return held
        if deadline is None or clock() >= deadline:
            waited = f" after waiting {format_duration(wait)}" if wait else ""
            raise UserError(
                f"{display} is in use by "
                f"{_holder_text(_read(path))}{waited}; wait for it with --wait-lock DURATION "
                f"(lock file {path})"
            )
        time.sleep(POLL_SECONDS)


def _write_holder(held: _Held, command: str) -> None:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    os.ftruncate(held.fd, 0)
    os.pwrite(held.fd, (json.dumps(info) + "\n").encode(), 0)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM ends the run through `finally` blocks (the lock file is removed) unless
    the command handles SIGTERM itself (watch does)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def run_lock(
    targets: Sequence[str],
    command: str,
    *,
    wait: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Hold the lock of every file in `targets` (in a fixed order, so two runs naming
    the same files never wait on each other) until the block ends, however it ends."""
    locks = sorted({lock_path(t): t for t in targets}.items())
    with contextlib.ExitStack() as stack:
        stack.enter_context(_sigterm_raises())
        for path, target in locks:
            held = _take(path, target, wait, clock)
            stack.callback(held.release)
            stale = _stale_holder(_read(held.path))
            if stale:
                log.warning("took over the run lock %s left by %s, which has ended", held.path, stale)
            _write_holder(held, command)
        yield


def locked_targets(targets: Sequence[str], command: str, wait_lock: str | None) -> contextlib.AbstractContextManager:
    """`run_lock` of the command line's files that exist (a missing one is the loader's
    to report, with its own message), `--wait-lock` parsed."""
    from .durations import parse_duration

    wait = parse_duration(wait_lock, "--wait-lock") if wait_lock is not None else None
    return run_lock([t for t in targets if os.path.isfile(t)], command, wait=wait)
