"""Spec files → model.Spec: YAML, JSON Schema, includes, provider checks (docs/spec.md).

Every problem is reported at its file:line:column, and as many as can be found at once:
all schema violations of all files, then all problems of the built spec. The JSON
Schema (schemas/spec.schema.json) is the single description of the format; its
violations are worded by schema_wording.py (as a plan file's are), and this module adds
what a schema cannot say (unique names, includes, secrets, service rules).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from itertools import repeat
from importlib.resources import files
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator, Mapping, Sequence

from . import plain_entries, treeglob
from .conditions import operand, where_problems
from .errors import Located, SpecError, UserError, UserErrors
from .fastschema import compile_predicate, inline_refs
from .model import (
    Assignment,
    Match,
    ProviderConfig,
    QueueSpec,
    Rank,
    RankKey,
    Rule,
    Safety,
    Setting,
    Source,
    Spec,
    Submissions,
    TagCondition,
    Unbuilt,
    to_tag_value,
)
from .gcpause import collector_paused
from .providers import DEFAULT_TYPE, provider_class
from .providers.checks import capability_problems
from .rank_checks import rank_problems, wheres
from .resolve import find_oscillations
from .schema_wording import located_errors, yaml_validator_class
from .schema_wording import quoted as _quoted
from .schema_wording import type_name as _type_name
from .secret_keys import is_secret_key
from .sources import RowOrigin, SourceConfig, SourceFile, capped, format_problem, is_source, parse_source, read_source
from .yamlload import Document, read_yaml

DEFAULT_LOCK_KEY = "locked"
_DECIMAL = re.compile(r"-?[0-9]+")


def load_spec(path: str | Path) -> Spec:
    """Read, validate and convert one spec and its includes; raises UserError(s).

    The cycle collector is paused meanwhile, as while planning (planner.py): loading
    allocates a few objects per value, none in a cycle, and the full collections they
    set off made 100,000 entries cost 7x what 20,000 do instead of 5x."""
    with collector_paused():
        return _Loader(Origin(Path(path))).load()


def locate_sources(spec: Spec) -> None:
    """Every source of the spec located now rather than when a plan names it (a JSON
    include's positions are found on first use: model.Source.later). Called before a
    plan reads live state: the file's positions, found in one pass, are gone again
    before the listing and the plan are built, instead of adding to their peak memory
    (100 MB at 100,000 entries): nothing refers to a file once its sources are
    located. (A JSON file's sources mostly get their lines alone, from one walk over
    its entries; the column, for a message, then comes from its text, which is all
    they keep: yamlload.Document.line_first.)"""
    for queue in spec.queues:
        for entry in queue.submissions.values():
            for setting in (entry.status, entry.locked, *entry.tags.values()):
                if setting is not None:
                    setting.source.locate()


@dataclass(frozen=True)
class Records:
    """Rows given to Spec.with_entries: a JSON source (sources.py) of one queue."""

    queue: str
    config: SourceConfig
    display: str
    raw: bytes  # a JSON list, one record a line, so a problem's line is its record's number


@dataclass(frozen=True)
class Origin:
    """What a Spec was built from, so it can be built again with more records."""

    path: Path  # the spec file; for a dict, a name in its base directory
    raw: bytes | None = None  # the root document's bytes when no file holds them (from_dict)
    records: tuple[Records, ...] = ()


@contextmanager
def spec_errors() -> Iterator[None]:
    """Every way a spec fails to load, as one SpecError (the API's promise)."""
    try:
        yield
    except SpecError:
        raise
    except UserErrors as exc:
        raise SpecError(exc.errors) from None
    except UserError as exc:
        raise SpecError([exc]) from None


def spec_from_dict(data: Mapping[str, Any], base_dir: str | Path = ".") -> Spec:
    """The spec a file holding `data` would be (YAML's own types: dates stay dates),
    named `<dict>` in messages; nothing is written to disk."""
    import yaml

    try:
        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise SpecError([Located("<dict>", None, None, f"not a spec mapping: {exc}")]) from None
    with spec_errors():
        return _Loader(Origin(Path(base_dir, "<dict>"), text.encode("utf-8"))).load()


def with_entries(
    spec: Spec,
    queue: str,
    records: Sequence[Mapping[str, Any]],
    *,
    id: str,
    status: str | None = None,
    locked: str | None = None,
    tags: Mapping[str, Any] | None = None,
    empty: str = "skip",
) -> Spec:
    """Spec.with_entries: the spec built again from its origin with one more source."""
    origin = spec.origin
    display = f"<records for queue {queue}>"
    if not isinstance(origin, Origin):
        raise SpecError(
            [
                Located(
                    display,
                    None,
                    None,
                    "this spec was merged from several: add the records to one of them before merging",
                )
            ]
        )
    if queue not in [q.id for q in spec.queues]:
        shown = ", ".join(q.id for q in spec.queues)
        raise SpecError([Located(display, None, None, f"the spec has no queue {queue!r} (its queues: {shown})")])
    entry: dict[str, Any] = {"json": display, "id": id}
    entry.update({k: v for k, v in (("status", status), ("locked", locked)) if v is not None})
    if tags:
        entry["tags"] = {
            k: ({("key" if f == "column" else f): x for f, x in v.items()} if isinstance(v, Mapping) else v)
            for k, v in tags.items()
        }
    if empty != "skip":
        entry["empty"] = empty
    with spec_errors():
        _check_records_config(entry, display)
        lines = [json.dumps(dict(r), default=_json_default, ensure_ascii=False) for r in records]
        raw = ("[" + ",\n".join(lines) + "]\n").encode("utf-8")
        added = Records(queue, SourceConfig.of(entry), display, raw)
        return _Loader(replace(origin, records=origin.records + (added,))).load()


def _json_default(value: Any) -> Any:
    """A record's datetime (a timestamp tag) as the ISO text a JSON source holds."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _check_records_config(entry: dict[str, Any], display: str) -> None:
    """with_entries' arguments, checked by the schema of a JSON source's `include:`
    entry (types, names), so a record source is configured as a file source is."""
    import yaml

    file, errors = _read(None, display + " arguments", yaml.safe_dump(entry).encode("utf-8"))
    errors += _schema_errors(file, "json_source")
    if errors:
        raise SpecError(list(errors))


@cache
def spec_schema() -> dict[str, Any]:
    return json.loads((files("reconciler") / "schemas" / "spec.schema.json").read_text("utf-8"))


# ------------------------------------------------------------------------ files
@dataclass(frozen=True)
class _File:
    """One YAML file: its Document (positions) and the JSON view the schema checks.

    The JSON view has text keys (an unquoted `9700003:` becomes "9700003") and the
    value of every secret-named setting (not tag name) replaced by null, so nothing can
    echo a secret.
    """

    doc: Document
    data: Any
    # The sources handed out while loading (model.Source.later), each referring to this
    # file: located at the end of a load when the positions exist already, and the
    # list emptied whatever happens (_Loader.load), so that no cycle outlives the load
    # (the collector may be paused or objects frozen: gcpause.py). A JSON file's are
    # not listed: they stay lazy, and its entries are built after the load.
    pending: list[Source] = field(default_factory=list, compare=False, repr=False)

    @property
    def display(self) -> str:
        return self.doc.file

    def original(self, path: tuple) -> tuple:
        """A path into `data` → the same place in `doc.data` (number keys, labels)."""
        node, out = self.doc.data, []
        for elem in path:
            if isinstance(node, dict):
                if elem not in node and isinstance(elem, str) and _DECIMAL.fullmatch(elem):
                    elem = int(elem)
                if elem not in node:
                    break
                node = node[elem]
            elif isinstance(node, list):
                if not isinstance(elem, int):
                    index = next((i for i, x in enumerate(node) if _as_key_text(x) == elem), None)
                    if index is None:
                        break
                    elem = index
                if not 0 <= elem < len(node):
                    break
                node = node[elem]
            else:
                break
            out.append(elem)
        return tuple(out)

    def error(self, path: tuple, message: str, *, key: bool = False) -> Located:
        return self.doc.error(self.original(path), message, key=key)

    def line(self, path: tuple) -> int:
        return self.doc.position(self.original(path))[0]

    def source(self, path: tuple, rule: str | None = None) -> Source:
        """Located only when a plan or a message asks (model.Source.later)."""
        source = Source.later(self.doc.file, rule, self.place, path)
        if not self.doc.positions_deferred:  # a JSON file's stay lazy (settle_sources)
            self.pending.append(source)
        return source

    def settle_sources(self, locate: bool) -> None:
        """Forget the sources handed out; with `locate` (a spec was built), locate them
        first (a YAML file's: as cheap now as later, and the file need not outlive the
        load)."""
        if locate:
            for source in self.pending:
                source.locate()
        self.pending.clear()

    def position(self, path: tuple) -> tuple[int, int]:
        # a path recorded as it is leads where original() would (its keys are text)
        return self.doc.recorded_position(path) or self.doc.position(self.original(path))

    def place(self, path: tuple) -> tuple[int, Any]:
        """A source's locator (model.Source.later): `position`, or a JSON file's line
        with where to find the column when asked (Document.line_first)."""
        return self.doc.line_first(path) or self.position(path)


def _as_key_text(value: Any) -> Any:
    """A YAML key as the text the spec means by it: `9700001:` is the id "9700001"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _read(path: Path | None, display: str, raw: bytes | None = None) -> tuple[_File, list[Located]]:
    doc = read_yaml(path, display, raw)
    errors: list[Located] = []
    if doc.key_names is not None and not any(map(is_secret_key, doc.key_names)):
        return _File(doc, doc.data), errors  # every key text already, none to refuse
    return _File(doc, _with_text_keys(doc, doc.data, (), errors)), errors


def _with_text_keys(doc: Document, value: Any, path: tuple, errors: list[Located]) -> Any:
    """The document's data with every mapping key as text, refusing (into `errors`)
    secret-looking keys and keys that are duplicates once they are text."""
    if isinstance(value, list):
        return [_with_text_keys(doc, item, path + (i,), errors) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if all(map(isinstance, value, repeat(str))) and (_is_tag_mapping(path) or not any(map(is_secret_key, value))):
        # the common case (every JSON file): nothing to refuse or rename here, so the
        # mapping is kept as it is unless something inside it changes
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if type(item) is dict or type(item) is list:
                new = _with_text_keys(doc, item, path + (key,), errors)
                if new is not item:
                    if changed is None:
                        changed = dict(value)
                    changed[key] = new
        return value if changed is None else changed
    out: dict[str, Any] = {}
    for key, item in value.items():
        here = path + (key,)
        if is_secret_key(key) and not _is_tag_mapping(path):
            errors.append(
                doc.error(
                    here,
                    f"secrets do not belong in a spec: remove {_quoted(key)} (use SYNAPSE_AUTH_TOKEN)",
                    key=True,
                )
            )
            out[key] = None  # kept, so that its mapping is not reported as incomplete
            continue
        name = _key_text(doc, here, key, errors)
        if name is None:
            continue
        if name in out:
            line, column = doc.key_position(path + (_first_key(value, name),))
            errors.append(
                doc.error(
                    here,
                    f"duplicate key {_quoted(name)} (first defined at line {line}, column {column})",
                    key=True,
                )
            )
            continue
        out[name] = _with_text_keys(doc, item, here, errors)
    return out


def _is_tag_mapping(path: tuple) -> bool:
    """Whether the mapping at `path` is keyed by tag names (a submission's `tags`, a
    rule's `set.tags` or `where.tags`). Tag names are data, not settings: a tag called
    `token` is exported from the service and must load again, so the secret-key check
    skips them, also in a table or JSON source's `tags:` (a queue's own `tags:` policy
    is a settings mapping and is checked)."""
    return (
        len(path) >= 3
        and path[-1] == "tags"
        and (path[-3] in ("submissions", "include") or path[-2] in ("set", "where"))
    )


def _refused_secret(path: tuple) -> bool:
    """Whether some key along `path` is a secret-named setting (reported as such)."""
    return any(is_secret_key(key) and not _is_tag_mapping(path[:i]) for i, key in enumerate(path))


def _key_text(doc: Document, path: tuple, key: Any, errors: list[Located]) -> str | None:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        written = doc.int_text(path, key=True)
        if written is None:
            return str(key)
        errors.append(doc.error(path, _quote_number(written, key), key=True))
        return None
    errors.append(doc.error(path, f"a key must be text, got {_type_name(key)} (quote it)", key=True))
    return None


def _first_key(mapping: dict, name: str) -> Any:
    return next(k for k in mapping if _as_key_text(k) == name)


def _quote_number(written: str, value: int) -> str:
    return f"quote {_quoted(written)}: unquoted, it reads as the number {value}"


# ---------------------------------------------------------------------- loading
class _Loader:
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        path = self.path = origin.path
        self.display = str(path)
        self.spec_dir = os.path.dirname(os.path.abspath(path))
        self.real_dir = os.path.realpath(self.spec_dir)
        self.files: dict[str, _File] = {}  # realpath → file, in reading order
        self.sources: dict[tuple[str, SourceConfig], SourceFile] = {}  # tables, JSON (sources.py)
        self.errors: list[Located] = []

    def load(self) -> Spec:
        spec = None
        try:
            spec = self._load()
            return spec
        finally:
            for file in self.files.values():
                file.settle_sources(locate=spec is not None)

    def _load(self) -> Spec:
        root, self.errors = _read(self.path, self.display, self.origin.raw)
        self.files[os.path.realpath(self.path)] = root
        self.errors += _schema_errors(root, "spec")
        if self.errors:
            self.salvage(root)
        self.raise_errors()
        includes = [self.includes(root, i, q) for i, q in enumerate(root.data["queues"])]
        self.raise_errors()
        provider = self.provider(root)
        lock_option = provider_class(provider.type).capabilities.lock_option
        built = [
            self.queue(root, i, q, inc, provider.type, lock_option)
            for i, (q, inc) in enumerate(zip(root.data["queues"], includes, strict=True))
        ]
        queues = tuple(queue for queue, _ in built)
        self.check_unique_queues(root, queues)
        self.raise_errors()
        for index, (queue, origins) in enumerate(built):
            self.check_queue(root, index, queue, origins, provider.type)
        self.raise_errors()
        digest = hashlib.sha256()
        for raw in [f.doc.raw for f in self.files.values()] + [s.raw for s in self.sources.values()]:
            digest.update(raw)
        return Spec(
            provider=provider,
            queues=queues,
            files=tuple(f.display for f in self.files.values())
            + tuple(dict.fromkeys(s.display for s in self.sources.values())),
            digest=digest.hexdigest(),
            origin=self.origin,
        )

    def check_queue(self, root: _File, index: int, queue: QueueSpec, origins: dict[str, _Origin], service: str) -> None:
        """The checks that need a valid structure: the service's (statuses, tag values,
        options) and rule oscillation, in one round."""
        provider_cls = provider_class(service)
        problems = capability_problems(queue, provider_cls.capabilities, service)
        problems += rank_problems(queue, provider_cls.capabilities, service)
        for problem in problems + provider_cls.check_queue(queue):
            self.errors.append(self.problem_error(root, index, origins, problem.path, problem.message))
        tag_types = _declared_tag_types(root.data["queues"][index])
        for rule_index, where in wheres(queue):
            for path, message in where_problems(
                where,
                ("rules", rule_index, "where"),
                provider_cls.capabilities.fields,
                tag_types,
                service,
                provider_cls.capabilities.label_tags,
            ):
                self.errors.append(root.error(("queues", index) + path, message, key=True))
        self.errors.extend(find_oscillations(queue))

    def salvage(self, root: _File) -> None:
        """With schema errors somewhere, still check the queues the schema accepts (and
        their includes) as a valid spec's are checked, so one round of `validate` shows
        every problem the structure allows instead of one kind per round. Needs a valid
        provider block; a queue or include that is itself invalid is left to its errors."""
        data = root.data
        if not isinstance(data, dict) or not isinstance(data.get("queues"), list):
            return
        if "provider" in data and not _validator("provider").is_valid(data["provider"]):
            return
        try:
            provider = self.provider(root)
            lock_option = provider_class(provider.type).capabilities.lock_option
            for index, data_queue in enumerate(data["queues"]):
                data_queue = _valid_part(data_queue)
                if data_queue is None:
                    continue
                before = len(self.errors)
                includes = self.includes(root, index, data_queue)
                if len(self.errors) > before:
                    continue
                queue, origins = self.queue(root, index, data_queue, includes, provider.type, lock_option)
                if len(self.errors) == before:
                    self.check_queue(root, index, queue, origins, provider.type)
        except UserError:
            return  # the errors already found are the round's

    def raise_errors(self) -> None:
        if not self.errors:
            return
        displays = [f.display for f in self.files.values()] + [s.display for s in self.sources.values()]
        order = {display: i for i, display in enumerate(dict.fromkeys(displays))}
        unique = {str(e): e for e in self.errors}.values()
        raise UserErrors(capped(sorted(unique, key=lambda e: _sort_key(e, order)), self.sources.values()))

    # ------------------------------------------------------------ includes
    def includes(self, root: _File, index: int, queue: dict) -> list[_File | SourceFile]:
        found: list[_File | SourceFile] = []
        for n, pattern in enumerate(queue.get("include", [])):
            where = ("queues", index, "include", n)
            if is_source(pattern):
                found += self.source_files(root, where, SourceConfig.of(pattern))
                continue
            for relative in self.expand(root, where, pattern):
                real = os.path.realpath(os.path.join(self.spec_dir, relative))
                file = self.files.get(real)
                if file is None:
                    try:
                        file, errors = _read(Path(self.spec_dir, relative), self.display_of(relative))
                    except Located as error:
                        self.errors.append(error)
                        continue
                    self.files[real] = file
                    self.errors += errors + _schema_errors(file, "include_file")
                if file not in found:
                    found.append(file)
        for records in self.origin.records:
            if records.queue == _as_key_text(queue.get("id")):
                found.append(self.records_source(records))
        return found

    def records_source(self, records: Records) -> SourceFile:
        """The rows Spec.with_entries was given, typed as a JSON file's."""
        key = (records.display, records.config)
        source = self.sources.get(key)
        if source is None:
            source = self.sources[key] = parse_source(records.raw, records.display, records.display, records.config)
            self.errors += source.errors
        return source

    def source_files(self, root: _File, where: tuple, config: SourceConfig) -> list[SourceFile]:
        """The table or JSON files an include entry names, read and typed (sources.py)."""
        found = []
        for relative in self.expand(root, where + (config.kind,), config.pattern):
            problem = format_problem(config, relative)
            if problem is not None:
                self.errors.append(root.error(where + (config.kind,), problem))
                continue
            key = (os.path.realpath(os.path.join(self.spec_dir, relative)), config)
            source = self.sources.get(key)
            if source is None:
                try:
                    source = read_source(
                        Path(self.spec_dir, relative), self.display_of(relative), relative.replace(os.sep, "/"), config
                    )
                except Located as error:
                    self.errors.append(error)
                    continue
                self.sources[key] = source
                self.errors += source.errors
            found.append(source)
        return found

    def display_of(self, relative: str) -> str:
        """How an included file is named in messages and plans: beside the spec's name."""
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.display), relative.replace(os.sep, "/")))

    def expand(self, root: _File, where: tuple, pattern: str) -> list[str]:
        """Files a pattern names, all inside the spec's directory; nothing else is read."""
        if os.path.isabs(pattern) or ".." in Path(pattern).parts:
            self.errors.append(root.error(where, f"include {_quoted(pattern)} leaves the spec's directory"))
            return []
        try:
            found = treeglob.expand(self.spec_dir, pattern)
        except treeglob.WalkRefused as refused:
            self.errors.append(root.error(where, f"include {_quoted(pattern)} {refused}"))
            return []
        matches = [m for m in found if os.path.isfile(os.path.join(self.spec_dir, m))]
        if not matches:
            self.errors.append(root.error(where, f"include {_quoted(pattern)} matches no files"))
            return []
        for match in matches:
            real = os.path.realpath(os.path.join(self.spec_dir, match))
            if os.path.commonpath([self.real_dir, real]) != self.real_dir:
                self.errors.append(
                    root.error(
                        where,
                        f"include {_quoted(pattern)} leaves the spec's directory "
                        f"({_quoted(match)} resolves outside it)",
                    )
                )
                return []
            if real == os.path.realpath(self.path):
                self.errors.append(root.error(where, f"include {_quoted(pattern)} matches the spec file itself"))
                return []
        return matches

    # ------------------------------------------------------------ building
    def provider(self, root: _File) -> ProviderConfig:
        block = root.data.get("provider")
        if block is None:
            return ProviderConfig(DEFAULT_TYPE, {}, self.spec_dir)
        options = {k: v for k, v in block.items() if k != "type"}
        for name, problem in provider_class(block["type"]).option_problems(options):
            self.errors.append(root.error(("provider", name), problem))
        return ProviderConfig(block["type"], options, self.spec_dir, root.source(("provider",)))

    def queue(
        self,
        root: _File,
        index: int,
        data: dict,
        includes: list[_File | SourceFile],
        service: str,
        lock_option: str | None,
    ) -> tuple[QueueSpec, dict[str, _Origin]]:
        """The QueueSpec, and where each submission id was written (for positions)."""
        base = ("queues", index)
        lock_key = self.lock_key(root, base, data.get("lock", {}), service, lock_option)
        policy = data.get("tags", {})
        safety = data.get("safety", {})
        submissions: dict[str, Assignment | Unbuilt] = {}
        origins: dict[str, _Origin] = {}
        places: list[tuple[_File, tuple, dict] | SourceFile] = [
            (root, base + ("submissions",), data.get("submissions", {}))
        ]
        places += [f if isinstance(f, SourceFile) else (f, ("submissions",), f.data["submissions"]) for f in includes]
        for place in places:
            if isinstance(place, SourceFile):  # a table's or JSON file's rows (sources.py)
                for item_id, assignment, row in place.entries:
                    if item_id in origins:
                        self.errors.append(
                            row.error(
                                (),
                                f"submission {_quoted(item_id)} is already defined "
                                f"at {_origin_text(origins[item_id], item_id)}",
                            )
                        )
                        continue
                    origins[item_id] = row
                    submissions[item_id] = assignment
                continue
            file, at, entries = place
            if file.doc.positions_deferred and not origins.keys() & entries.keys():
                # a JSON file's entries: built when first used (model.Submissions)
                origins.update(dict.fromkeys(entries, (file, at)))
                submissions.update(dict.fromkeys(entries, _unbuilt(file, at, entries)))
                continue
            for item_id, entry in entries.items():
                if item_id in origins:
                    self.errors.append(
                        file.error(
                            at + (item_id,),
                            f"submission {_quoted(item_id)} is already defined at "
                            f"{_origin_text(origins[item_id], item_id)}",
                            key=True,
                        )
                    )
                    continue
                origins[item_id] = (file, at)
                submissions[item_id] = _assignment(file, at + (item_id,), entry, None)
        rules = self.rules(
            root, base + ("rules",), data.get("rules", []), provider_class(service).capabilities.text_tags
        )
        queue = QueueSpec(
            id=self.id_text(root, base + ("id",), data["id"]),
            source=root.source(base),
            tag_policy=policy.get("policy", "merge"),
            ignore=tuple(policy.get("ignore", ())),
            lock_key=lock_key,
            safety=Safety(
                max_change_percent=float(safety.get("max_change_percent", Safety.max_change_percent)),
                max_changes=safety.get("max_changes"),
            ),
            rules=tuple(r for r in rules if isinstance(r, Rule)),
            submissions=Submissions(submissions),
            ranks=tuple(r for r in rules if isinstance(r, Rank)),
        )
        return queue, origins

    def lock_key(self, root: _File, base: tuple, lock: dict, service: str, option: str | None) -> str:
        """Where the queue's advisory lock is stored: `lock: {<option>: KEY}`, the option
        named by the provider (annotation, tag, key). A service that locks natively has
        nothing to configure."""
        if not lock:
            return DEFAULT_LOCK_KEY
        ((given, key),) = lock.items()  # the schema allows exactly one
        if option is None:
            self.errors.append(
                root.error(base + ("lock",), f"{service} locks items natively; remove `lock:`", key=True)
            )
        elif given != option:
            self.errors.append(
                root.error(
                    base + ("lock", given),
                    f"{service} names where it keeps the lock `{option}`: write `lock: {{{option}: {key}}}`",
                    key=True,
                )
            )
        return key

    def rules(self, root: _File, base: tuple, data: list[dict], text: bool) -> list[Rule | Rank]:
        """The rules in order; a `rank:` rule is a Rank (QueueSpec keeps them apart);
        `text`: the service stores tags as text."""
        rules: list[Rule | Rank] = []
        named: dict[str, tuple] = {}  # name → path of its name (or of the unnamed rule)
        for index, rule in enumerate(data):
            at = base + (index,)
            name = rule.get("name", f"rule-{index + 1}")
            if name in named:
                self.errors.append(self.duplicate_rule(root, name, named[name], at, "name" in rule))
            named.setdefault(name, at + ("name",) if "name" in rule else at)
            where = rule["where"]
            statuses = where.get("status")
            match = Match(
                statuses=None if statuses is None else frozenset([statuses] if isinstance(statuses, str) else statuses),
                ids=None
                if "ids" not in where
                else frozenset(self.id_text(root, at + ("where", "ids", i), v) for i, v in enumerate(where["ids"])),
                tags={k: _condition(v) for k, v in where.get("tags", {}).items()},
                locked=where.get("locked"),
                item={k: _condition(v, item=True) for k, v in where.get("item", {}).items()},
            )
            if "rank" in rule:
                rules.append(_rank(name, match, rule["rank"], root.source(at, name), index, text))
                continue
            rules.append(
                Rule(
                    name=name,
                    where=match,
                    set=_assignment(root, at + ("set",), rule["set"], name),
                    source=root.source(at, name),
                )
            )
        return rules

    def duplicate_rule(self, root: _File, name: str, first: tuple, at: tuple, explicit: bool) -> Located:
        line, column = root.doc.position(root.original(first))
        if not explicit:
            return root.error(
                at,
                f"this unnamed rule's default name {_quoted(name)} is already used at "
                f"line {line}, column {column}; give it a name",
            )
        if first[-1] != "name":
            return root.error(
                at + ("name",),
                f"duplicate rule name {_quoted(name)} (the unnamed rule at "
                f"line {line}, column {column} is called that by default)",
            )
        return root.error(
            at + ("name",), f"duplicate rule name {_quoted(name)} (first defined at line {line}, column {column})"
        )

    def id_text(self, file: _File, path: tuple, value: str | int) -> str:
        if isinstance(value, int):
            written = file.doc.int_text(file.original(path))
            if written is not None:
                self.errors.append(file.error(path, _quote_number(written, value)))
            return str(value)
        return value

    def check_unique_queues(self, root: _File, queues: tuple[QueueSpec, ...]) -> None:
        seen: dict[str, int] = {}
        for index, queue in enumerate(queues):
            if queue.id in seen:
                line, column = root.doc.position(root.original(("queues", seen[queue.id], "id")))
                self.errors.append(
                    root.error(
                        ("queues", index, "id"),
                        f"duplicate queue id {_quoted(queue.id)} (first defined at line {line}, column {column})",
                    )
                )
            seen.setdefault(queue.id, index)

    def problem_error(self, root: _File, index: int, origins: dict[str, _Origin], path: tuple, message: str) -> Located:
        if len(path) >= 2 and path[0] == "submissions" and path[1] in origins:
            origin = origins[path[1]]
            if isinstance(origin, RowOrigin):
                return origin.error(tuple(path[2:]), message)
            file, at = origin
            return file.error(at + tuple(path[1:]), message, key=True)
        return root.error(("queues", index) + tuple(path), message, key=True)


