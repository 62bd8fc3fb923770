"""Rules + explicit entries → what one item should look like (docs/semantics.md).

A *pass* applies, in order, every rule whose `where` matches the state as updated so far
in that pass, then the item's explicit entry; under `tags.policy: exact` it ends by
deleting every tag nobody set in that pass. Passes repeat from the live item until the
state stops changing, so the result is a fixpoint: applying it and resolving again
changes nothing, which is what makes `apply` then `plan` empty.

Resolution runs once per item of every queue, so rules are compiled once per queue
(`CompiledQueue`) and an item nothing applies to costs one `where` test per rule.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime
from functools import lru_cache
from typing import Any
from collections.abc import Callable, Iterator, Mapping

from .conditions import compile_ops, scalar_of, uses_clock
from .errors import Located, UserError
from .model import (
    Assignment,
    Desired,
    Item,
    Match,
    QueueSpec,
    Rule,
    Setting,
    Source,
    TagCondition,
    TagValue,
    glob_matcher,
    same_tag_value,
    tag_field,
    tag_value_key,
)

Tags = Mapping[str, TagValue]
# Status, locked, tags between passes; a pass copies the tags before changing them.
State = tuple[str, bool, Tags]
# A Desired's fields without the id: status, locked, tags.
Settled = tuple["Setting | None", "Setting | None", dict[str, Setting]]


_INDEX_RULES_FROM = 32  # below this, testing every rule is as quick as finding the few


class CycleError(UserError):
    """The rules keep changing an item and never settle on one state."""


class _Step:
    """A rule, or an explicit entry (which always applies), flattened for speed."""

    __slots__ = (
        "always",
        "ids",
        "item_tests",
        "label",
        "locked",
        "set_locked",
        "set_status",
        "set_tags",
        "statuses",
        "tag_tests",
    )

    def __init__(self, label: str | None, where: Match, assignment: Assignment, now: datetime | None = None) -> None:
        self.always = False  # an entry's step (`entry`) matches every state: no test
        self.label = label  # None for an entry: each setting's own source names it
        self.statuses = where.statuses
        self.ids = where.ids
        self.locked = where.locked
        # (key, exists, typed key of the required value or None, predicate or None)
        self.tag_tests = (
            tuple(
                (key, cond.exists, tag_value_key(cond.equals), _predicate(cond, now))
                for key, cond in where.tags.items()
            )
            if where.tags
            else ()  # an entry's step, one per managed item: no generator for nothing
        )
        # (service field, exists, predicate or None): fields never change between passes
        self.item_tests = (
            tuple((name, cond.exists, _predicate(cond, now)) for name, cond in where.item.items()) if where.item else ()
        )
        self.set_status = assignment.status
        self.set_locked = assignment.locked
        self.set_tags = tuple(assignment.tags.items())

    @classmethod
    def entry(cls, assignment: Assignment) -> _Step:
        """An explicit entry's step, which always applies (an empty `where`), with no
        `where` to compile: one is made per managed item of a plan."""
        step = cls.__new__(cls)
        step.always, step.label = True, None
        step.statuses = step.ids = step.locked = None
        step.tag_tests = step.item_tests = ()
        step.set_status, step.set_locked = assignment.status, assignment.locked
        step.set_tags = tuple(assignment.tags.items())
        return step

    def matches(self, item: Item, status: str, locked: bool, tags: Tags) -> bool:
        if self.statuses is not None and status not in self.statuses:
            return False
        if self.locked is not None and locked != self.locked:
            return False
        if self.ids is not None and item.id not in self.ids:
            return False
        for key, exists, required, test in self.tag_tests:
            value = tags.get(key)
            if exists is not None and (value is not None) != exists:
                return False
            if required is not None and (value is None or tag_value_key(value) != required):
                return False
            if test is not None and not test(
                value[0] if value is not None and len(value) == 1 else value  # conditions.scalar_of
            ):
                return False
        if self.item_tests:
            fields = item.fields
            for name, exists, test in self.item_tests:
                field = fields.get(name)
                if exists is not None and (field is not None) != exists:
                    return False
                if test is not None and not test(field):
                    return False
        return True

    def who(self, setting: Setting) -> str:
        return self.label or _where(setting.source)


_NOTHING = Assignment()


def where_test(where: Match, now: datetime | None = None) -> Callable[[Any, str, bool, Tags], bool]:
    """`where`'s test of (item, status, locked, tags) on the plan's clock `now`, as rules
    apply it: ranks select their items with it (the item needs `id` and `fields`)."""
    return _Step(None, where, _NOTHING, now).matches


class _Trace:
    """Who changed which field in each pass; only built to explain a cycle."""

    def __init__(self) -> None:
        self.passes: list[list[tuple[str, str]]] = []

    def start_pass(self) -> None:
        self.passes.append([])

    def changed(self, who: str, field: str) -> None:
        self.passes[-1].append((who, field))


class CompiledQueue:
    """A queue spec prepared once and reused to resolve all of its items."""

    def __init__(self, queue: QueueSpec, now: datetime | None = None) -> None:
        """`now`: the plan's clock (`evaluated_at`), which relative times in conditions
        (`now-7d`) count from; read once per plan by the caller, so resolving is pure."""
        self.queue = queue
        self.rules = tuple(_Step(f"{r.name} ({_where(r.source)})", r.where, r.set, now) for r in queue.rules)
        self.entries = queue.submissions
        self.exact = queue.tag_policy == "exact"
        # Exact-policy deletions are attributed to the queue that declares the policy.
        self.exact_delete = Setting(None, queue.source)
        self.exact_label = f"tags.policy exact ({_where(queue.source)})"
        self._ignore_glob = glob_matcher(queue.ignore)
        self._ignored: dict[str, bool] = {}  # tag keys repeat across items: match once
        # What the rules' `where`s read (entries read nothing, ids never change): a pass
        # that changed none of it is followed by the same pass again (see `_pass`).
        self._reads_status = any(r.statuses is not None for r in self.rules)
        self._reads_locked = any(r.locked is not None for r in self.rules)
        self._read_tags = tuple(dict.fromkeys(t[0] for r in self.rules for t in r.tag_tests))
        # The statuses some rule requires, if every rule requires one and exact deletes
        # nothing: from a status outside them no rule matches, so the next pass would
        # only make the entry's settings again, as the last step of this one did (see
        # `_pass`). None otherwise.
        self._rule_statuses: frozenset[str] | None = (
            frozenset(s for r in self.rules for s in r.statuses or ())
            if not self.exact and all(r.statuses is not None for r in self.rules)
            else None
        )
        # A chain of n rules each enabling an earlier one settles within n + 1 passes;
        # anything far beyond that is a spec that never settles.
        self.max_passes = 2 * len(self.rules) + 16
        # Many rules: a pass visits only those that can match the item's status as it
        # is at that point (the rules requiring it, and those requiring none), found by
        # bisection; a chain of n status rules took n passes of n tests each.
        self._by_status: dict[str, list[int]] | None = None
        self._status_free: list[int] = []
        if len(self.rules) > _INDEX_RULES_FROM:
            self._status_free = [i for i, r in enumerate(self.rules) if r.statuses is None]
            self._by_status = {}
            for i, r in enumerate(self.rules):
                for status in r.statuses or ():
                    self._by_status.setdefault(status, []).append(i)

    # ------------------------------------------------------------------ public
    def resolve(self, item: Item) -> Desired:
        settled = self.settle(item)
        return Desired(item.id) if settled is None else Desired(item.id, *settled)

    def settle(self, item: Item) -> Settled | None:
        """`resolve` without building a Desired, and None when nothing manages the item
        (the common case): what a whole-queue plan needs per item, nothing more."""
        entry = self.entries.get(item.id)
        steps = self.rules if entry is None else (*self.rules, _Step.entry(entry))
        touched: dict[str, Setting] = {}
        tag_touched: dict[str, Setting] = {}
        initial: State = (item.status, item.locked, item.tags)
        state, changed, final = self._pass(item, initial, steps, touched, tag_touched, None)
        if not touched and not tag_touched:
            return None
        if final or not changed:  # settled in one pass (most items): no history to keep
            return touched.get("status"), touched.get("locked"), tag_touched
        passes, latest = 1, initial
        older: set[tuple] = set()  # every state a pass started from but the latest, hashed
        unhashed: list[State] = []  # ...those not in `older` yet: most items take two passes,
        # and the second never looks in `older`, so their states are never hashed
        while changed:
            # A final state repeats no earlier one: the pass after that one would have
            # changed nothing and ended the loop there. (A set, not a scan of the history:
            # a chain of n rules takes n passes, and the scan made that quadratic.)
            if passes > 1:
                if passes >= self.max_passes:
                    raise self._cycle_error(item, steps)
                if not final:
                    older.update(map(_state_key, unhashed))
                    unhashed.clear()
                    if _state_key(state) in older:
                        raise self._cycle_error(item, steps)
            if final:  # the confirming pass would change nothing and record nothing new
                break
            unhashed.append(latest)
            passes, latest = passes + 1, state
            state, changed, final = self._pass(item, state, steps, touched, tag_touched, None)
        return touched.get("status"), touched.get("locked"), tag_touched

    # ---------------------------------------------------------------- internals
    def _is_ignored(self, key: str) -> bool:
        known = self._ignored.get(key)
        if known is None:
            known = self._ignored[key] = bool(self._ignore_glob(key))
        return known

    def _pass(
        self,
        item: Item,
        state: State,
        steps: tuple[_Step, ...],
        touched: dict[str, Setting],
        tag_touched: dict[str, Setting],
        trace: _Trace | None,
    ) -> tuple[State, bool, bool]:
        """One pass from `state`, recording every setting made in `touched`/`tag_touched`.

        Also says whether it changed the state, comparing only what it touched, and
        whether it is *final*: it changed nothing any `where` reads. Then the next pass
        matches the very same steps, which set the same fields to the same values, and
        exact deletes nothing (every key this pass left unset is gone or ignored), so
        that pass would return this state unchanged and is skipped. Typically a pass
        that only deleted under exact what an earlier pass's rule had set: it saves one
        pass in three for every such item. Final too when no rule can match from the
        status it ended in (every rule requires a status, none this one, and no exact
        policy): the next pass would apply the entry alone, whose settings this pass
        made last, so the state would not change. A plan of 100,000 entries over a
        `where: {status: VALIDATED}` rule took two passes an item (BENCHMARKS.md
        "Fourth round").
        """
        status, locked, tags = state
        own_tags = False  # copy-on-write: `state`'s dict is never modified
        set_keys: list[str] = []
        box: list[str] | None = None  # the status so far, for `_indexed`
        if self._by_status is not None and trace is None:
            box = [status]
            steps = self._indexed(box, steps[len(self.rules) :])  # type: ignore[assignment]
        for step in steps:
            if not step.always and not step.matches(item, status, locked, tags):
                continue
            setting = step.set_status
            if setting is not None:
                if trace is not None and setting.value != status:
                    trace.changed(step.who(setting), "status")
                status = setting.value
                touched["status"] = setting
                if box is not None:
                    box[0] = status
            setting = step.set_locked
            if setting is not None:
                if trace is not None and setting.value != locked:
                    trace.changed(step.who(setting), "locked")
                locked = setting.value
                touched["locked"] = setting
            for key, setting in step.set_tags:
                value = setting.value
                # Later passes set the very same objects again: no copy, no write.
                if tags.get(key) is not value:
                    if trace is not None and not same_tag_value(tags.get(key), value):
                        trace.changed(step.who(setting), tag_field(key))
                    if not own_tags:
                        tags, own_tags = dict(tags), True
                    if value is None:
                        tags.pop(key, None)  # type: ignore[attr-defined]
                    else:
                        tags[key] = value  # type: ignore[index]
                set_keys.append(key)
                tag_touched[key] = setting
        changed = status != state[0] or locked != state[1]
        if self.exact:
            ignored = self._ignored
            doomed = [
                k for k in tags if k not in set_keys and not (ignored[k] if k in ignored else self._is_ignored(k))
            ]
            if doomed:
                # Nobody set these keys in this pass, so they were there when it started.
                changed = True
                if not own_tags:
                    tags = dict(tags)
                for key in doomed:
                    del tags[key]  # type: ignore[attr-defined]
                    tag_touched[key] = self.exact_delete
                    if trace is not None:
                        trace.changed(self.exact_label, tag_field(key))
        if not changed and own_tags:
            before = state[2]
            for key in set_keys:
                old, new = before.get(key), tags.get(key)
                if old is not new and not same_tag_value(old, new):
                    changed = True
                    break
        new_state = (status, locked, tags)
        if not changed:
            return new_state, False, True
        statuses = self._rule_statuses
        if statuses is not None and status not in statuses:
            return new_state, True, True  # no rule matches from here: a plan of entries takes one pass
        return new_state, True, self._reads_nothing_changed(state, new_state)

    def _indexed(self, box: list[str], after: tuple[_Step, ...]) -> Iterator[_Step]:
        """The rules in order that can match the status `box` holds when each is
        reached (others fail their status test anyway), then the steps `after`."""
        rules, free, at = self.rules, self._status_free, 0
        assert self._by_status is not None
        while True:
            own = self._by_status.get(box[0], ())
            j, k = bisect_left(own, at), bisect_left(free, at)
            nxt = min(own[j] if j < len(own) else len(rules), free[k] if k < len(free) else len(rules))
            if nxt == len(rules):
                break
            at = nxt + 1
            yield rules[nxt]
        yield from after

    def _reads_nothing_changed(self, old: State, new: State) -> bool:
        """No field any rule's `where` reads differs (typed) between `old` and `new`."""
        if self._reads_status and old[0] != new[0]:
            return False
        if self._reads_locked and old[1] != new[1]:
            return False
        before, after = old[2], new[2]
        if before is not after:
            for key in self._read_tags:
                a, b = before.get(key), after.get(key)
                if a is not b and not same_tag_value(a, b):
                    return False
        return True

    def _cycle_error(self, item: Item, steps: tuple[_Step, ...]) -> CycleError:
        """Replay with a trace and name whoever changed a field that keeps varying."""
        trace = _Trace()
        state: State = (item.status, item.locked, item.tags)
        states = [state]
        start = None
        while start is None and len(states) <= self.max_passes:
            trace.start_pass()
            state, _, _ = self._pass(item, state, steps, {}, {}, trace)
            start = next((i for i, old in enumerate(states) if _same_state(old, state)), None)
            states.append(state)
        if start is None:  # never repeated: hit the pass limit
            start = 1
            prefix = f"rules do not settle after {self.max_passes} passes"
        else:
            prefix = "rules cycle"
        varying = _varying_fields(states[start:])
        involved: list[str] = []
        for events in trace.passes[start:]:
            for who, field in events:
                if field in varying and who not in involved:
                    involved.append(who)
        return CycleError(f"item {item.id}: {prefix}: " + " → ".join(involved))


