"""The data every module agrees on (docs/architecture.md, docs/semantics.md, docs/plan-file.md).

Everything here is plain, immutable data plus the few pure helpers that define what
"the same value" means, so that resolve, diff, the plan file and every provider compare
tag values in exactly one way.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timezone
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import Any, Literal, overload
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView

Scalar = str | int | float | bool | datetime
# A tag value is always a tuple: `score: 0.9` and `score: [0.9]` are the same value.
TagValue = tuple  # tuple[Scalar, ...]

LockOp = Literal["lock", "unlock"]
Outcome = Literal["applied", "unchanged", "stale", "blocked", "failed", "skipped"]


# --------------------------------------------------------------------------- values
@overload
def to_scalar(value: date) -> datetime: ...
@overload
def to_scalar(value: Any) -> Scalar: ...
def to_scalar(value: Any) -> Scalar:
    """Normalise one YAML/JSON scalar: dates become UTC datetimes with ms precision."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"not a tag scalar: {type(value).__name__}")


def to_tag_value(value: Any) -> TagValue:
    """A scalar or list of scalars → the canonical tuple form."""
    if isinstance(value, (list, tuple)):
        return tuple(to_scalar(v) for v in value)
    return (to_scalar(value),)


def scalar_kind(value: Scalar) -> str:
    """The stored type of a scalar: "bool", "int", "float", "timestamp" or "str".

    bool is tested before int because Python's True is an int.
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, datetime):
        return "timestamp"
    return "str"


def scalar_key(value: Scalar) -> tuple:
    """Typed comparison key: 1, 1.0, True and "1" are four different stored values.

    Providers store numbers typed (Synapse LONG vs DOUBLE, JSON int vs float), so a
    spec saying `rank: 1` against a live `1.0` is a real change of stored type. NaN
    equals NaN here, otherwise a NaN tag could never converge.
    """
    kind = scalar_kind(value)
    if kind == "float" and math.isnan(value):  # type: ignore[arg-type]
        return (kind, "nan")
    if kind == "timestamp":
        return (kind, timestamp_ms(value))  # type: ignore[arg-type]
    return (kind, value)


def tag_value_key(value: TagValue | None) -> tuple | None:
    """The typed comparison key of a whole tag value (None: absent)."""
    return None if value is None else tuple(scalar_key(v) for v in value)


def same_tag_value(a: TagValue | None, b: TagValue | None) -> bool:
    return tag_value_key(a) == tag_value_key(b)


def timestamp_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def from_timestamp_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def format_scalar(value: Scalar) -> str:
    """How a value is shown to people (YAML-like, unambiguous about type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, str):
        # json.dumps(value, ensure_ascii=False) without building an encoder per call:
        # a report of 10,000 changes formats 20,000 values
        return encode_basestring(value)
    return repr(value)


def format_tag_value(value: TagValue | None) -> str:
    if value is None:
        return "(absent)"
    if len(value) == 1:
        return format_scalar(value[0])
    return "[" + ", ".join(format_scalar(v) for v in value) + "]"


