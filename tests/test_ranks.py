"""Ranks (docs/spec.md, "Ranks"): the pure ranking, its place in the
plan (after rules and entries, entries win), validate's refusals at line:col, the
leaderboard preview, and that a plan whose ranks already hold reads no more than one
without ranks."""

from __future__ import annotations

import random
import shutil
import textwrap
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli
from reconciler.diff import item_order, plan_queue, rediff
from reconciler.errors import UserErrors
from reconciler.model import Assignment, Item, Match, QueueSpec, Rank, RankKey, Setting, Source
from reconciler.planner import build_plan
from reconciler.providers.synapse import SynapseProvider
from reconciler.ranks import Candidate, positions, rank_queue, sort_value
from reconciler.render.markdown import render_plan_markdown
from reconciler.render.text import render_plan_text
from reconciler.spec import load_spec
from reconciler.store import NewItem

SOURCE = Source("spec.yaml", 7, "leaderboard")
QUEUE = "9615000"


def rank(**kw) -> Rank:
    defaults = dict(
        name="leaderboard",
        where=Match(),
        into="rank",
        by=(RankKey("score", descending=True),),
        ties="min",
        source=SOURCE,
    )
    return Rank(**{**defaults, **kw})


def scored(*scores, **tags) -> list[Candidate]:
    return [
        Candidate(str(i + 1), "SCORED", False, {"score": (s,), **tags} if s is not None else dict(tags))
        for i, s in enumerate(scores)
    ]


def places(r: Rank, candidates) -> dict[str, int]:
    return positions(r, candidates, item_order)


# ------------------------------------------------------------------ the ranking
def test_ties_min_dense_and_unique():
    items = scored(0.9, 0.8, 0.9, 0.7)
    assert places(rank(ties="min"), items) == {"1": 1, "3": 1, "2": 3, "4": 4}
    assert places(rank(ties="dense"), items) == {"1": 1, "3": 1, "2": 2, "4": 3}
    # unique: the id is the last resort, in the service's natural order (numeric here)
    assert places(rank(ties="unique"), items) == {"1": 1, "3": 2, "2": 3, "4": 4}


def test_later_keys_break_ties_and_a_missing_tie_break_comes_last():
    day = datetime(2026, 12, 1, tzinfo=timezone.utc)
    items = [
        Candidate("1", "SCORED", False, {"score": (0.9,), "at": (day + timedelta(hours=2),)}),
        Candidate("2", "SCORED", False, {"score": (0.9,)}),
        Candidate("3", "SCORED", False, {"score": (0.9,), "at": (day,)}),
    ]
    by = (RankKey("score", descending=True), RankKey("at"))
    assert places(rank(by=by), items) == {"3": 1, "1": 2, "2": 3}
    desc = (RankKey("score", descending=True), RankKey("at", descending=True))
    assert places(rank(by=desc), items) == {"1": 1, "3": 2, "2": 3}  # absent still last


def test_items_without_a_first_key_value_are_not_ranked():
    items = scored(0.5, None, float("nan"))
    items.append(Candidate("9", "SCORED", False, {"score": (0.1, 0.2)}))  # a list: no one value
    assert places(rank(), items) == {"1": 1}


def test_numbers_compare_as_numbers_and_text_numbers_only_on_text_services():
    assert places(rank(), scored(1, 1.5, 0.5)) == {"2": 1, "1": 2, "3": 3}
    texts = scored("9", "10", "1.5")
    assert places(rank(text=True), texts) == {"2": 1, "1": 2, "3": 3}
    assert places(rank(by=(RankKey("score"),)), texts) == {"3": 1, "2": 2, "1": 3}  # typed tags: text is text
    assert sort_value(("x",), text=True) == sort_value("x")


def test_per_ranks_within_each_group():
    items = [
        Candidate(str(i), "SCORED", False, {"score": (s,), "team": (t,)})
        for i, (s, t) in enumerate([(0.5, "a"), (0.9, "b"), (0.7, "a"), (0.1, "b")], 1)
    ]
    items.append(Candidate("5", "SCORED", False, {"score": (0.99,)}))  # no team: no group
    assert places(rank(per=RankKey("team")), items) == {"3": 1, "1": 2, "2": 1, "4": 2}