# Where an explicit entry was written: a YAML mapping (file, path of the mapping) or a
# row of a table or JSON source.
_Origin = tuple[_File, tuple] | RowOrigin


def _origin_text(origin: _Origin, item_id: str) -> str:
    """FILE:LINE:COLUMN of an entry's id, for "already defined at" messages."""
    if isinstance(origin, RowOrigin):
        return origin.where()
    file, at = origin
    line, column = file.doc.key_position(file.original(at + (item_id,)))
    return f"{file.display}:{line}:{column}"


def _unbuilt(file: _File, at: tuple, entries: dict[str, Any]) -> Unbuilt:
    """The entries of `file` at `at`, each built as `_assignment` when first used, with
    its line found once for all its values when it is written on one line."""

    def build(item_id: str) -> Assignment:
        path = at + (item_id,)
        return _assignment(file, path, entries[item_id], None, file.doc.line_first(path))

    return Unbuilt(build)


def _assignment(
    file: _File, at: tuple, data: dict, rule: str | None, on_line: tuple[int, Any] | None = None
) -> Assignment:
    """`on_line`: the line every value of the entry is on, and where to find a value's
    column when asked (Document.line_first): its sources are made located, one lookup
    for the entry instead of one per value (300,000 for a 100,000-entry plan)."""
    if on_line is None:

        def setting(value: Any, path: tuple) -> Setting:
            return Setting(value, file.source(at + path, rule))

    else:
        display, (line, column_of) = file.display, on_line

        def setting(value: Any, path: tuple) -> Setting:
            return Setting(value, Source.on_line(display, rule, line, column_of, at + path))

    tags = data.get("tags", {})
    if isinstance(tags, list):
        tag_settings = {label: setting((True,), ("tags", i)) for i, label in enumerate(tags)}
    else:
        tag_settings = {
            key: setting(None if value is None else to_tag_value(value), ("tags", key)) for key, value in tags.items()
        }
    return Assignment(
        status=setting(data["status"], ("status",)) if "status" in data else None,
        locked=setting(data["locked"], ("locked",)) if "locked" in data else None,
        tags=tag_settings,
        replace=data.get("replace", False),
    )