# --------------------------------------------------------------------- JSON codec
def encode_scalar(value: Scalar) -> Any:
    """Scalar → JSON that decodes to the same typed value (plan files, local store)."""
    if isinstance(value, datetime):
        return {"timestamp": format_scalar(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def decode_scalar(value: Any) -> Scalar:
    if isinstance(value, dict):
        if set(value) == {"timestamp"} and isinstance(value["timestamp"], str):
            return to_scalar(datetime.fromisoformat(value["timestamp"].replace("Z", "+00:00")))
        if set(value) == {"float"} and value["float"] in ("nan", "inf", "-inf"):
            return float(value["float"])
        raise ValueError(f"unknown encoded scalar {value!r}")
    if isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(f"not a scalar: {value!r}")


def encode_tag_value(value: TagValue | None) -> Any:
    if value is None:
        return None
    if len(value) == 1:
        return encode_scalar(value[0])
    return [encode_scalar(v) for v in value]


def decode_tag_value(value: Any) -> TagValue | None:
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(decode_scalar(v) for v in value)
    return (decode_scalar(value),)


def encode_tags(tags: Mapping[str, TagValue | None]) -> dict[str, Any]:
    return {k: encode_tag_value(v) for k, v in sorted(tags.items())}


def decode_tags(tags: Mapping[str, Any]) -> dict[str, TagValue | None]:
    return {k: decode_tag_value(v) for k, v in tags.items()}


def decode_stored_tags(tags: Mapping[str, Any]) -> dict[str, TagValue]:
    """An item's tags as stored: a null value is no tag (Item.tags never holds None)."""
    return {k: v for k, v in decode_tags(tags).items() if v is not None}


# ---------------------------------------------------------------------- the spec
class Source:
    """Where a desired value came from: shown in plans so reviewers can find it.

    Immutable data compared by (file, line, rule, cell). A spec's sources are located
    lazily (`Source.later`): a 20,000-entry include holds 60,000 of them and a valid
    spec's `validate` names none, so the line and column are found (for the whole
    file at once) only when a plan or a message asks (BENCHMARKS.md, "Loading big
    specs")."""

    __slots__ = ("_at", "_column", "_line", "_locate", "cell", "file", "rule")
    file: str
    rule: str | None  # None: an explicit `submissions:` entry or queue setting
    # The table column or JSON key a value was read from (a row of a table source is
    # an explicit entry, one line holding many values): `scores.csv:17 (auc)`.
    cell: str | None
    _line: int | None  # None: not found yet
    _column: int | None
    _locate: Callable[[Any], tuple[int, Any]] | None  # set while the column is not found
    _at: Any

    def __init__(
        self, file: str, line: int, rule: str | None = None, column: int | None = None, cell: str | None = None
    ) -> None:
        self._fill(file, rule, cell, line, column, None, None)

    @classmethod
    def later(cls, file: str, rule: str | None, locate: Callable[[Any], tuple[int, Any]], at: Any) -> Source:
        """A source whose (line, column) is `locate(at)`, called once, when first asked.
        `locate` may give the line alone, with a function in the column's place: that
        function's `(line, column)` for `at` is asked for when the column is (a plan
        names lines only, and a JSON file finds them quicker than its positions:
        yamlload.Document.line_first)."""
        source = cls.__new__(cls)
        source._fill(file, rule, None, None, None, locate, at)
        return source

    @classmethod
    def on_line(
        cls, file: str, rule: str | None, line: int, column_of: Callable[[Any], tuple[int, int]], at: Any
    ) -> Source:
        """A source whose line is known and whose column is `column_of(at)[1]`, asked
        for when first needed (as `later`'s when its locator gives the line alone)."""
        source = cls.__new__(cls)
        source._fill(file, rule, None, line, None, column_of, at)
        return source

    def _fill(
        self,
        file: str,
        rule: str | None,
        cell: str | None,
        line: int | None,
        column: int | None,
        locate: Callable[[Any], tuple[int, Any]] | None,
        at: Any,
    ) -> None:
        """Every slot, set once (assignment is refused: a Source is immutable); one call
        each, no loop: a big include makes 60,000 sources."""
        put = object.__setattr__
        put(self, "file", file), put(self, "rule", rule), put(self, "cell", cell)
        put(self, "_line", line), put(self, "_column", column)
        put(self, "_locate", locate), put(self, "_at", at)

    def locate(self) -> None:
        """Find the line now, if not found yet (and the column, unless it comes later)."""
        if self._line is None:
            self._located()

    def _located(self) -> None:
        line, column = self._locate(self._at)  # type: ignore[misc]  # set until the line is found
        put = object.__setattr__
        put(self, "_line", line)
        if column is None or type(column) is int:
            put(self, "_column", column)
            put(self, "_locate", None)
            put(self, "_at", None)
        else:  # the line alone: the column from this, when asked
            put(self, "_locate", column)

    @property
    def line(self) -> int:
        if self._line is None:
            self._located()
        return self._line  # type: ignore[return-value]  # found

    @property
    def column(self) -> int | None:
        """Where on the line, for error messages (`FILE:LINE:COLUMN`); plans and plan
        files name the line only, so two sources on one line are the same source."""
        if self._locate is not None:
            if self._line is None:
                self._located()
            if self._locate is not None:
                column = self._locate(self._at)[1]
                put = object.__setattr__
                put(self, "_column", column), put(self, "_locate", None), put(self, "_at", None)
        return self._column

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Source is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Source is immutable: cannot delete {name!r}")

    def _key(self) -> tuple:
        return (self.file, self.line, self.rule, self.cell)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Source):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Source(file={self.file!r}, line={self.line!r}, rule={self.rule!r}, "
            f"column={self.column!r}, cell={self.cell!r})"
        )

    def __reduce__(self) -> tuple:
        return (Source, (self.file, self.line, self.rule, self.column, self.cell))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if self.cell is not None:
            return f"{where} ({self.cell})"
        return f"{where} (rule {self.rule})" if self.rule else where

    def to_json(self) -> dict[str, Any]:
        out = {"file": self.file, "line": self.line, "rule": self.rule}
        return out if self.cell is None else {**out, "cell": self.cell}


@dataclass(frozen=True)
class Setting:
    """One desired field value with its provenance. `value is None` deletes a tag."""

    value: Any
    source: Source


@dataclass(frozen=True)
class Assignment:
    """The `set:` of a rule or one explicit `submissions:` entry."""

    status: Setting | None = None
    locked: Setting | None = None
    tags: Mapping[str, Setting] = field(default_factory=dict)  # value: TagValue | None
    # An entry's `replace: true`: its change to a locked item is made anyway, as under
    # `--replace ID` (the reviewed, in-the-spec way to correct a locked item)
    replace: bool = False


class Unbuilt:
    """Where entries read but not yet built are written: `build(item_id)` makes the
    Assignment of one of them. Shared by every entry of one file's mapping."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[str], Assignment]) -> None:
        self.build = build


class Submissions(Mapping[str, Assignment]):
    """A queue's explicit entries by id, each Assignment built when first used.

    A valid spec's `validate` needs their ids and count only; building 20,000 entries'
    Assignments, Settings and Sources was a third of a large JSON include's validate
    (BENCHMARKS.md, "Loading big specs"), and a plan builds them all anyway. The ids and
    their order are fixed when loaded; a value is an Assignment or the `Unbuilt` that
    makes it."""

    __slots__ = ("_items", "_unbuilt")

    def __init__(self, items: dict[str, Assignment | Unbuilt]) -> None:
        self._items = items
        self._unbuilt = any(type(v) is Unbuilt for v in items.values())

    def __getitem__(self, item_id: str) -> Assignment:
        value = self._items[item_id]
        if type(value) is Unbuilt:
            value = self._items[item_id] = value.build(item_id)
        return value  # type: ignore[return-value]  # built above

    def get(self, item_id: str, default: Any = None) -> Any:
        return self[item_id] if item_id in self._items else default

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _built(self) -> dict[str, Assignment]:
        if self._unbuilt:
            items = self._items
            for item_id, value in items.items():
                if type(value) is Unbuilt:
                    items[item_id] = value.build(item_id)  # a value replaced, not a key added
            self._unbuilt = False
        return self._items  # type: ignore[return-value]  # every value built above

    def values(self) -> ValuesView[Assignment]:
        return self._built().values()

    def items(self) -> ItemsView[str, Assignment]:
        return self._built().items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._built() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping, as a dict is

    def __repr__(self) -> str:
        return f"Submissions({self._built()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Submissions, (dict(self._built()),))  # built: an Unbuilt holds a closure


@dataclass(frozen=True)
class TagCondition:
    """`{key: value}` (equals is a TagValue) or `{key: {exists: bool, gt: 0.5, ...}}`.

    `ops`: (operator, operand) pairs that must all hold (conditions.py says what each
    means); an operand is typed as written, relative times (`now-7d`) left unresolved.
    """

    equals: TagValue | None = None
    exists: bool | None = None
    ops: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Match:
    """A rule's `where:`; every given part must hold (empty matches everything)."""

    statuses: frozenset[str] | None = None
    ids: frozenset[str] | None = None
    tags: Mapping[str, TagCondition] = field(default_factory=dict)
    locked: bool | None = None
    # Read-only fields the service reports (`where: {item: …}`, Capabilities.fields)
    item: Mapping[str, TagCondition] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    where: Match
    set: Assignment
    source: Source  # the rule's own position, for cycle and oscillation errors


@dataclass(frozen=True)
class RankKey:
    """One `by` or `per` key of a rank: a tag (`{tag: auc}`) or a read-only service
    field (`{item: createdOn}`, Capabilities.fields)."""

    name: str
    item: bool = False  # True: a service field, not a tag
    descending: bool = False  # `order: desc` (only `by` keys have an order)

    def __str__(self) -> str:
        return f"{'item' if self.item else 'tag'} {self.name}"


@dataclass(frozen=True)
class Rank:
    """A `rank:` rule (docs/spec.md, "Ranks"): computed by ranks.py over the whole queue's
    desired state, after every other rule and entry."""

    name: str
    where: Match
    into: str | None  # the tag receiving 1, 2, 3…; None: only `top` is written
    by: tuple[RankKey, ...]
    ties: str  # "min" (1,1,3), "dense" (1,1,2) or "unique" (1,2,3, the id breaks ties)
    source: Source
    per: RankKey | None = None
    top: str | None = None  # the tag that is true on each group's first `top_count`
    top_count: int = 1
    index: int = field(default=0, compare=False)  # its place in `rules:`, for errors
    text: bool = False  # the service stores text only: ranks are written as "1", "true"

    @property
    def outputs(self) -> tuple[str, ...]:
        """The tag keys this rank owns on every item of its queue."""
        return tuple(k for k in (self.into, self.top) if k is not None)

    @property
    def fields(self) -> frozenset[str]:
        """The service fields it reads (`where`, `by`, `per`): what a listing must carry."""
        keys = (*self.by, self.per)
        return frozenset(self.where.item) | {k.name for k in keys if k is not None and k.item}


@dataclass(frozen=True)
class Safety:
    max_change_percent: float = 30.0
    max_changes: int | None = None
    min_items: int = 10  # smaller queues are exempt from the percentage limit


def glob_matcher(globs: tuple[str, ...]) -> Callable[[str], Any]:
    """A test of `tags.ignore` globs (`*`, `?`, `[abc]`), case-sensitive on every OS:
    tag keys are case-sensitive on every service."""
    if not globs:
        return lambda key: False
    pattern = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs))
    return pattern.match