def test_where_selects_and_top_marks_the_first_n_and_removes_it_elsewhere():
    items = scored(0.9, 0.8, 0.7) + [Candidate("4", "INVALID", False, {"score": (1.0,), "rank": (1,)})]
    r = rank(where=Match(statuses=frozenset({"SCORED"})), top="best", top_count=2)
    ranked = rank_queue([r], items, item_order)
    values = {i: {k: s.value for k, s in ranked.tags(i)} for i in "1234"}
    assert values == {
        "1": {"rank": (1,), "best": (True,)},
        "2": {"rank": (2,), "best": (True,)},
        "3": {"rank": (3,), "best": None},
        "4": {"rank": None, "best": None},  # outside the ranking: both keys removed
    }
    assert all(s.source == SOURCE for i in "1234" for _, s in ranked.tags(i))


def test_text_services_receive_text():
    ranked = rank_queue([rank(text=True, top="best")], scored("0.5"), item_order)
    assert {k: s.value for k, s in ranked.tags("1")} == {"rank": ("1",), "best": ("true",)}


def test_service_fields_rank_and_group():
    when = datetime(2026, 12, 1, tzinfo=timezone.utc)
    items = [
        Candidate(
            str(i), "SCORED", False, {"score": (0.5,)}, {"submitterId": who, "createdOn": when + timedelta(minutes=m)}
        )
        for i, (who, m) in enumerate([("u1", 5), ("u1", 1), ("u2", 3)], 1)
    ]
    r = rank(
        by=(RankKey("score", descending=True), RankKey("createdOn", item=True)),
        per=RankKey("submitterId", item=True),
        top="best",
    )
    assert places(r, items) == {"2": 1, "1": 2, "3": 1}