def _predicate(cond: TagCondition, now: datetime | None) -> Callable[[Any], bool] | None:
    if not cond.ops:
        return None
    if now is None and uses_clock(cond.ops):
        # A programming error, not a user's: planning always reads the clock once.
        raise ValueError("a condition with a relative time needs the plan's clock (`now`)")
    return compile_ops(cond.ops, now)


def _where(source: Source) -> str:
    return f"{source.file}:{source.line}"


def _same_state(a: State, b: State) -> bool:
    if a[0] != b[0] or a[1] != b[1]:
        return False
    ta, tb = a[2], b[2]
    if ta is tb:
        return True
    return ta.keys() == tb.keys() and all(same_tag_value(ta[k], tb[k]) for k in ta)


def _state_key(state: State) -> tuple:
    """What `_same_state` compares, hashable."""
    return state[0], state[1], frozenset((k, tag_value_key(v)) for k, v in state[2].items())


def _varying_fields(states: list[State]) -> set[str]:
    fields = set()
    if len({s[0] for s in states}) > 1:
        fields.add("status")
    if len({s[1] for s in states}) > 1:
        fields.add("locked")
    for key in {k for s in states for k in s[2]}:
        if len({tag_value_key(s[2].get(key)) for s in states}) > 1:
            fields.add(tag_field(key))
    return fields


