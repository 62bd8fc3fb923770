"""The SQLite store: etags, versions, all-or-nothing batches, queue tokens, threads."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from reconciler.store import (
    _SCHEMA,
    APPLICATION_ID,
    NewItem,
    Record,
    StaleRecord,
    StaleToken,
    Store,
    StoreError,
    UnknownItems,
    UnknownQueue,
    Update,
    create_new,
)
from store_rows import queue_ids, queue_token

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ISO_MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "state.db") as s:
        s.create_queue("q1")
        s.create_queue("q2")
        s.insert("q1", [NewItem("1"), NewItem("2", status="SCORED"), NewItem("3")])
        s.insert("q2", [NewItem("10")])
        yield s


def test_inserted_items_start_at_version_1_with_a_uuid_etag(store):
    record = store.get("1")
    assert record.version == 1
    assert UUID.fullmatch(record.etag)
    assert ISO_MS_Z.fullmatch(record.modified_on)
    assert (record.queue, record.status, record.tags, record.locked, record.extra) == ("q1", "RECEIVED", {}, False, {})


def test_pages_are_in_numeric_id_order_with_offset_limit_and_status(tmp_path):
    with Store(tmp_path / "s.db") as s:
        s.create_queue("q")
        s.insert("q", [NewItem(i, status="A" if int(i) % 2 else "B") for i in ("100", "9", "10", "11", "1000")])
        assert [r.id for r in s.page("q")] == ["9", "10", "11", "100", "1000"]
        assert [r.id for r in s.page("q", offset=1, limit=2)] == ["10", "11"]
        assert [r.id for r in s.page("q", offset=4, limit=10)] == ["1000"]
        assert [r.id for r in s.page("q", status="A")] == ["9", "11"]
        assert s.page("q", offset=0, limit=0) == []


def test_every_write_gets_a_new_etag_and_version_even_a_no_op(store):
    before = store.get("1")
    result = store.write("q1", [Update("1", before.etag)])
    after = store.get("1")
    assert result.records == [after]
    assert after.etag != before.etag and UUID.fullmatch(after.etag)
    assert after.version == 2
    assert (after.status, after.tags, after.extra) == (before.status, before.tags, before.extra)
    store.write("q1", [Update("1", after.etag)])
    assert store.get("1").version == 3


def test_tags_keep_their_types_through_the_store(store):
    when = datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=timezone.utc)
    tags = {"i": (1,), "f": (1.0,), "b": (True,), "s": ("1",), "t": (when,), "l": ("a", "b")}
    record = store.get("1")
    store.write("q1", [Update("1", record.etag, tags=tags, extra={"canCancel": True})])
    stored = store.get("1")
    assert stored.tags == tags
    assert [type(stored.tags[k][0]) for k in "ifbst"] == [int, float, bool, str, datetime]
    assert stored.extra == {"canCancel": True}


def test_tag_changes_patch_single_keys_and_none_deletes(store):
    record = store.get("1")
    store.write("q1", [Update("1", record.etag, tags={"a": (1,), "b": (2,)})])
    record = store.get("1")
    store.write("q1", [Update("1", record.etag, tag_changes={"a": None, "c": ("x",)})])
    assert store.get("1").tags == {"b": (2,), "c": ("x",)}


def test_batch_is_all_or_nothing_and_names_the_first_stale_id_in_request_order(store):
    r1, r2, r3 = store.get("1"), store.get("2"), store.get("3")
    store.write("q1", [Update("3", r3.etag)])  # 3 is now stale
    store.write("q1", [Update("2", r2.etag)])  # 2 is now stale
    with pytest.raises(StaleRecord) as err:
        store.write("q1", [Update("1", r1.etag, status="X"), Update("3", r3.etag), Update("2", r2.etag)])
    assert err.value.item_id == "3"
    assert str(err.value) == "item 3 was changed since it was read"
    assert store.get("1") == r1


def test_unknown_and_foreign_ids_refuse_the_whole_write(store):
    r1 = store.get("1")
    with pytest.raises(UnknownItems) as err:
        store.write("q1", [Update("1", r1.etag), Update("10", store.get("10").etag), Update("404", "x")])
    assert err.value.ids == ["10", "404"]
    assert store.get("1") == r1
    with pytest.raises(UnknownQueue):
        store.write("nope", [Update("1", r1.etag)])


def test_check_callback_can_refuse_the_batch_after_the_etags_pass(store):
    r1, r2 = store.get("1"), store.get("2")

    def refuse_scored(stored: Record, new: Record) -> None:
        if stored.status == "SCORED":
            raise RuntimeError(f"refused {stored.id} → {new.status}")

    with pytest.raises(RuntimeError, match="refused 2 → DONE"):
        store.write(
            "q1", [Update("1", r1.etag, status="DONE"), Update("2", r2.etag, status="DONE")], check=refuse_scored
        )
    assert (store.get("1"), store.get("2")) == (r1, r2)


def test_queue_token_rotates_on_every_write_and_guards_a_series(store):
    token = queue_token(store.path, "q1")
    result = store.write("q1", [Update("1", store.get("1").etag)], token=token)
    assert result.queue_token == queue_token(store.path, "q1") != token
    assert queue_token(store.path, "q2") != result.queue_token
    with pytest.raises(StaleToken):
        store.write("q1", [Update("2", store.get("2").etag)], token=token)
    assert store.get("2").version == 1


def test_inserting_an_existing_id_is_refused(store):
    with pytest.raises(ValueError, match="item ids already stored: 1"):
        store.insert("q2", [NewItem("1")])
    assert store.count("q2") == 1


def test_concurrent_guarded_increments_from_threads_lose_nothing(tmp_path):
    path = tmp_path / "shared.db"
    with Store(path) as s:
        s.create_queue("q")
        s.insert("q", [NewItem("1", tags={"n": (0,)})])
    stores = [Store(path) for _ in range(3)]  # separate connections, as separate processes
    stale = []

    def bump(store: Store) -> None:
        done = 0
        while done < 20:
            record = store.get("1")
            try:
                store.write("q", [Update("1", record.etag, tags={"n": (record.tags["n"][0] + 1,)})])
                done += 1
            except StaleRecord:
                stale.append(1)

    threads = [threading.Thread(target=bump, args=(stores[i % 3],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = stores[0].get("1")
    assert final.tags["n"] == (120,)
    assert final.version == 121
    for s in stores:
        s.close()


def test_create_new_fills_once_and_never_leaves_a_half_filled_file(tmp_path):
    path = tmp_path / "sub" / "state.db"

    def broken(store: Store) -> None:
        store.create_queue("q")
        raise RuntimeError("seed failed")

    with pytest.raises(RuntimeError):
        create_new(path, broken)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []

    assert create_new(path, lambda s: s.create_queue("q")) is True
    assert create_new(path, lambda s: s.create_queue("other")) is False
    assert queue_ids(path) == ["q"]


def test_a_file_that_is_not_a_database_is_a_user_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_text("not sqlite at all, just some text that is long enough" * 20)
    with pytest.raises(StoreError, match=r"state\.db: not a usable state database"):
        Store(path)


@pytest.mark.slow
def test_100k_rows_insert_and_read_back_in_order(tmp_path):
    """How long it takes is benchmarks/core.py's business; this is what it does."""
    with Store(tmp_path / "big.db") as s:
        s.create_queue("q")
        s.insert("q", (NewItem(str(9700001 + n)) for n in range(100_000)))
        records = s.page("q")
    assert len(records) == 100_000 and records[-1].id == "9800000"


