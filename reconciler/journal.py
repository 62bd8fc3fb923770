"""The journal: one JSON file per `apply` (or `watch` cycle) that wrote, recording what
it wrote (docs/operations.md). `history` lists entries, `revert` plans undoing one.

An entry holds the plan applied (its provider, endpoint, spec digest and queue settings)
and, per item, the outcome with the managed fields' values before and after, plus when,
which tool version and who (user, host, CI run). It never holds a credential: the
endpoint loses any `user:password@`, only named CI variables are kept (never a token),
and every item value goes through secret_keys.py. Entries are written atomically
(atomic_file.py), so a kill -9 leaves a complete entry or none.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .atomic_file import write_atomically
from .errors import Located, UserError
from .model import ApplyReport, Plan
from .secret_keys import without_secrets

FORMAT = "reconciler-journal"
FORMAT_VERSION = 1
MAX_ENTRY_BYTES = 200 * 1024 * 1024  # as a plan file: an entry holds at most a plan's items
DEFAULT_DIR = Path(".reconciler") / "journal"

# CI variables that say which run wrote (GitHub Actions, GitLab CI); an allow-list, so
# a token the CI puts in the environment (GITHUB_TOKEN, CI_JOB_TOKEN) never enters
CI_VARIABLES = (
    "GITHUB_REPOSITORY",
    "GITHUB_WORKFLOW",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_NUMBER",
    "GITHUB_ACTOR",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_EVENT_NAME",
    "CI_PROJECT_PATH",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_URL",
    "CI_JOB_ID",
    "CI_JOB_URL",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "GITLAB_USER_LOGIN",
)


def default_dir(first_target: str) -> Path:
    """`.reconciler/journal/` beside the first spec or plan file."""
    return Path(first_target).resolve().parent / DEFAULT_DIR


def without_userinfo(url: str) -> str:
    """`https://user:pw@host/x` → `https://host/x`: an endpoint may carry a credential."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an endpoint that is not a URL)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def who(env: Mapping[str, str]) -> dict[str, Any]:
    """The user and host, and the CI run where the environment names one."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = None
    out: dict[str, Any] = {"user": user, "host": socket.gethostname()}
    ci = {name: env[name] for name in CI_VARIABLES if env.get(name)}
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        ci["run_url"] = f"{without_userinfo(server)}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if ci:
        out["ci"] = ci
    return out


def _now() -> datetime:
    return datetime.now(timezone.utc)


def build_entry(
    plan: Plan,
    report: ApplyReport,
    *,
    command: str,
    targets: Sequence[str],
    started_at: datetime,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The journal entry of one apply of `plan` that ended with `report`."""
    from .planfile import change_values, plan_to_dict

    env = os.environ if env is None else env
    finished = _now()
    # the plan file document of the plan's queues without their changes (the items
    # below hold those): service, endpoint, digest and each queue's settings
    frame = dataclasses.replace(plan, queues=tuple(dataclasses.replace(q, changes=()) for q in plan.queues))
    doc = plan_to_dict(frame, tool_version=__version__, created_at=started_at.isoformat())
    outcomes = {(r.queue_id, r.item_id): r for r in report.results}
    items = []
    for queue in plan.queues:
        for change in queue.changes:
            result = outcomes.get((queue.queue_id, change.item_id))
            before, after = change_values(change)
            items.append(
                {
                    "queue": queue.queue_id,
                    "id": change.item_id,
                    "outcome": result.outcome if result else "skipped",
                    "detail": result.detail if result else "not attempted",
                    "before": without_secrets(before),
                    "after": without_secrets(after),
                    "lock": change.lock,
                }
            )
    counts: dict[str, int] = {}
    for item in items:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    entry_id = f"{finished.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "id": entry_id,
        "command": command,
        "targets": [str(Path(t).resolve()) for t in targets],
        "started_at": started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "tool_version": __version__,
        "who": who(env),
        "plan": without_secrets(
            {
                "provider": {**doc["provider"], "endpoint": without_userinfo(plan.endpoint)},
                "guard": plan.guard,
                "spec_digest": doc["spec_digest"],
                "queues": [{k: v for k, v in q.items() if k != "changes"} for q in doc["queues"]],
                "summary": plan.summary(),
            }
        ),
        "counts": counts,
        "requests": report.requests,
        "items": items,
    }


