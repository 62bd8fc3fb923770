"""Turn whatever a command raised into its exit code and at most one line on stderr.

Exit codes (README "Exit codes"): 0 ok / no changes · 1 an error the user can fix
(invalid spec, blocked change, safety limit, stale or failed items, bad usage) · 2 changes
present (`plan --detailed-exitcode`) · 3 a bug in reconciler. Usage errors are 1, not
click's usual 2, so that a CI gate never mistakes a typo for "changes present"; a bug is
3, so it is never mistaken for a refused plan. A bug's traceback goes to a log file (as
pre-commit's error_handler does), never to the terminal.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from pathlib import Path
from collections.abc import Callable, Mapping

import click

from . import __version__
from .errors import UserError, UserErrors
from .untrusted_text import printable

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

LOG_NAME = "reconciler.log"
# Environment variables whose values a traceback must never show, should a message or a
# source line of one quote them: the services' credentials and anything named like one.
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL")


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def run_command(command: Callable[[], int | None]) -> int:
    """Call `command` and return its exit code; every user error is one line, a bug one
    line naming the log file that holds its traceback."""
    try:
        code = command()
    except UserErrors as exc:
        for error in exc.errors:
            echo_err(f"error: {printable(str(error))}")
        return EXIT_ERROR
    except UserError as exc:  # may quote a service's words: never raw to the terminal
        echo_err(f"error: {printable(str(exc))}")
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click: `raise Abort() from` a Ctrl-C
            echo_err("Interrupted.")
            return EXIT_INTERRUPTED
        echo_err("Aborted.")
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except KeyboardInterrupt:
        echo_err("Interrupted.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # a bug: anything a command did not turn into a UserError
        log = write_bug_log(exc)
        where = f"the traceback is in {log}" if log else "the traceback could not be written"
        echo_err(
            f"error: a bug in reconciler {__version__} ({_scrubbed(_first_line(exc), os.environ)}); "
            f"{where}; please report it"
        )
        return EXIT_BUG
    return EXIT_OK if code is None else code


def write_bug_log(exc: BaseException, env: Mapping[str, str] | None = None) -> Path | None:
    """Write the traceback (and the versions it came from, never the environment or the
    command line, which may hold a token) to the user's cache directory, else to a
    temporary file; the path written, or None if neither could be."""
    env = os.environ if env is None else env
    text = _scrubbed(_report(exc), env)
    for path in (_cache_dir(env) / LOG_NAME, None):
        try:
            if path is None:
                fd, name = tempfile.mkstemp(prefix="reconciler-", suffix=".log")
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                return Path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def _cache_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/reconciler, by default ~/.cache/reconciler."""
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reconciler"


def _report(exc: BaseException) -> str:
    return f"reconciler {__version__}, Python {platform.python_version()} on {sys.platform}\n\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__)
    )


def _scrubbed(text: str, env: Mapping[str, str]) -> str:
    for name, value in env.items():
        if len(value) >= 4 and any(word in name.upper() for word in _SECRET_WORDS):
            text = text.replace(value, "<redacted>")
    return text


def _first_line(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