# ------------------------------------------------------------- property tests
scores = st.lists(
    st.one_of(st.none(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.sampled_from([0.5, 1.0, 1])),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(scores, st.sampled_from(["min", "dense", "unique"]), st.booleans(), st.randoms(use_true_random=False))
def test_rank_invariants(values, ties, grouped, rnd):
    items = [
        Candidate(str(i), "SCORED", False, {**({"score": (v,)} if v is not None else {}), "team": (f"t{i % 3}",)})
        for i, v in enumerate(values)
    ]
    r = rank(ties=ties, per=RankKey("team") if grouped else None)
    got = places(r, items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert places(r, shuffled) == got  # stable under input order
    assert set(got) == {c.id for c in items if c.tags.get("score") is not None}
    groups: dict[str, list[Candidate]] = {}
    for c in items:
        if c.id in got:
            groups.setdefault(c.tags["team"][0] if grouped else "", []).append(c)
    for members in groups.values():
        ranks = sorted(got[c.id] for c in members)
        if ties == "unique":
            assert ranks == list(range(1, len(members) + 1))  # a permutation of 1..n
        for a in members:
            for b in members:
                sa, sb = a.tags["score"][0], b.tags["score"][0]
                if sa > sb:
                    assert got[a.id] < got[b.id]  # better score, better place
                elif sa == sb and ties != "unique":
                    assert got[a.id] == got[b.id]  # ties equal under min and dense
        if ties == "dense":
            assert set(ranks) == set(range(1, len(set(ranks)) + 1))
        if ties == "min":
            for place in set(ranks):
                assert place == 1 + sum(1 for p in ranks if p < place)


# ------------------------------------------------------------------ in a plan
def item(i: str, status: str = "SCORED", locked: bool = False, **tags) -> Item:
    return Item(i, f"e{i}", status, {k: (v,) for k, v in tags.items()}, locked)


def queue(**kw) -> QueueSpec:
    return QueueSpec(id="q", source=Source("spec.yaml", 3), **kw)


def test_a_score_set_in_the_same_spec_ranks_at_once_and_an_entry_wins():
    spec_source = Source("spec.yaml", 20)
    q = queue(
        submissions={
            "3": Assignment(tags={"score": Setting((0.99,), spec_source)}),
            "2": Assignment(tags={"rank": Setting((7,), spec_source)}),
        },
        ranks=(rank(),),
    )
    plan = plan_queue(q, [item("1", score=0.5), item("2", score=0.9, rank=2), item("3")])
    after = {c.item_id: {f.field: (f.after, f.source) for f in c.fields} for c in plan.changes}
    assert after == {
        "1": {"tags.rank": ((3,), SOURCE)},
        "2": {"tags.rank": ((7,), spec_source)},  # the entry wins over the rank
        "3": {"tags.rank": ((1,), SOURCE), "tags.score": ((0.99,), spec_source)},
    }
    assert plan.leaderboards[0].groups[0].rows[:2] == ((1, "3", ("0.99",)), (2, "2", ("0.9",)))


def test_ranks_that_already_hold_plan_nothing_and_only_limits_the_changes_not_the_ranking():
    q = queue(ranks=(rank(),))
    held = [item("1", score=0.5, rank=2), item("2", score=0.9, rank=1)]
    assert plan_queue(q, held).changes == ()
    moved = [item("1", score=0.95, rank=2), item("2", score=0.9, rank=1)]
    (only,) = plan_queue(q, moved, only=frozenset({"2"})).changes
    assert only.item_id == "2" and only.after_value("tags.rank") == (2,)


def test_a_rediffed_item_keeps_the_place_of_the_plan():
    q = queue(ranks=(rank(),))
    from reconciler.diff import QueueDiffer

    differ = QueueDiffer(q)
    differ.add([item("1", score=0.5), item("2", score=0.9)])
    differ.plan()
    fresh = item("1", score=0.5, note="x")  # another writer touched it since
    change = rediff(q, fresh, ranked=differ.ranked)
    assert change.after_value("tags.rank") == (2,)


def test_the_plan_shows_the_leaderboard_in_text_and_markdown(tmp_path, tmp_spec):
    spec = tmp_spec(f"""
        version: 1
        provider: {{type: local, path: {tmp_path / "db.sqlite"}, seed: live.yaml}}
        queues:
          - id: q
            rules:
              - name: leaderboard
                where: {{status: SCORED}}
                rank: {{into: place, by: [{{tag: score, order: desc}}], per: {{tag: team}}, top: {{tag: best}}}}
        """)
    (tmp_path / "live.yaml").write_text(
        "queues:\n- id: q\n  items:\n"
        + "".join(
            f"  - {{id: '{i}', status: SCORED, tags: {{score: {i / 100}, team: t{i % 2}}}}}\n" for i in range(1, 31)
        )
    )
    out = run_cli("plan", str(spec)).out
    assert f"Leaderboard leaderboard of queue q ({spec}:7), by tag score (desc)" in out
    assert '  tag team "t0" (15 ranked)\n       1  30  0.3\n       2  28  0.28\n' in out
    assert "     … 5 more\n" in out  # top 10 per group
    assert "tags.place: (absent) → 1" in out and "tags.best: (absent) → true" in out
    md = run_cli("plan", str(spec), "--format", "markdown").out
    assert "| Group | Place | Item | tag score (desc) |" in md
    assert '| `tag team "t1"` | 1 | `29` | `0.29` |' in md
    # applied, the ranks hold: the next plan is empty but still previews the board
    assert run_cli("apply", str(spec), "--auto-approve", "--force").code == 0
    out = run_cli("plan", str(spec)).out
    assert "\nNo changes. Live state matches the spec.\n\nLeaderboard leaderboard" in out


# ------------------------------------------------------------------- validate
def errors(tmp_spec, body: str, provider: str = "{type: local}") -> list[str]:
    path = tmp_spec(f'version: 1\nprovider: {provider}\nqueues:\n  - id: "1"\n    rules:\n{body}')
    with pytest.raises(UserErrors) as caught:
        load_spec(path)
    return [str(e)[len(str(path)) + 1 :] for e in caught.value.errors]  # LINE:COL: message


LEADERBOARD = """\
      - name: leaderboard
        where: {status: SCORED}
        rank: {into: rank, by: [{tag: score, order: desc}], top: {tag: best}}
"""


def test_a_condition_reading_a_ranks_output_is_refused(tmp_spec):
    body = (
        LEADERBOARD
        + """\
      - name: congratulate
        where: {tags: {best: true}}
        set: {tags: {note: well done}}
"""
    )
    (message,) = errors(tmp_spec, body)
    assert message.startswith("10:24: this condition reads tag 'best', which rank 'leaderboard' (")
    assert message.endswith(":6) writes after every rule: reading a rank's output would loop")


def test_a_rank_ordering_by_another_ranks_output_is_refused(tmp_spec):
    body = (
        LEADERBOARD
        + """\
      - name: rank-of-rank
        where: {}
        rank: {into: rank2, by: [{tag: rank}]}
"""
    )
    (message,) = errors(tmp_spec, body)
    assert message.startswith("11:35: this rank orders by tag 'rank', which rank 'leaderboard'")


def test_two_ranks_writing_one_key_are_refused(tmp_spec):
    body = (
        LEADERBOARD
        + """\
      - name: second
        where: {}
        rank: {into: best, by: [{tag: score}]}
"""
    )
    (message,) = errors(tmp_spec, body)
    assert message.startswith("11:16: tag 'best' is already written by rank 'leaderboard' (")
    assert message.endswith(":6); two ranks cannot write one tag")


def test_a_rule_setting_a_ranks_output_is_refused(tmp_spec):
    body = (
        """\
      - name: pin
        where: {}
        set: {tags: {rank: 1}}
"""
        + LEADERBOARD
    )
    (message,) = errors(tmp_spec, body)
    assert message.startswith("8:22: rule 'pin' sets tag 'rank', which rank 'leaderboard' (")


def test_label_only_services_rank_only_into_top(tmp_spec):
    body = """\
      - name: leaderboard
        where: {}
        rank: {into: rank, by: [{tag: score}], top: {tag: best}}
"""
    provider = '{type: datamaker, endpoint: "https://datamaker.example"}'
    got = errors(tmp_spec, body, provider)
    assert got[0].startswith("8:16: datamaker tags are labels (present or absent), which cannot hold a place")
    assert got[1].startswith("8:34: datamaker tags are labels, which have no order")


def test_a_rule_needs_set_or_rank_not_both(tmp_spec):
    body = """\
      - name: both
        where: {}
        set: {tags: {a: 1}}
        rank: {into: rank, by: [{tag: score}]}
      - name: rank-without-output
        where: {}
        rank: {by: [{tag: score}]}
"""
    got = errors(tmp_spec, body)
    assert any("a rule has either `set:` or `rank:`, not both" in e for e in got)
    assert any("a rank needs `into:` (the tag receiving places), `top:`, or both" in e for e in got)


# ------------------------------------------------------------- request counts


def plan_on_synapse(sb, tmp_spec, rules: str, **kw):
    """Plan `rules` (YAML list items, dedented) for QUEUE against the Synapse sandbox."""
    path = tmp_spec(
        f'version: 1\nprovider: {{type: synapse, endpoint: "{sb.url}"}}\nqueues:\n'
        f'  - id: "{QUEUE}"\n    safety: {{max_change_percent: 100}}\n    rules:\n'
        + textwrap.indent(textwrap.dedent(rules), "      ")
    )
    provider = SynapseProvider(sb.url, sb.token, retries=0, backoff=0.01, timeout=(2.0, 10.0), readers=1)
    return build_plan(load_spec(path), provider, **kw).plan


def test_a_plan_whose_ranks_hold_reads_exactly_what_a_plan_without_ranks_reads(make_sandbox, tmp_spec):
    n = 250
    sb = make_sandbox()
    sb.store.create_queue(QUEUE)
    scores = [round(random.Random(7).random(), 3) for _ in range(n)]
    candidates = [Candidate(str(9_700_000 + i), "SCORED", False, {"score": (s,)}) for i, s in enumerate(scores)]
    held = positions(rank(), candidates, item_order)
    sb.store.insert(
        QUEUE, [NewItem(c.id, "SCORED", {"score": c.tags["score"], "rank": (held[c.id],)}) for c in candidates]
    )

    def plan(rules: str) -> tuple[int, int]:
        before = len(sb.request_log())
        changes = len(plan_on_synapse(sb, tmp_spec, rules).changes)
        return changes, len(sb.request_log()) - before

    plain = plan("- {name: noop, where: {status: SCORED}, set: {status: SCORED}}")
    ranked = plan("- {name: lb, where: {status: SCORED}, rank: {into: rank, by: [{tag: score, order: desc}]}}")
    assert ranked == plain == (0, plain[1])
    assert plain[1] > 2  # several pages: the count is not trivially equal


def test_the_guard_compares_what_ranks_write_and_read():
    """A score changed by another writer between plan and apply changes the ranks: the
    item is stale, not overwritten with a place computed from the old score."""
    q = queue(ranks=(rank(per=RankKey("team"), top="best", by=(RankKey("score"), RankKey("createdOn", item=True))),))
    assert q.managed_tags.named == {"rank", "best", "score", "team"}


# ------------------------------------------------------------------- the docs
DOCS = Path(__file__).parent.parent / "docs" / "spec.md"


def test_the_worked_examples_of_the_docs_plan_as_documented(tmp_path, monkeypatch):
    """docs/spec.md "Ranks": each valid spec followed by a text block is planned against
    the documented live state, and the text block is what the plan prints."""
    monkeypatch.chdir(tmp_path)
    section = DOCS.read_text().split("\n## Ranks\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```(?:(?:(?!```).)*?```text\n(.*?)```)?", section, re.S)
    planned = 0
    for body, expected in blocks:
        if body.startswith("# file: "):
            target = Path(body.splitlines()[0][len("# file: ") :])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        elif expected and not body.startswith("# invalid"):
            Path("spec.yaml").write_text(body)
            result = run_cli("plan", "spec.yaml")
            assert result.code == 0, result.err
            assert expected in result.out
            planned += 1
    assert planned == 2


def test_the_example_challenge_plans_a_leaderboard_as_the_readme_shows(tmp_path, monkeypatch):
    """The README's excerpts of the example's plan (round 3 with its places, then the
    board) are what `plan` prints; the rank adds fields to items round 3 already
    changes, so the plan's counts stay those of the example without it."""
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    shutil.copytree(
        root / "examples" / "challenge",
        tmp_path / "examples" / "challenge",
        ignore=shutil.ignore_patterns(".reconciler"),
    )
    monkeypatch.chdir(tmp_path)  # the paths the README shows, in a private copy
    out = run_cli("plan", "examples/challenge/spec.yaml").out
    board = readme.split("ends with the board:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert board in out
    excerpt = readme.split("each value came from:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert all(line in out.splitlines() for line in excerpt.splitlines())
    assert "Plan: 11 to change (including 2 locks), 0 blocked (of 23 items seen)." in out


def test_a_text_tag_service_ranks_numbers_written_as_text_and_converges(make_sandbox, tmp_path, monkeypatch):
    """Supervisely keeps tags as text: "10" ranks above "9.5", places are written as
    "1", "2", …, and apply then plan is empty."""
    from reconciler.providers.supervisely import DEFAULT_TAGS_KEY

    sb = make_sandbox(service="supervisely", synthetic=[("7", 4)])
    monkeypatch.setenv("API_TOKEN", sb.token)
    monkeypatch.setenv("HOME", str(tmp_path))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        f'provider: {{type: supervisely, endpoint: "{sb.url}"}}\n'
        "queues:\n"
        '  - id: "7"\n'
        "    safety: {max_change_percent: 100}\n"
        "    rules:\n"
        '      - {name: a, where: {ids: ["50001"]}, set: {tags: {score: "0.9"}}}\n'
        '      - {name: b, where: {ids: ["50002"]}, set: {tags: {score: "10"}}}\n'
        '      - {name: c, where: {ids: ["50003"]}, set: {tags: {score: "9.5"}}}\n'
        "      - name: board\n"
        "        where: {}\n"
        "        rank: {into: place, by: [{tag: score, order: desc}], top: {tag: best}}\n"
    )
    assert load_spec(spec).queues[0].ranks[0].text
    applied = run_cli("apply", str(spec), "--auto-approve")
    assert applied.code == 0, applied.err + applied.out
    meta = {
        i: sb.service.store.get("tasks:7", i)["meta"].get(DEFAULT_TAGS_KEY, {})
        for i in ("50001", "50002", "50003", "50004")
    }
    assert meta == {
        "50001": {"score": "0.9", "place": "3"},
        "50002": {"score": "10", "place": "1", "best": "true"},
        "50003": {"score": "9.5", "place": "2"},
        "50004": {},
    }
    again = run_cli("plan", str(spec), "--detailed-exitcode")
    assert again.code == 0, again.err + again.out


def test_validate_counts_a_rank_as_a_rule(tmp_spec):
    spec = tmp_spec("version: 1\nqueues:\n  - id: q\n    rules:\n" + LEADERBOARD)
    assert "valid (1 queue(s), 1 rule(s), 0 explicit submission(s))" in run_cli("validate", str(spec)).out


def test_a_place_changing_on_a_locked_item_is_blocked_unless_its_entry_says_replace():
    items = [item("1", score=0.5, rank=1), item("2", locked=True, score=0.9, rank=2)]
    (blocked,) = plan_queue(queue(ranks=(rank(),)), items).blocked
    assert blocked.item_id == "2" and blocked.after_value("tags.rank") == (1,)
    replacing = queue(ranks=(rank(),), submissions={"2": Assignment(replace=True)})
    changes = {c.item_id: c for c in plan_queue(replacing, items).changes}
    assert not changes["2"].blocked and changes["2"].relock


def test_the_markdown_preview_stays_within_the_comment_limit():
    from reconciler.model import Plan

    items = [item(str(i), score=i / 1000, team=f"t{i % 40}") for i in range(1, 2001)]
    planned = plan_queue(queue(ranks=(rank(per=RankKey("team")),)), items)
    plan = Plan("local", "local:db", "digest", (planned,))
    for limit in (2_000, 20_000, 60_000):
        md = render_plan_markdown(plan, limit=limit)
        assert len(md) <= limit and md.count("<details>") == md.count("</details>")
    assert "_… 20 more groups_" in render_plan_markdown(plan, limit=200_000)
    assert "  … 20 more groups" in render_plan_text(plan)


# ------------------------------------------------------------- service fields
def test_per_submitter_ranks_on_synapse_break_ties_by_creation_time(make_sandbox, tmp_spec):
    """Synapse's bundle fields: `per: {item: submitterId}` (the team when there is one,
    else the user), ties of the score broken by `createdOn`, read from the listing the
    plan makes anyway (bundle/all: no request per item)."""
    sb = make_sandbox()
    sb.store.create_queue(QUEUE)
    day = datetime(2026, 12, 1, tzinfo=timezone.utc)

    def submission(sid: str, user: str, score: float, hour: int, **extra) -> NewItem:
        created = (day + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")
        return NewItem(sid, "SCORED", {"score": (score,)}, extra={"userId": user, "createdOn": created, **extra})

    sb.store.insert(
        QUEUE,
        [
            submission("11", "u1", 0.9, 10),
            submission("12", "u1", 0.9, 9),
            submission("13", "u1", 0.5, 1),
            submission("14", "u2", 0.7, 8),
            submission("15", "u2", 0.95, 2, teamId="t9"),
        ],
    )
    plan = plan_on_synapse(
        sb,
        tmp_spec,
        """\
        - name: best-per-submitter
          where: {status: SCORED}
          rank:
            into: rank
            by: [{tag: score, order: desc}, {item: createdOn}]
            per: {item: submitterId}
            top: {tag: best}
        """,
    )
    after = {c.item_id: c.tag_changes for c in plan.changes}
    assert after == {
        "11": {"rank": (2,)},
        "12": {"rank": (1,), "best": (True,)},  # same score, submitted an hour earlier
        "13": {"rank": (3,)},
        "14": {"rank": (1,), "best": (True,)},
        "15": {"rank": (1,), "best": (True,)},  # on behalf of team t9: a group of its own
    }
    assert any("bundle" in e["path"] for e in sb.request_log())
    labels = [g.label for g in plan.queues[0].leaderboards[0].groups]
    assert labels == ['item submitterId "t9"', 'item submitterId "u1"', 'item submitterId "u2"']


def test_a_rank_reading_a_field_the_service_lacks_is_refused_with_the_list(tmp_spec):
    body = """\
      - name: leaderboard
        where: {}
        rank: {into: rank, by: [{tag: score}], per: {item: submiterId}}
"""
    (message,) = errors(tmp_spec, body, "{type: synapse}")
    assert message.startswith("8:54: synapse reports no field 'submiterId' (its fields: ")
    assert "submitterId" in message


def test_a_condition_after_a_rank_is_checked_at_its_own_place(tmp_spec):
    """Ranks sit between rules in `rules:`; a later rule's condition errors point at it."""
    body = (
        LEADERBOARD
        + """\
      - name: late
        where: {tags: {score: {gt: "high"}}, item: {nope: 1}}
        set: {tags: {note: x}}
"""
    )
    got = errors(tmp_spec, body, "{type: synapse}")
    assert got and all(e.startswith("10:") for e in got), got


def test_a_rank_selecting_by_a_relative_time_ranks_on_the_plans_clock_and_shows_it(make_sandbox, tmp_spec):
    sb = make_sandbox()
    sb.store.create_queue(QUEUE)
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    sb.store.insert(
        QUEUE,
        [
            NewItem(sid, "SCORED", {"score": (s,)}, extra={"createdOn": (now - timedelta(days=d)).isoformat()})
            for sid, s, d in [("21", 0.9, 10), ("22", 0.5, 1), ("23", 0.7, 2)]
        ],
    )
    plan = plan_on_synapse(
        sb,
        tmp_spec,
        """\
        - name: this-week
          where: {item: {createdOn: {gt: now-7d}}}
          rank: {into: weekly_rank, by: [{tag: score, order: desc}]}
        """,
        now=now,
    )
    assert {c.item_id: c.tag_changes for c in plan.changes} == {
        "22": {"weekly_rank": (2,)},
        "23": {"weekly_rank": (1,)},
    }
    assert plan.shows_clock


def test_a_label_only_service_accepts_a_top_by_service_fields(tmp_spec):
    """workflow-results tags are labels: a rank orders by a field it reports and marks
    the top with a label."""
    path = tmp_spec("""\
        version: 1
        provider: {type: workflow-results}
        queues:
          - id: frb
            rules:
              - name: newest-per-site
                where: {}
                rank: {by: [{item: creation, order: desc}], per: {item: site}, top: {tag: newest, count: 2}}
        """)
    (rank_rule,) = load_spec(path).queues[0].ranks
    assert (rank_rule.into, rank_rule.top, rank_rule.top_count) == (None, "newest", 2)
    ranked = rank_queue(
        [rank_rule],
        [Candidate(str(i), "success", False, {}, {"creation": float(i), "site": "chime"}) for i in range(4)],
        item_order,
    )
    assert {i: dict(ranked.tags(str(i)))["newest"].value for i in range(4)} == {
        0: None,
        1: None,
        2: (True,),
        3: (True,),
    }