def entry_text(entry: Mapping[str, Any]) -> str:
    """The entry as JSON: the frame indented for reading, each item one compact line
    (indenting it all would use json's pure-Python encoder: about 6 times slower, 5 s
    for 200,000 items, where one line per item takes under 1 s)."""
    options: dict[str, Any] = {"sort_keys": True, "ensure_ascii": True, "allow_nan": False, "default": str}
    marker = f"items-{uuid.uuid4().hex}"
    frame = json.dumps({**entry, "items": marker}, indent=1, **options)
    compact = json.JSONEncoder(separators=(",", ":"), **options).encode
    items = entry.get("items") or []
    rendered = "[\n" + ",\n".join("  " + compact(i) for i in items) + "\n ]" if items else "[]"
    return frame.replace(json.dumps(marker), rendered, 1) + "\n"


def write_entry(directory: Path, entry: Mapping[str, Any]) -> Path:
    """Write `entry` as `ID.json` in `directory` (made if missing); a UserError, one
    line, when it cannot be written."""
    path = directory / f"{entry['id']}.json"
    text = entry_text(entry)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    except OSError as exc:
        raise UserError(f"{directory}: cannot write the journal entry: {exc.strerror}") from None
    return path


def record_apply(
    journal: str | None,
    targets: Sequence[str],
    plan: Plan,
    report: ApplyReport,
    started_at: datetime,
    command: str = "apply",
) -> Path | None:
    """Journal an apply that wrote something (a run that wrote nothing records nothing,
    so a watcher idling on a converged queue does not fill the journal; its report
    already said what failed)."""
    if not report.count("applied"):
        return None
    directory = Path(journal) if journal else default_dir(targets[0])
    return write_entry(directory, build_entry(plan, report, command=command, targets=targets, started_at=started_at))


# ---------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Entry:
    path: Path
    doc: dict[str, Any]

    @property
    def created(self) -> str:
        return str(self.doc["finished_at"])


@cache
def schema() -> dict[str, Any]:
    return json.loads((files("reconciler") / "schemas" / "journal.schema.json").read_text("utf-8"))


def read_entry(path: Path) -> Entry:
    """One entry, checked against the journal schema; a Located error for a file that
    is unreadable, not JSON, or not a journal entry (another tool's file)."""
    from jsonschema import Draft202012Validator

    from .jsonload import located, parse

    display = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_ENTRY_BYTES + 1)
    except OSError as exc:
        raise Located(display, None, None, f"cannot read journal entry: {exc.strerror}") from None
    if len(data) > MAX_ENTRY_BYTES:
        raise Located(display, None, None, "larger than any journal entry")
    doc, text = parse(data, display)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise Located(display, 1, 1, f'not a reconciler journal entry (no "format": "{FORMAT}")')
    error = next(iter(Draft202012Validator(schema()).iter_errors(doc)), None)
    if error is not None:
        raise located(display, text, tuple(error.absolute_path), f"not a valid journal entry: {error.message}")
    return Entry(path, doc)


def entry_files(directory: Path) -> list[Path]:
    """The entry files of a journal folder (temporary files of a write in progress, or
    of one killed mid-write, are hidden and skipped)."""
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except FileNotFoundError:
        raise UserError(f"{directory}: no such journal folder") from None
    except OSError as exc:
        raise UserError(f"{directory}: cannot read the journal folder: {exc.strerror}") from None


def read_journal(directory: Path) -> tuple[list[Entry], list[UserError]]:
    """Every entry, newest first, and one error per file that is not one."""
    entries, errors = [], []
    for path in entry_files(directory):
        try:
            entries.append(read_entry(path))
        except UserError as exc:
            errors.append(exc)
    entries.sort(key=lambda e: (e.created, e.doc["id"]), reverse=True)
    return entries, errors