def _declared_tag_types(queue: dict) -> dict[str, str]:
    """Tag key → the type a table or JSON source of the queue declares for it: what a
    condition on that key can compare with."""
    types: dict[str, str] = {}
    for entry in queue.get("include", ()):
        if is_source(entry):
            for column in SourceConfig.of(entry).columns:
                if column.target.startswith("tags.") and column.type is not None:
                    types[column.target[len("tags.") :]] = column.type
    return types


def _valid_part(queue: Any) -> dict | None:
    """A queue's data as far as the schema accepts it: the queue itself, or without the
    explicit entries the schema refuses (entries are keyed by id, so every other one
    keeps its place in the file); None when even that is invalid."""
    if _validator("queue").is_valid(queue):
        return queue
    entries = queue.get("submissions") if isinstance(queue, dict) else None
    if not isinstance(entries, dict):
        return None
    entry = _validator("entry")
    kept = {
        **queue,
        "submissions": {k: v for k, v in entries.items() if isinstance(k, str) and k and entry.is_valid(v)},
    }
    return kept if _validator("queue").is_valid(kept) else None


def _rank(name: str, where: Match, data: dict, source: Source, index: int, text: bool) -> Rank:
    """A `rank:` block the schema accepted."""
    top = data.get("top", {})
    return Rank(
        name=name,
        where=where,
        into=data.get("into"),
        by=tuple(_rank_key(k) for k in data["by"]),
        ties=data.get("ties", "min"),
        source=source,
        per=_rank_key(data["per"]) if "per" in data else None,
        top=top.get("tag"),
        top_count=top.get("count", 1),
        index=index,
        text=text,
    )