# ------------------------------------------------- writing only to a store of ours
def sqlite_facts(path) -> tuple:
    """Everything opening a store could have changed: tables, marks, journal mode."""
    db = sqlite3.connect(path)
    try:
        return (
            db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall(),
            db.execute("PRAGMA application_id").fetchone()[0],
            db.execute("PRAGMA user_version").fetchone()[0],
            db.execute("PRAGMA journal_mode").fetchone()[0],
        )
    finally:
        db.close()


def test_a_new_store_carries_reconciler_s_mark(tmp_path):
    Store(tmp_path / "state.db").close()
    assert sqlite_facts(tmp_path / "state.db")[1] == APPLICATION_ID


def test_an_empty_file_is_refused_and_left_empty(tmp_path):
    path = tmp_path / "state.db"
    path.touch()
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert str(caught.value) == (
        f"{path}: not a reconciler state store (an empty file); reconciler writes only to a "
        "store it created (delete the file, or name another path)"
    )
    assert path.read_bytes() == b""


def test_another_application_s_database_is_refused_untouched(tmp_path):
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    db.execute("INSERT INTO notes (body) VALUES ('keep me')")
    db.commit()
    db.close()
    before, content = sqlite_facts(path), path.read_bytes()
    with pytest.raises(StoreError, match=r"app\.db: not a reconciler state store \(tables notes\)"):
        Store(path)
    assert sqlite_facts(path) == before and path.read_bytes() == content


def test_a_database_marked_by_another_application_is_refused_even_with_our_tables(tmp_path):
    path = tmp_path / "state.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 4660")
    db.close()
    with pytest.raises(StoreError, match=r"another application's SQLite database, application_id 0x1234"):
        Store(path)


def test_a_store_made_before_the_mark_is_accepted_and_marked(tmp_path):
    # Exactly what earlier versions created: the same tables, user_version 1, no mark.
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO queues (id, token) VALUES ('q', 't')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.has_queue("q")
    assert sqlite_facts(path)[1] == APPLICATION_ID


def test_an_unmarked_database_with_extra_tables_is_refused(tmp_path):
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA + "CREATE TABLE users (name TEXT);")
    db.execute("PRAGMA user_version = 1")
    db.close()
    with pytest.raises(StoreError, match=r"not a reconciler state store \(tables items, queues, users\)"):
        Store(path)
