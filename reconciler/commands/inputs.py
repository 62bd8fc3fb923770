"""Reading what a command is given: spec files (with the oscillation check), id lists,
plan files, and a file given to the wrong command named as such."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple
from collections.abc import Mapping, Sequence

from ..errors import UserError, UserErrors
from .options import Options

if TYPE_CHECKING:
    from ..model import Plan, QueueSpec, Spec
    from ..planner import PlanResult, ProgressFactory
    from ..providers.base import Provider

_TOP_LEVEL_KEY = re.compile(rb"^([A-Za-z_][\w-]*)[ \t]*:", re.MULTILINE)


def file_kind(path: str) -> str | None:
    """ "plan", "spec" or "include" from a file's first 64 KiB, or None when it is none
    of them recognisably. Used only to say which command fits a file given to the wrong
    one, instead of a dozen errors about fields the file was never meant to have."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024).removeprefix(b"\xef\xbb\xbf")
    except OSError:
        return None
    if head.lstrip().startswith(b"{"):
        return "plan" if b'"format_version"' in head else None
    keys = {m.group(1) for m in _TOP_LEVEL_KEY.finditer(head)}
    if b"queues" in keys or b"version" in keys:
        return "spec"
    return "include" if keys == {b"submissions"} else None


def is_plan_file(path: str) -> bool:
    if path.endswith(".json"):
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def _wrong_kind_for_spec(path: str, command: str) -> UserError | None:
    kind = file_kind(path)
    if kind == "plan":
        return UserError(
            f"{path} is a plan file, not a spec: print it with `reconciler show {path}` "
            f"or apply it with `reconciler apply {path}`"
        )
    if kind == "include":
        return UserError(
            f"{path} is an include file (only `submissions:`): {command} the spec that lists it under `include:`"
        )
    return None


def load_specs(paths: Sequence[str], command: str) -> list[Spec]:
    """Every spec, with every error of every file at once (raised as UserErrors; the
    loader checks rule oscillation with the service's checks, in one round);
    `command` is named when a file is an include file, which only a spec lists."""
    from ..spec import load_spec

    specs, errors = [], []
    for path in paths:
        wrong = _wrong_kind_for_spec(path, command)
        if wrong is not None:
            errors.append(wrong)
            continue
        try:
            spec = load_spec(path)
        except UserErrors as exc:
            errors.extend(exc.errors)
            continue
        except UserError as exc:
            errors.append(exc)
            continue
        specs.append(spec)
    if errors:
        raise UserErrors(capped_per_file(errors))
    return specs


# Problems listed per file; a 100,000-row table with one bad column would otherwise print
# 100,000 lines that all say the same thing
MAX_ERRORS_PER_FILE = 50


def capped_per_file(errors: Sequence[UserError]) -> list[UserError]:
    """The first MAX_ERRORS_PER_FILE errors of each file, then one line counting the rest
    of that file's; errors without a file are all kept."""
    from ..errors import Located

    kept: list[UserError] = []
    seen: dict[str, int] = {}
    for error in errors:
        file = error.file if isinstance(error, Located) else None
        if file is None:
            kept.append(error)
            continue
        seen[file] = seen.get(file, 0) + 1
        if seen[file] <= MAX_ERRORS_PER_FILE:
            kept.append(error)
    for file, count in seen.items():
        if count > MAX_ERRORS_PER_FILE:
            more = count - MAX_ERRORS_PER_FILE
            kept.append(
                Located(
                    file,
                    None,
                    None,
                    f"… and {more:,} more problem{'s' if more != 1 else ''} "
                    "in this file (fix these and validate again)",
                )
            )
    return kept