# ------------------------------------------------------------ static oscillation check
def find_oscillations(queue: QueueSpec) -> list[Located]:
    """Rule pairs that can flip an item back and forth, whatever the queue holds today.

    Rules A and B oscillate when A's `set` can satisfy B's `where`, B's `set` can satisfy
    A's `where`, and the two sets give some field different values. Explicit entries are
    applied last and never re-enable anything, so only rules are checked. Under
    `tags.policy: exact` a rule that adds a tag its own `where` requires absent also
    oscillates: the next pass no longer matches it, so exact deletes the tag again.
    """
    problems: list[Located] = []
    ignored = glob_matcher(queue.ignore)
    setters: dict[tuple, list[int]] = {}  # a `set` fact → the earlier rules making it
    status_keepers: dict[tuple, list[int]] = {}  # the same, for rules setting no status
    testers: dict[tuple, list[int]] = {}  # a `where` fact → the earlier rules testing it
    for j, b in enumerate(queue.rules):
        if queue.tag_policy == "exact":
            key = _self_undoing_tag(b, ignored)
            if key is not None:
                problems.append(
                    Located(
                        b.source.file,
                        b.source.line,
                        b.source.column,
                        f"rule '{b.name}' ({_where(b.source)}) can oscillate under "
                        f"`tags.policy: exact`: its `set` adds tag '{key}' that its own `where` "
                        "requires absent, and exact deletes it once the rule stops matching",
                    )
                )
        # Only a rule whose `set` passes one of b's tests can enable b, and only one
        # testing something b sets can be enabled by b: look up the shorter of the two
        # lists instead of trying every earlier rule (validate was quadratic in rules).
        # A rule enabling b passes every test of b it touches: if b tests the status, only
        # rules setting an accepted status, or leaving it alone and passing another test.
        enabling = [
            (setters if fact[0] == "status" or b.where.statuses is None else status_keepers).get(fact, ())
            for fact in _tested_facts(b.where)
        ]
        enabled = [testers.get(fact, ()) for fact in _set_facts(b.set)]
        shorter = min(enabling, enabled, key=lambda lists: sum(map(len, lists)))
        for i in sorted({i for found in shorter for i in found}):
            a = queue.rules[i]
            if (
                _ids_overlap(a.where, b.where)
                and _fields_overlap(a.where, b.where)
                and _enables(a.set, b.where)
                and _enables(b.set, a.where)
                and _conflict(a.set, b.set)
            ):
                problems.append(
                    Located(
                        b.source.file,
                        b.source.line,
                        b.source.column,
                        f"rules '{a.name}' ({_where(a.source)}) and '{b.name}' ({_where(b.source)}) "
                        "can oscillate: each one's `set` re-enables the other's `where`",
                    )
                )
        for fact in _set_facts(b.set):
            setters.setdefault(fact, []).append(j)
            if b.set.status is None:
                status_keepers.setdefault(fact, []).append(j)
        for fact in _tested_facts(b.where):
            testers.setdefault(fact, []).append(j)
    return problems