@dataclass(frozen=True)
class ManagedTags:
    """The tag keys of a queue's items its spec manages: the only keys that feed the
    concurrency guard, so another writer's own tag key (`owner: ops`) between plan and
    apply never makes a planned change stale (docs/semantics.md, "What the guard
    compares"). Under `policy: merge` the keys the spec names (a rule's `where` or
    `set`, an entry); under `policy: exact` every key but those matching `ignore`, since
    exact deletes any other key and so a new one IS a change.

    Derived once from the spec (`QueueSpec.managed_tags`) and carried by the plan and
    plan file, whose queues hold no rules to derive it from. The default (exact, no
    ignore: every key) is the cautious reading of a plan file that predates it."""

    policy: str = "exact"
    named: frozenset[str] = frozenset()  # keys the spec names, under either policy
    ignore: tuple[str, ...] = ()  # under exact: keys left alone

    @classmethod
    def of(cls, queue: QueueSpec) -> ManagedTags:
        named: set[str] = set()
        for rule in queue.rules:
            named.update(rule.where.tags)
            named.update(rule.set.tags)
        for entry in queue.submissions.values():
            named.update(entry.tags)
        for rank in queue.ranks:  # what it writes, and the tags it reads
            named.update(rank.outputs)
            named.update(rank.where.tags)
            named.update(k.name for k in (*rank.by, rank.per) if k is not None and not k.item)
        ignore = queue.ignore if queue.tag_policy == "exact" else ()
        return cls(queue.tag_policy, frozenset(named), tuple(ignore))

    @cached_property
    def _ignored(self) -> Callable[[str], Any]:
        return glob_matcher(self.ignore)

    def manages(self, key: str) -> bool:
        if key in self.named:
            return True
        return self.policy == "exact" and not self._ignored(key)

    def project(self, tags: Mapping[str, Any]) -> dict[str, Any]:
        """Only the managed keys of `tags`: what the guard compares."""
        return {k: v for k, v in tags.items() if self.manages(k)}

    def to_json(self) -> dict[str, Any]:
        if self.policy == "exact":
            return {"policy": "exact", "named": sorted(self.named), "ignore": list(self.ignore)}
        return {"policy": self.policy, "named": sorted(self.named)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ManagedTags:
        return cls(raw["policy"], frozenset(raw["named"]), tuple(raw.get("ignore", ())))


@dataclass(frozen=True)
class QueueSpec:
    id: str
    source: Source
    tag_policy: str = "merge"
    ignore: tuple[str, ...] = ()
    lock_key: str = "locked"  # tag/annotation/meta key of an advisory lock (`lock:`)
    safety: Safety = Safety()
    rules: tuple[Rule, ...] = ()
    submissions: Mapping[str, Assignment] = field(default_factory=dict)
    ranks: tuple[Rank, ...] = ()  # the `rank:` rules, applied after everything else
    # What a plan file recorded (its queues carry no rules); None: derived from the rules
    recorded_tags: ManagedTags | None = None

    @cached_property
    def managed_tags(self) -> ManagedTags:
        """The tag keys this queue's spec manages (ManagedTags), derived once."""
        return self.recorded_tags or ManagedTags.of(self)


@dataclass(frozen=True)
class ProviderConfig:
    type: str
    options: Mapping[str, Any]
    base_dir: str  # directory of the root spec file: relative paths resolve here
    source: Source | None = None


@dataclass(frozen=True)
class Spec:
    provider: ProviderConfig
    queues: tuple[QueueSpec, ...]
    files: tuple[str, ...]  # every file read, root first
    digest: str  # sha256 of those files' bytes: ties a plan file to the reviewed spec
    # how the loader built it (spec.Origin), so with_entries can build it again with
    # more rows through the same checks; None for a merge of several specs
    origin: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str = ".") -> Spec:
        """A spec from the mapping a spec file holds, checked exactly as a file is;
        includes and relative paths resolve in `base_dir`. Raises SpecError."""
        from .spec import spec_from_dict

        return spec_from_dict(data, base_dir)

    def with_entries(
        self,
        queue: str,
        records: Sequence[Mapping[str, Any]],
        *,
        id: str,
        status: str | None = None,
        locked: str | None = None,
        tags: Mapping[str, Any] | None = None,
        empty: str = "skip",
    ) -> Spec:
        """This spec with one row per record as explicit entries of `queue`, read as a
        JSON source of docs/spec.md (`id`, `status`, `locked` name keys of each record;
        `tags` maps a tag to a key or `{key, type}`), with the same types, checks and
        one-place-per-id rule. Raises SpecError with each problem at
        `<display>:RECORD:COLUMN` (RECORD counts from 1)."""
        from .spec import with_entries

        return with_entries(self, queue, records, id=id, status=status, locked=locked, tags=tags, empty=empty)