def id_list(values: Sequence[str]) -> tuple[str, ...]:
    """`--only 1,2 --only 3` → ("1", "2", "3"): commas separate ids as well as repeats,
    because that is how people write lists on a command line."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _check_only(unmatched: Sequence[str]) -> None:
    """An `--only` id that no queue lists is a typo: planning nothing would print
    "No changes" and pass a CI gate."""
    if unmatched:
        what = "this id" if len(unmatched) == 1 else "these ids"
        raise UserError(f"--only {', '.join(unmatched)}: no queue in the spec has an item with {what}")


def _check_replace(replace: frozenset[str], plan: Plan) -> None:
    """`--replace ID` names an item whose change the lock blocks; anything else is a
    typo or a stale command line, and changing a locked item is never done silently."""
    relocked = {c.item_id for c in plan.changes if c.relock}
    unmatched = sorted(replace - relocked)
    if unmatched:
        what = "this id" if len(unmatched) == 1 else "these ids"
        raise UserError(
            f"--replace {', '.join(unmatched)}: no change to {what} is blocked by a lock "
            "(--replace is for changing an item that stays locked)"
        )


class PlannedSpecs(NamedTuple):
    spec: Spec
    provider: Provider  # open: the caller closes it
    result: PlanResult


def plan_from_specs(
    opts: Options, paths: Sequence[str], command: str, only: Sequence[str], replace: Sequence[str] = ()
) -> PlannedSpecs:
    """Load the specs and plan them against their service, checking `--only` and
    `--replace` against what the queues hold."""
    from ..planner import merge_specs

    spec = merge_specs(load_specs(paths, command))
    progress = opts.progress()
    try:
        provider, result = plan_spec(
            spec, id_list(only), id_list(replace), lambda q: progress.line(f"Reading queue {q.id}")
        )
    finally:
        progress.close()
    return PlannedSpecs(spec, provider, result)


def plan_spec(
    spec: Spec, only: Sequence[str] = (), replace: Sequence[str] = (), progress: ProgressFactory | None = None
) -> tuple[Provider, PlanResult]:
    """Plan one loaded spec against its service (the CLI's and reconciler.plan's way);
    the provider is returned open, for an apply to follow: the caller closes it."""
    from ..planner import build_plan
    from ..providers import open_provider
    from ..spec import locate_sources

    locate_sources(spec)
    replace_ids = frozenset(replace)
    provider = open_provider(spec.provider)
    try:
        result = build_plan(
            spec, provider, only=frozenset(only) if only else None, progress=progress, replace=replace_ids
        )
        _check_only(result.unmatched_only)
        _check_replace(replace_ids, result.plan)
    except BaseException:
        provider.close()
        raise
    return provider, result


def refuse_spec_as_plan_file(path: str) -> None:
    if file_kind(path) in ("spec", "include"):
        raise UserError(
            f"{path} is a spec, not a plan file: plan it with `reconciler plan {path}` "
            "(add `-o plan.json` to save the plan)"
        )


def read_plan_file(path: str) -> bytes:
    """The file's bytes, but never more than one past the size cap: load_plan refuses
    an oversized file from those alone, so a huge one is not read into memory."""
    from ..planfile import MAX_PLAN_BYTES

    try:
        with open(path, "rb") as fh:
            return fh.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read plan file: {exc.strerror}") from None


class OpenedPlanFile(NamedTuple):
    plan: Plan
    queues: Mapping[str, QueueSpec]  # the queue settings apply needs, from the plan file
    provider: Provider  # open: the caller closes it
    meta: dict


def open_plan_file(path: str) -> OpenedPlanFile:
    from ..providers import open_provider_for_plan

    plan, queues, meta = load_plan_file(path)
    return OpenedPlanFile(plan, queues, open_provider_for_plan(plan), meta)


def load_plan_file(path: str) -> tuple[Plan, dict[str, QueueSpec], dict]:
    """A saved plan, the queue settings apply needs from it, and its metadata."""
    from ..model import Source
    from ..planfile import load_plan
    from .views import saved_meta

    loaded = load_plan(read_plan_file(path), path)
    plan = loaded.plan
    queues = {q.queue_id: q.as_queue(Source(path, 1)) for q in plan.queues}
    return plan, queues, saved_meta(loaded)