def _set_facts(assignment: Assignment) -> list[tuple]:
    """What an assignment makes true, in the terms `_tested_facts` asks for."""
    facts: list[tuple] = []
    if assignment.status is not None:
        facts.append(("status", assignment.status.value))
    if assignment.locked is not None:
        facts.append(("locked", assignment.locked.value))
    for key, setting in assignment.tags.items():
        facts.append(("tag", key, tag_value_key(setting.value)))
        if setting.value is not None:
            facts.append(("tag present", key))
    return facts


def _tested_facts(where: Match) -> list[tuple]:
    """The facts any one of which a `set` must make true to pass a test of `where`
    (`_enables` needs at least one passed test)."""
    facts: list[tuple] = [("status", status) for status in where.statuses or ()]
    if where.locked is not None:
        facts.append(("locked", where.locked))
    for key, cond in where.tags.items():
        if cond.equals is not None:
            facts.append(("tag", key, tag_value_key(cond.equals)))
        elif cond.exists or cond.ops:
            # A range (`{gt: 0.5}`) is passed only by a present value: any `set` giving
            # the key a value is a candidate, and `_enables` asks whether it lands inside.
            facts.append(("tag present", key))
        elif cond.exists is False:
            facts.append(("tag", key, None))
    return facts


def _ids_overlap(a: Match, b: Match) -> bool:
    return a.ids is None or b.ids is None or not a.ids.isdisjoint(b.ids)