def apply_tag_changes(tags: Mapping[str, TagValue], changes: Mapping[str, TagValue | None]) -> dict[str, TagValue]:
    """Live tags with the changed keys replaced or (value None) removed."""
    out = dict(tags)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class StatusRules:
    """What a service lets `status` be, read by `validate` and by the diff.

    `values` None: any string; (): status is not writable on this service (a spec that
    sets it is refused at its line; one that matches it too, unless `known` lists the
    statuses items report). `allowed_from[target]`: the live
    statuses from which the service accepts `target`; from any other the change is a
    refusal shown in the plan (cancel a batch still CREATING). `settles[target]`: live
    statuses the service moves through on its own towards `target` (STOPPING on the way
    to CANCELLED), which count as converged so `apply` then `plan` is empty.
    `ends[target]`: end states from which nothing will ever bring the item to `target`
    (a PROCESSED batch for a cancel): the entry is *settled otherwise*, a note rather than
    a refusal, since a spec written while the batch ran cannot be wrong forever after.
    """

    values: tuple[str, ...] | None = None
    name: str = "status"  # how messages name a status of this service
    # Every status an item can be in, which a rule may match (`where: {status: …}`);
    # None: the writable `values` (a service may report statuses it cannot set).
    known: tuple[str, ...] | None = None
    allowed_from: Mapping[str, frozenset[str]] = field(default_factory=dict)
    settles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ends: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def settled(self, live: str, desired: str) -> bool:
        return live == desired or live in self.settles.get(desired, ())

    def ended(self, live: str, desired: str) -> bool:
        return live in self.ends.get(desired, ())

    def refusal(self, live: str, desired: str) -> str | None:
        """Why the service cannot set `desired` from `live`, or None."""
        allowed = self.allowed_from.get(desired)
        if allowed is None or live in allowed:
            return None
        return f"the service cannot set status {desired} from {live} (only from {', '.join(sorted(allowed))})"


