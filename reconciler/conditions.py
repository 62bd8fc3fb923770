"""Comparison conditions of `where:` (docs/spec.md, "Conditions").

One module says what `{gt: 0.5}`, `{matches: "^lab-"}` or `{lt: now-7d}` mean, so that
resolve (which tests items), validate (which refuses conditions that can never hold)
and the static oscillation check (which asks whether a rule's `set` lands in another
rule's range) agree.

A value compares only with a literal of its own *kind*: numbers (int and float alike,
so 1 < 1.5 and 1 == 1.0), text, timestamps, booleans. Anything else (another kind, a
list, an absent key) makes the comparison false: a condition never raises at run time.

Relative times (`now`, `now-7d`) are offsets from the plan's clock (`evaluated_at`),
read once per plan and passed in: compiling a condition is pure.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from collections.abc import Callable, Iterable, Mapping

from .model import to_scalar

# Ordering operators and the function each applies (value OP literal).
ORDERED: Mapping[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
OPERATORS = ("eq", "ne", *ORDERED, "between", "in", "not_in", "matches", "exists")
RELATIVE = re.compile(r"now(?:([+-])([0-9]{1,9})([smhdw]))?")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_PATTERN = 1000  # characters of a `matches` pattern

NUMBER, TEXT, TIME, BOOL = "number", "text", "timestamp", "boolean"
# type(value) → kind; anything missing (a list's tuple, None) has no kind.
_KIND: Mapping[type, str] = {int: NUMBER, float: NUMBER, str: TEXT, datetime: TIME, bool: BOOL}
# A declared type (table column, service field) → the kind of value it holds.
TYPE_KINDS: Mapping[str, str] = {
    "integer": NUMBER,
    "float": NUMBER,
    "string": TEXT,
    "timestamp": TIME,
    "boolean": BOOL,
}

Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class RelativeTime:
    """`now`, `now-7d`, `now+2h`: `seconds` after the plan's `evaluated_at`."""

    seconds: int
    text: str

    def at(self, now: datetime) -> datetime:
        return to_scalar(now + timedelta(seconds=self.seconds))


Operand = Any  # a Scalar, a RelativeTime, or a tuple of them (between, in, not_in)


def relative_time(text: Any) -> RelativeTime | None:
    if not isinstance(text, str):
        return None
    found = RELATIVE.fullmatch(text)
    if found is None:
        return None
    sign, amount, unit = found.groups()
    seconds = 0 if sign is None else int(amount) * _UNIT_SECONDS[unit] * (-1 if sign == "-" else 1)
    return RelativeTime(seconds, text)


def operand(op: str, raw: Any) -> Operand:
    """A condition's literal as written → its typed form (relative times recognised
    wherever a single value is ordered or compared; `in` lists compare literally)."""
    if op in ("between", "in", "not_in"):
        return tuple(_one(v, relative=op == "between") for v in raw)
    if op in ("matches", "exists"):
        return raw
    return _one(raw, relative=True)


def _one(raw: Any, *, relative: bool) -> Any:
    rel = relative_time(raw) if relative else None
    return rel if rel is not None else to_scalar(raw)


def literal_kind(value: Any) -> str:
    if isinstance(value, RelativeTime):
        return TIME
    return _KIND[type(value)]


def kind_of(value: Any) -> str | None:
    """The kind of a live value (a single scalar), None for anything that never compares."""
    return _KIND.get(type(value))


def scalar_of(tag_value: Any) -> Any:
    """The single scalar of a tag value, or the tuple itself (a list compares with
    nothing) or None (absent)."""
    if tag_value is not None and len(tag_value) == 1:
        return tag_value[0]
    return tag_value


# ------------------------------------------------------------------- patterns
@lru_cache(maxsize=256)
def pattern(text: str) -> Any:
    """RE2, which matches in time linear in the value whatever the pattern: a
    pathological pattern cannot hang a plan. Raises ValueError with RE2's reason."""
    import re2

    if len(text) > MAX_PATTERN:
        raise ValueError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own copy of the error to stderr
    try:
        return re2.compile(text, options)
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid"
        raise ValueError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None


def uses_clock(ops: Iterable[tuple[str, Operand]]) -> bool:
    """Whether some operand is a relative time (the plan must read its clock)."""
    return any(
        isinstance(v, RelativeTime) or (isinstance(v, tuple) and any(isinstance(x, RelativeTime) for x in v))
        for _, v in ops
    )


def reads_clock(queue: Any) -> bool:
    """Whether some rule or rank of `queue` compares with a relative time."""
    return any(
        uses_clock(cond.ops)
        for rule in (*queue.rules, *queue.ranks)
        for cond in (*rule.where.tags.values(), *rule.where.item.values())
    )