def _fields_overlap(a: Match, b: Match) -> bool:
    """No rule changes a service field, so rules that require different values of one
    (`cancelRequested: true` and `false`) never match the same item: they cannot loop."""
    for name, cond in a.item.items():
        other = b.item.get(name)
        if other is None:
            continue
        mine = [v for op, v in cond.ops if op == "eq"]
        theirs = [v for op, v in other.ops if op == "eq"]
        if mine and theirs and not _static_test((("eq", mine[0]),))(theirs[0]):
            return False
    return True


def _enables(assignment: Assignment, where: Match) -> bool:
    """`assignment` sets a field `where` tests to an accepted value and breaks no test."""
    verdicts: list[bool] = []
    if assignment.status is not None and where.statuses is not None:
        verdicts.append(assignment.status.value in where.statuses)
    if assignment.locked is not None and where.locked is not None:
        verdicts.append(assignment.locked.value == where.locked)
    for key, setting in assignment.tags.items():
        cond = where.tags.get(key)
        if cond is not None:
            value = setting.value
            ok = True
            if cond.exists is not None:
                ok = (value is not None) == cond.exists
            if cond.equals is not None:
                ok = ok and same_tag_value(value, cond.equals)
            if cond.ops:  # a value set inside the other rule's range enables it
                ok = ok and _static_test(cond.ops)(scalar_of(value))
            verdicts.append(ok)
    return bool(verdicts) and all(verdicts)


@lru_cache(maxsize=1024)
def _static_test(ops: tuple) -> Callable[[Any], bool]:
    """A condition as the static check reads it: without a clock, a relative time
    bound holds for every timestamp (the clock moves past any of them)."""
    return compile_ops(ops, None)


def _conflict(a: Assignment, b: Assignment) -> bool:
    if a.status is not None and b.status is not None and a.status.value != b.status.value:
        return True
    if a.locked is not None and b.locked is not None and a.locked.value != b.locked.value:
        return True
    return any(
        key in b.tags and not same_tag_value(setting.value, b.tags[key].value) for key, setting in a.tags.items()
    )


def _self_undoing_tag(rule: Rule, ignored: Callable[[str], Any]) -> str | None:
    for key, setting in sorted(rule.set.tags.items()):
        cond = rule.where.tags.get(key)
        adds = setting.value is not None and not ignored(key)
        if adds and cond is not None and cond.exists is False:
            return key
    return None