def _rank_key(data: dict) -> RankKey:
    item = "item" in data
    return RankKey(data["item" if item else "tag"], item, data.get("order") == "desc")


def _condition(value: Any, item: bool = False) -> TagCondition:
    """A `where:` condition. A bare value is typed equality for a tag (`1` is not
    `1.0`), and `eq` for a service field, whose kind the service decides."""
    if isinstance(value, dict):
        return TagCondition(
            exists=value.get("exists"),
            ops=tuple((op, operand(op, raw)) for op, raw in value.items() if op != "exists"),
        )
    if item:
        return TagCondition(ops=(("eq", operand("eq", value)),))
    return TagCondition(equals=to_tag_value(value))


def _sort_key(error: Located, order: dict[str, int]) -> tuple:
    """Spec first, then included files in reading order, then by position."""
    return (order.get(error.file, len(order)), error.file, error.line or 0, error.column or 0, error.message)


# ----------------------------------------------------------------------- schema
def definition_schema(definition: str) -> dict[str, Any]:
    schema = spec_schema()
    if definition == "spec":
        return schema
    return {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}


@cache
def _validator(definition: str) -> Any:
    return yaml_validator_class()(definition_schema(definition))


@cache
def _compiled(definition: str) -> Callable[[Any], bool]:
    return compile_predicate(definition_schema(definition), shipped=definition)


