"""The embedded `local` provider: seeding, etag guards, native locks, unmanaged data."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from reconciler.model import Change, FieldChange, ProviderConfig, QueueSpec, Source
from reconciler.providers import open_provider
from reconciler.providers.base import ConfigError, LockedItem, QueueNotFound, StaleEtag
from reconciler.providers.local import LocalProvider
from reconciler.errors import UserError
from reconciler.seed import load_seed
from reconciler.store import Store, Update

SEED = {
    "queues": [
        {
            "id": "9615000",
            "items": [
                {"id": "9700001", "status": "RECEIVED", "tags": {"score": 0.5, "team": "owls"}},
                {"id": "9700002", "status": "SCORED", "tags": {"score": 0.7}, "locked": True},
                {"id": "9700003", "status": "VALIDATED", "extra": {"canCancel": True, "report": "pipeline v2"}},
            ],
        },
        {"id": "9615001", "items": [{"id": "9700010"}]},
    ]
}
Q = QueueSpec(id="9615000", source=Source("spec.yaml", 3))


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "seed.json").write_text(json.dumps(SEED))
    return tmp_path


def provider(base: Path, **options) -> LocalProvider:
    return open_provider(ProviderConfig("local", {"seed": "seed.json", **options}, str(base)))


def change(item, *fields: tuple[str, object]) -> Change:
    return Change(
        item_id=item.id, etag=item.etag, base=item.base, fields=tuple(FieldChange(f, None, v, None) for f, v in fields)
    )


def items_by_id(p: LocalProvider) -> dict:
    return {i.id: i for i in p.list_items(Q)}


def test_store_is_created_under_base_dir_from_the_seed(spec_dir):
    with provider(spec_dir) as p:
        db = spec_dir / ".reconciler" / "state.db"
        assert p.endpoint == f"local:{db.resolve()}"
        items = p.list_items(Q)
    assert [i.id for i in items] == ["9700001", "9700002", "9700003"]
    first = items[0]
    assert (first.status, dict(first.tags), first.locked) == ("RECEIVED", {"score": (0.5,), "team": ("owls",)}, False)
    assert items[1].locked is True
    json.dumps(first.base)  # plan files store it


def test_seed_is_read_only_when_the_store_does_not_exist(spec_dir):
    with provider(spec_dir) as p:
        item = items_by_id(p)["9700001"]
        p.write(Q, [change(item, ("status", "SCORED"))])
    (spec_dir / "seed.json").write_text(json.dumps({"queues": []}))
    with provider(spec_dir) as p:
        assert items_by_id(p)["9700001"].status == "SCORED"
    (spec_dir / "seed.json").unlink()
    with provider(spec_dir) as p:  # an existing store never needs the seed
        assert len(p.list_items(Q)) == 3


def test_missing_seed_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        provider(tmp_path, seed="nope.yaml")
    assert str(err.value) == f"provider local: seed file {tmp_path / 'nope.yaml'} not found"
    assert not (tmp_path / ".reconciler" / "state.db").exists()


def test_unknown_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        provider(tmp_path, colour="blue")
    assert str(err.value) == "local provider: unknown field 'colour' (allowed: path, seed)"


def test_custom_path_is_relative_to_the_spec_and_its_parents_are_created(spec_dir):
    with provider(spec_dir, path="state/deep/x.db") as p:
        assert p.endpoint == f"local:{(spec_dir / 'state/deep/x.db').resolve()}"


def test_queue_missing_from_the_store_is_queue_not_found(spec_dir):
    with provider(spec_dir) as p, pytest.raises(QueueNotFound) as err:
        p.list_items(QueueSpec(id="1234", source=Source("spec.yaml", 1)))
    assert str(err.value) == (
        f"queue 1234 does not exist in the local store {spec_dir / '.reconciler/state.db'} "
        "(add it to the seed file before the store is first created)"
    )


def test_write_changes_only_the_given_fields_and_keeps_unmanaged_data(spec_dir):
    with provider(spec_dir) as p:
        live = items_by_id(p)
        p.write(
            Q,
            [
                change(live["9700001"], ("tags.score", None), ("tags.rank", (1,))),
                change(live["9700003"], ("status", "ACCEPTED"), ("locked", True)),
            ],
        )
        after = items_by_id(p)
    assert dict(after["9700001"].tags) == {"team": ("owls",), "rank": (1,)}
    assert after["9700001"].status == "RECEIVED"
    assert after["9700003"].status == "ACCEPTED" and after["9700003"].locked is True
    assert after["9700003"].base["extra"] == {"canCancel": True, "report": "pipeline v2"}
    assert after["9700001"].etag != live["9700001"].etag
    assert after["9700002"].etag == live["9700002"].etag


def test_fields_are_applied_to_the_stored_record_not_to_an_edited_base(spec_dir):
    with provider(spec_dir) as p:
        item = items_by_id(p)["9700003"]
        forged = dict(item.base, extra={"canCancel": False}, tags={"evil": 1})
        p.write(Q, [Change(item.id, item.etag, (FieldChange("status", None, "SCORED", None),), base=forged)])
        after = items_by_id(p)["9700003"]
    assert after.base["extra"] == {"canCancel": True, "report": "pipeline v2"}
    assert dict(after.tags) == {}


def test_stale_etag_refuses_the_batch_and_names_the_first_stale_item(spec_dir):
    with provider(spec_dir) as p:
        old = items_by_id(p)
        p.write(Q, [change(old["9700003"], ("status", "SCORED"))])
        p.write(Q, [change(old["9700001"], ("status", "SCORED"))])
        with pytest.raises(StaleEtag) as err:
            p.write(Q, [change(old["9700003"], ("status", "INVALID")), change(old["9700001"], ("status", "INVALID"))])
        assert err.value.item_id == "9700003"
        assert str(err.value) == "item 9700003 was changed since it was read"
        assert {i.status for i in p.list_items(Q) if i.id != "9700002"} == {"SCORED"}


def test_locked_item_refuses_a_write_that_does_not_unlock_it(spec_dir):
    with provider(spec_dir) as p:
        live = items_by_id(p)
        with pytest.raises(LockedItem) as err:
            p.write(
                Q, [change(live["9700001"], ("status", "ACCEPTED")), change(live["9700002"], ("tags.score", (0.9,)))]
            )
        assert str(err.value) == "item 9700002 is locked"
        assert items_by_id(p) == live  # nothing written, not even the unlocked item


def test_unlock_and_change_is_one_write(spec_dir):
    with provider(spec_dir) as p:
        locked = items_by_id(p)["9700002"]
        p.write(Q, [change(locked, ("locked", False), ("tags.score", (0.9,)))])
        after = items_by_id(p)["9700002"]
    assert after.locked is False and after.tags["score"] == (0.9,)


def test_change_and_lock_on_an_unlocked_item_is_allowed(spec_dir):
    with provider(spec_dir) as p:
        item = items_by_id(p)["9700001"]
        p.write(Q, [change(item, ("status", "SCORED"), ("locked", True))])
        after = items_by_id(p)["9700001"]
        assert (after.status, after.locked) == ("SCORED", True)
        with pytest.raises(LockedItem):
            p.write(Q, [change(after, ("status", "ACCEPTED"))])


def test_get_returns_fresh_copies_and_leaves_out_unknown_and_foreign_ids(spec_dir):
    with provider(spec_dir) as p:
        old = items_by_id(p)["9700001"]
        p.write(Q, [change(old, ("status", "SCORED"))])
        fresh = p.get(Q, ["9700001", "404", "9700010"])
    assert [i.id for i in fresh] == ["9700001"]
    assert fresh[0].status == "SCORED" and fresh[0].etag != old.etag


def test_writes_go_in_batches_of_500(spec_dir):
    with provider(spec_dir) as p:
        item = p.list_items(Q)[0]
        assert [len(b) for b in p.batches(Q, [change(item)] * 1001)] == [500, 500, 1]


def test_a_store_file_shared_with_another_writer_sees_its_writes(spec_dir):
    with provider(spec_dir) as p:
        item = items_by_id(p)["9700001"]
        with Store(spec_dir / ".reconciler" / "state.db") as other:
            record = other.get("9700001")
            other.write("9615000", [Update(record.id, record.etag, status="REJECTED")])
        with pytest.raises(StaleEtag):
            p.write(Q, [change(item, ("status", "ACCEPTED"))])
        assert items_by_id(p)["9700001"].status == "REJECTED"


# ------------------------------------------------------------------ seed files
def test_yaml_seed_reads_typed_tags_and_defaults(tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(
        "queues:\n"
        "  - id: '1'\n"
        "    items:\n"
        "      - id: '11'\n"
        "        tags: {when: 2024-05-01T12:00:00Z, day: 2024-05-02, n: 3, x: 1.5,"
        " ok: true, names: [a, b]}\n"
        "      - {id: '12', status: SCORED, locked: true}\n"
        "  - id: '2'\n"
    )
    seeded = load_seed(path)
    assert list(seeded) == ["1", "2"] and seeded["2"] == []
    first, second = seeded["1"]
    assert first.status == "RECEIVED" and first.locked is False
    assert first.tags == {
        "when": (datetime(2024, 5, 1, 12, tzinfo=timezone.utc),),
        "day": (datetime(2024, 5, 2, tzinfo=timezone.utc),),
        "n": (3,),
        "x": (1.5,),
        "ok": (True,),
        "names": ("a", "b"),
    }
    assert (second.status, second.locked) == ("SCORED", True)


@pytest.mark.parametrize(
    "seed, message",
    [
        ({"queues": [{"id": 1}]}, "queues[0].id: must be a non-empty string (quote numeric ids)"),
        (
            {"queues": [{"id": "1", "items": [{"id": "5"}]}, {"id": "2", "items": [{"id": "5"}]}]},
            "queues[1].items[0].id: item 5 already appears in queue 1",
        ),
        (
            {"queues": [{"id": "1", "items": [{"id": "5", "tags": {"a": None}}]}]},
            "queues[0].items[0].tags.a: a seed cannot hold a null tag; leave the key out",
        ),
        (
            {"queues": [{"id": "1", "items": [{"id": "5", "tags": {"a": {"b": 1}}}]}]},
            "queues[0].items[0].tags.a: unknown encoded scalar {'b': 1}",
        ),
        (
            {"queues": [{"id": "1", "items": [{"id": "5", "locked": "yes"}]}]},
            "queues[0].items[0].locked: must be true or false",
        ),
        (
            {"queues": [{"id": "1", "items": [{"id": "5", "colour": "red"}]}]},
            "queues[0].items[0]: unknown key(s) colour (allowed: extra, id, locked, status, tags)",
        ),
        ({"queues": [{"id": "1"}, {"id": "1"}]}, "queues[1].id: queue 1 is listed twice"),
        ({"items": []}, "must be a mapping with one key, `queues`"),
    ],
)
def test_invalid_seed_is_one_clear_user_error(tmp_path, seed, message):
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with pytest.raises(UserError) as err:
        load_seed(path)
    assert str(err.value) == f"{path}: {message}"


def test_yaml_seed_errors_point_at_line_and_column(tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text("queues:\n  - id: '1'\n    items:\n      - id: '11'\n        locked: NO\n")
    with pytest.raises(UserError) as err:
        load_seed(path)
    assert str(err.value) == f"{path}:5:17: queues[0].items[0].locked: must be true or false"


@pytest.mark.parametrize("victim", ["empty file", "another application's database"])
def test_a_resealed_plan_cannot_turn_another_file_into_a_store(example, tmp_path, victim):
    # issue 29 item 12: opening the plan's store used to add reconciler's tables to it.
    import sqlite3

    from cli_helpers import run_cli
    from reconciler.planfile import _checksum

    target = tmp_path / "victim.db"
    if victim == "empty file":
        target.touch()
    else:
        db = sqlite3.connect(target)
        db.execute("CREATE TABLE notes (body TEXT)")
        db.commit()
        db.close()
    content = target.read_bytes()
    saved = tmp_path / "plan.json"
    assert run_cli("plan", example, "-o", saved).code == 0
    doc = json.loads(saved.read_text())
    doc["provider"]["endpoint"] = f"local:{target}"
    doc["checksum"] = _checksum(doc)
    saved.write_text(json.dumps(doc, indent=2))
    result = run_cli("apply", saved, "--auto-approve")
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert f"{target}: not a reconciler state store" in line
    assert target.read_bytes() == content
