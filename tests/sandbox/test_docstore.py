"""The fakes' document store: insertion order, in-place replacement, persistence,
atomic transactions, temporary files removed on close."""

from __future__ import annotations

import pytest

from reconciler.sandbox.docstore import DocStore


def test_documents_keep_insertion_order_and_an_update_keeps_its_place(tmp_path):
    store = DocStore(tmp_path / "s.db")
    for i in ("b", "a", "c"):
        store.put("works", i, {"id": i, "n": 0})
    store.put("works", "b", {"id": "b", "n": 1})
    assert [d["id"] for d in store.all("works")] == ["b", "a", "c"]
    assert store.get("works", "b") == {"id": "b", "n": 1}
    assert store.get("works", "zz") is None and store.get("other", "b") is None
    assert store.count("works") == 3 and store.delete("works", "a") and not store.delete("works", "a")
    store.close()


def test_fill_runs_once_and_state_persists_across_opens(tmp_path):
    calls = []

    def fill(store):
        calls.append(1)
        store.put_many("t", [(str(i), {"id": i}) for i in range(5)])

    DocStore(tmp_path / "s.db", fill).close()
    again = DocStore(tmp_path / "s.db", fill)
    assert calls == [1] and again.count("t") == 5
    assert [again.next_value("ids", 10), again.next_value("ids", 10)] == [10, 11]
    again.close()


def test_a_failed_transaction_changes_nothing(tmp_path):
    store = DocStore(tmp_path / "s.db")
    store.put("t", "1", {"v": 1})
    with pytest.raises(RuntimeError), store.transaction():
        store.put("t", "1", {"v": 2})
        store.put("t", "2", {"v": 2})
        raise RuntimeError("boom")
    assert store.all("t") == [{"v": 1}]
    store.close()


def test_a_temporary_store_is_deleted_on_close():
    store = DocStore(None)
    folder = store.path.parent
    store.put("t", "1", {})
    store.close()
    assert not folder.exists()


def test_iterate_after_starts_past_a_document_and_reads_only_what_is_taken(tmp_path):
    store = DocStore(tmp_path / "s.db")
    store.put_many("t", [(str(i), {"id": i}) for i in range(10)])
    store.put_many("other", [("x", {"id": "x"})])
    store.put("t", "2", {"id": 2, "updated": True})  # an update keeps its place
    assert [d["id"] for d in store.iterate_after("t", chunk=3)] == list(range(10))
    assert [d["id"] for d in store.iterate_after("t", "6", chunk=3)] == [7, 8, 9]
    assert list(store.iterate_after("t", "9")) == []
    with pytest.raises(KeyError):
        store.iterate_after("t", "x")  # at once, not on the first next()
    taken = store.iterate_after("t", "1", chunk=2)
    assert next(taken) == {"id": 2, "updated": True}
    assert [d["id"] for d in taken] == [3, 4, 5, 6, 7, 8, 9]
    store.close()