def _fast_accepts(definition: str, data: Any) -> bool:
    """The compiled check (fastschema.py) where it can be trusted. Where it is stricter
    than our jsonschema (a YAML timestamp is not a string to it) a valid file only costs
    the slow path; where it is looser (5.0 passes as an integer) it sees `_Fraction`s,
    if the definition types anything `integer`."""
    data = _without_plain_entries(definition, data)
    return _compiled(definition)(_no_integral_floats(data) if _has_integers(definition) else data)


def _without_plain_entries(definition: str, data: Any) -> Any:
    """`data` with each `submissions:` mapping proved valid in bulk (plain_entries.py)
    left empty, which the schema accepts as it accepts the mapping: the rest is checked
    as before, and a mapping not proved is checked whole."""

    def emptied(holder: Any) -> Any:
        entries = holder.get("submissions") if type(holder) is dict else None
        if type(entries) is dict and entries and plain_entries.plain(entries):
            return {**holder, "submissions": {}}
        return holder

    if definition == "include_file":
        return emptied(data)
    if definition == "spec" and type(data) is dict and type(data.get("queues")) is list:
        return {**data, "queues": [emptied(queue) for queue in data["queues"]]}
    return data


@cache
def _has_integers(definition: str) -> bool:
    """Whether the definition types anything `integer`: only there can an integral float
    pass the compiled check wrongly (an include file's entries type none, and one
    `score: 0.0` among 20,000 made their walk a fifth of validate's time)."""
    return '"integer"' in json.dumps(inline_refs(definition_schema(definition)))