# ------------------------------------------------------------------- compiling
def compile_ops(ops: Iterable[tuple[str, Operand]], now: datetime | None) -> Predicate:
    """One predicate on a scalar (see `scalar_of`) that holds when every op holds.

    `now` None (no plan clock: the static check) makes each relative bound hold for
    every timestamp, since the clock moves and any time is eventually on either side.
    """
    tests = [_compile(op, value, now) for op, value in ops if op != "exists"]
    if len(tests) == 1:
        return tests[0]
    return lambda value: all(test(value) for test in tests)


def _resolved(value: Any, now: datetime | None) -> Any:
    return value.at(now) if isinstance(value, RelativeTime) and now is not None else value


def _compile(op: str, raw: Operand, now: datetime | None) -> Predicate:
    kinds = _KIND
    if op == "matches":
        search = pattern(raw).search
        return lambda v: type(v) is str and search(v) is not None
    if op in ("in", "not_in"):
        members = {(literal_kind(x), x) for x in raw}
        accepted = {k for k, _ in members}
        if op == "in":
            return lambda v: (kinds.get(type(v)), v) in members
        return lambda v: (k := kinds.get(type(v))) in accepted and (k, v) not in members
    if op == "between":
        lo, hi = (_resolved(x, now) for x in raw)
        types = frozenset(t for t, k in kinds.items() if k == literal_kind(raw[0]))
        if isinstance(lo, RelativeTime) or isinstance(hi, RelativeTime):
            return lambda v: type(v) in types
        return lambda v: type(v) in types and lo <= v <= hi
    literal = _resolved(raw, now)
    # The Python types of the literal's kind: one set lookup per test in the hot loop.
    types = frozenset(t for t, k in kinds.items() if k == literal_kind(raw))
    if isinstance(literal, RelativeTime):
        return lambda v: type(v) in types
    if op == "eq":
        return lambda v: type(v) in types and v == literal
    if op == "ne":
        return lambda v: type(v) in types and v != literal
    compare = ORDERED[op]
    return lambda v: type(v) in types and compare(v, literal)


# ------------------------------------------------------------------- validate
def literal_problems(op: str, raw: Operand, declared: str | None) -> list[str]:
    """Why a literal is wrong for its operator, or can never compare with a key whose
    declared type (`integer`, `timestamp` …) is known; [] when it is fine."""
    if op == "exists":
        return []
    if op == "matches":
        problems = (
            []
            if declared is None or TYPE_KINDS.get(declared) == TEXT
            else [f"`matches` compares text, and this key holds {declared} values: it can never match"]
        )
        try:
            pattern(raw)
        except ValueError as error:
            problems.append(f"pattern {raw!r} does not compile: {error}")
        return problems
    values = raw if isinstance(raw, tuple) else (raw,)
    kinds = [literal_kind(v) for v in values]
    problems = []
    if (op in ORDERED or op == "between") and BOOL in kinds:
        problems.append(f"`{op}` orders values, and booleans have no order: use `eq`")
    if op == "between":
        if kinds[0] != kinds[1]:
            problems.append(f"`between` needs two values of one kind, got a {kinds[0]} and a {kinds[1]}")
        elif not any(isinstance(v, RelativeTime) for v in values) and values[0] > values[1]:
            problems.append(
                f"`between: [lo, hi]` needs lo <= hi: nothing lies between {_shown(values[0])} and {_shown(values[1])}"
            )
    want = TYPE_KINDS.get(declared) if declared is not None else None
    if want is not None:
        for value, kind in zip(values, kinds, strict=True):
            if kind != want:
                problems.append(
                    f"{_shown(value)} is a {kind}, and this key holds {declared} "
                    "values: the condition can never compare"
                )
                break
    return problems


def _shown(value: Any) -> str:
    from .model import format_scalar

    if isinstance(value, RelativeTime):
        return value.text
    return format_scalar(value)


def where_problems(
    where: Any,
    at: tuple,
    fields: Mapping[str, str],
    tag_types: Mapping[str, str],
    service: str,
    labels: bool = False,
) -> Iterable[tuple[tuple, str]]:
    """(path under the queue, message) for every condition of one rule's `where` that
    validate refuses: a service field the service lacks, a literal that can never
    compare with a key of known type (on a label service every tag is a boolean), a
    pattern that does not compile."""
    from .errors import suggest

    for key, cond in where.tags.items():
        for op, value in cond.ops:
            for message in literal_problems(op, value, "boolean" if labels else tag_types.get(key)):
                yield at + ("tags", key, op), f"tag {key!r}: {message}"
    for name, cond in where.item.items():
        if name not in fields:
            if not fields:
                yield at + ("item", name), f"{service} reports no item fields a `where` can test"
                continue
            near = suggest(name, fields)
            hint = f": did you mean {near!r}?" if near else ""
            yield (
                at + ("item", name),
                (f"{service} items have no field {name!r}{hint} (fields: {', '.join(sorted(fields))})"),
            )
            continue
        for op, value in cond.ops:
            for message in literal_problems(op, value, fields[name]):
                yield at + ("item", name, op), f"item field {name!r}: {message}"