DRIFT_REASON = (
    "locked item drifted: its live value differs from what the spec says it holds; "
    "restore it with `replace: true` in its entry or --replace ID, or find out who changed it"
)


# ------------------------------------------------------------------- live state
NO_FIELDS: Mapping[str, Scalar] = MappingProxyType({})  # shared: most items carry none


@dataclass(frozen=True, slots=True)
class Item:
    """One submission's mutable record as the engine sees it.

    `base` is the provider's native object exactly as read; writes start from it so
    that every field the engine does not manage survives untouched.
    """

    id: str
    etag: str
    status: str
    tags: Mapping[str, TagValue] = field(default_factory=dict)
    locked: bool = False
    base: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Read-only service fields (Capabilities.fields) a `where: {item: …}` may test:
    # name → a scalar, absent when the service did not report it.
    fields: Mapping[str, Scalar] = field(default_factory=lambda: NO_FIELDS, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Desired:
    """What resolve says one item should look like; only managed fields appear."""

    id: str
    status: Setting | None = None
    locked: Setting | None = None
    tags: Mapping[str, Setting] = field(default_factory=dict)  # value None = delete


# -------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class BoardGroup:
    """One group of a leaderboard preview: its first rows, (position, id, values)."""

    label: str | None  # the `per` value, None when the rank has no `per`
    rows: tuple[tuple[int, str, tuple[str, ...]], ...]
    size: int  # items ranked in the group (rows holds the first few)


@dataclass(frozen=True)
class Leaderboard:
    """What a rank rule decided, shortened for people reviewing a plan."""

    rule: str
    source: Source
    columns: tuple[str, ...]  # one per `by` key, e.g. "tag score (desc)"
    groups: tuple[BoardGroup, ...]
    hidden_groups: int = 0  # groups beyond those shown


# The field a change changes: "status", "locked" or, for a tag, "tags.<key>" (as the plan
# file's `sources` name it). Build and read tag fields with tag_field and tag_key_of.
FieldName = str
_TAG_FIELD_PREFIX = "tags."


def tag_field(key: str) -> FieldName:
    """The field that holds tag `key`."""
    return _TAG_FIELD_PREFIX + key


def tag_key_of(field: FieldName) -> str | None:
    """The tag key `field` holds, or None for "status" and "locked"."""
    return field[len(_TAG_FIELD_PREFIX) :] if field.startswith(_TAG_FIELD_PREFIX) else None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's change; tag values are TagValue | None (None: absent)."""

    field: FieldName
    before: Any
    after: Any
    source: Source | None

    @property
    def tag_key(self) -> str | None:
        return tag_key_of(self.field)


@dataclass(frozen=True, slots=True)
class Change:
    item_id: str
    etag: str
    fields: tuple[FieldChange, ...]
    base: Mapping[str, Any] = field(compare=False, repr=False)
    lock: LockOp | None = None
    # The plan fails and apply refuses while any change is blocked: by the item's lock
    # (docs/semantics.md, "Locks"), or, with `refused` saying why, by the service, which cannot make this
    # change from the item's live state (docs/semantics.md, "Services without etags, refusals and settling states").
    blocked: bool = False
    refused: str | None = None
    # A change to a locked item made anyway under `--replace ID` or the entry's
    # `replace: true`: written as unlock, change, relock in one write, so the item stays
    # locked (never blocked as well).
    relock: bool = False
    # Drift on a locked item: the spec itself says the item is locked, and its live
    # value moved away from what the spec says the frozen item holds. Not written (it is
    # `blocked` too) and not a refusal: plan reports it as a change (exit 2 with
    # --detailed-exitcode), to be restored with `--replace` / `replace: true`.
    drift: bool = False

    @property
    def why_blocked(self) -> str:
        """Why apply leaves this blocked change unwritten, for the report."""
        if self.refused is not None:
            return self.refused
        return DRIFT_REASON if self.drift else "item is locked"

    @property
    def tag_changes(self) -> dict[str, TagValue | None]:
        return {key: f.after for f in self.fields if (key := f.tag_key) is not None}

    def after_value(self, name: str) -> Any:
        for f in self.fields:
            if f.field == name:
                return f.after
        raise KeyError(name)

    def changes_field(self, name: str) -> bool:
        return any(f.field == name for f in self.fields)


@dataclass(frozen=True)
class QueuePlan:
    queue_id: str
    items_seen: int
    changes: tuple[Change, ...]
    safety: Safety = Safety()
    lock_key: str = "locked"  # where an advisory lock is stored (QueueSpec.lock_key)
    managed_tags: ManagedTags = ManagedTags()  # QueueSpec.managed_tags, for apply PLANFILE
    # A preview of each rank's leaderboard (ranks.py); shown by text and markdown, not
    # saved in plan files: the changes themselves are the plan.
    leaderboards: tuple[Leaderboard, ...] = ()

    def as_queue(self, source: Source) -> QueueSpec:
        """The queue settings `apply PLANFILE` needs, from the plan alone (no rules)."""
        return QueueSpec(
            id=self.queue_id, source=source, lock_key=self.lock_key, safety=self.safety, recorded_tags=self.managed_tags
        )

    @property
    def blocked(self) -> tuple[Change, ...]:
        """Every change apply does not write: blocked by a lock or the service, or drift
        on a locked item."""
        return tuple(c for c in self.changes if c.blocked)

    @property
    def drifted(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.drift)

    def counts(self) -> dict[str, int]:
        """`blocked` and `drift` are disjoint: only a blocked change fails the plan."""
        drift = len(self.drifted)
        return {
            "change": sum(1 for c in self.changes if not c.blocked),
            "lock": sum(1 for c in self.changes if c.lock == "lock"),
            "unlock": sum(1 for c in self.changes if c.lock == "unlock"),
            "blocked": len(self.blocked) - drift,
            "drift": drift,
        }

    def safety_violation(self) -> str | None:
        """Why applying this queue's plan would change too much, or None (docs/semantics.md, "Safety limits")."""
        n = len(self.changes)
        limit = self.safety.max_changes
        if limit is not None and n > limit:
            return f"queue {self.queue_id}: {n} changes exceed max_changes {limit}"
        if self.items_seen >= self.safety.min_items and n:
            percent = 100.0 * n / self.items_seen
            if percent > self.safety.max_change_percent:
                return (
                    f"queue {self.queue_id}: {n} of {self.items_seen} items would change "
                    f"({percent:.1f}%), more than max_change_percent "
                    f"{self.safety.max_change_percent:g}%"
                )
        return None


@dataclass(frozen=True)
class Plan:
    provider_type: str
    endpoint: str
    spec_digest: str
    queues: tuple[QueuePlan, ...]
    # What `apply PLANFILE` needs of the provider besides the endpoint (Provider.plan_options)
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    guard: str = "etag"  # the provider's concurrency guard: "etag" or "compare"
    # tags are labels (Capabilities.label_tags): shown as `label rfi: added`, not as values
    labels: bool = False
    # The plan's clock, read once: what relative times in conditions (`now-7d`) counted
    # from. Saved in the plan file; `apply PLANFILE` never evaluates anything again.
    evaluated_at: datetime | None = None
    # Whether people are shown `evaluated_at`: when a condition read the clock (a live
    # plan) or when reviewing a saved plan. Otherwise a time that changes on every run
    # would make identical plans look different in a PR comment.
    shows_clock: bool = field(default=False, compare=False)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for q in self.queues for c in q.changes)

    @property
    def has_changes(self) -> bool:
        return any(q.changes for q in self.queues)

    @property
    def blocked(self) -> tuple[Change, ...]:
        return tuple(c for q in self.queues for c in q.blocked)

    @property
    def failing(self) -> tuple[Change, ...]:
        """The blocked changes that fail the plan: drift does not."""
        return tuple(c for c in self.blocked if not c.drift)

    def safety_violations(self) -> list[str]:
        return [v for q in self.queues if (v := q.safety_violation())]

    def summary(self) -> dict[str, int]:
        """The plan file's `summary`; `drift` only when there is some, so plans without
        it read as before."""
        total = {"items_seen": 0, "change": 0, "lock": 0, "unlock": 0, "blocked": 0, "drift": 0}
        for q in self.queues:
            total["items_seen"] += q.items_seen
            for k, v in q.counts().items():
                total[k] += v
        if not total["drift"]:
            del total["drift"]
        return total


# ------------------------------------------------------------------ the report
@dataclass(frozen=True)
class ItemResult:
    queue_id: str
    item_id: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[ItemResult, ...]
    requests: int = 0  # requests sent, every retry and refusal included (Provider.requests_sent)
    # The signal (SIGINT, SIGTERM) that stopped the run after the write in flight
    interrupted: str | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def by_outcome(self, outcome: Outcome) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def ok(self) -> bool:
        return not any(r.outcome in ("stale", "blocked", "failed", "skipped") for r in self.results)