class _Fraction(float):
    """An integral float as fastjsonschema must see it: a number, never an integer
    (its integer test accepts any float whose is_integer() is true; ours does not)."""

    def is_integer(self) -> bool:
        return False


def _no_integral_floats(node: Any) -> Any:
    """`node` with each integral float as a `_Fraction`; the same objects where there
    is none (the common case). Before, one `score: 0.0` sent a whole file through
    jsonschema: most of a large include's load time (BENCHMARKS.md)."""
    if isinstance(node, float):
        return _Fraction(node) if node.is_integer() else node
    if isinstance(node, dict):
        out = None
        for key, value in node.items():
            # scalars inline: a call per value was most of this walk's time
            kind = type(value)
            if (
                kind is str
                or kind is int
                or kind is bool
                or value is None
                or (kind is float and not value.is_integer())
            ):
                continue
            new = _no_integral_floats(value)
            if new is not value:
                if out is None:
                    out = dict(node)
                out[key] = new
        return node if out is None else out
    if isinstance(node, list):
        items = [_no_integral_floats(v) for v in node]
        return node if all(a is b for a, b in zip(items, node, strict=True)) else items
    return node


def _schema_errors(file: _File, definition: str) -> list[Located]:
    """The file's schema violations in schema_wording's words (none of a secret-named key's)."""
    if _fast_accepts(definition, file.data):
        return []
    return located_errors(_validator(definition), file.data, file.error, hidden=_refused_secret, yaml=True)
