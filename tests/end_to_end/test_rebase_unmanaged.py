"""Issue 20 item 8 on the etag services: Synapse's etag (and the local store's) moves on
any write, so another writer's own annotation between `plan -o` and `apply PLANFILE`
gets our batch refused (412). The engine re-reads the run once, sees that only keys the
spec does not manage moved, rebases the reviewed change onto the fresh item and writes
it: one 412, one re-read, one more batch. A managed key that moved is still stale.
Through the CLI, so the plan file's recorded managed tags are what decides."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import run_cli
from reconciler.model import QueueSpec, Source
from reconciler.providers.local import LocalProvider
from reconciler.store import NewItem, Store, Update, create_new
from providers.test_synapse_conflicts import FIRST, QUEUE, pages, tally
from end_to_end.test_synapse import external_update, read_status, write_spec

N = 250  # one batch; the re-read is one listing of pages(N) requests
OWNER = {"owner": {"type": "STRING", "value": ["ops"]}}  # nobody's spec names `owner`


def plan_then(make_sandbox, tmp_path: Path, meanwhile) -> tuple[dict, list[dict], object]:
    """`plan -o`, then `meanwhile(sandbox)` (another client's writes), then `apply
    PLANFILE`: its JSON report and the requests it sent."""
    sandbox = make_sandbox(synthetic=[(QUEUE, N)])
    env = {"SYNAPSE_AUTH_TOKEN": sandbox.token}
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", write_spec(tmp_path, sandbox.url), "-o", plan_file, env=env).code == 0
    meanwhile(sandbox)
    before = len(sandbox.request_log())
    done = run_cli("apply", plan_file, "--auto-approve", "--format", "json", env=env)
    report = json.loads(done.out)
    assert report["requests"] == len(sandbox.request_log()) - before
    return report, sandbox.request_log()[before:], sandbox


def test_an_unmanaged_annotation_costs_one_412_and_one_listing_and_the_change_lands(make_sandbox, tmp_path):
    poked = [str(FIRST), str(FIRST + 7)]

    def others_write(sandbox):
        for sub in poked:
            external_update(sandbox.url, sandbox.token, sub, "RECEIVED", OWNER)

    report, sent, sandbox = plan_then(make_sandbox, tmp_path, others_write)
    assert report["summary"]["applied"] == N and report["summary"]["stale"] == 0, report["summary"]
    assert tally(sent) == {"listing": pages(N), "single GET": 0, "batch 200": 1, "batch 412": 1, "other": 0}
    for sub in poked:
        now = read_status(sandbox.url, sandbox.token, sub)
        annotations = now["submissionAnnotations"]["annotations"]
        assert now["status"] == "VALIDATED" and annotations["owner"]["value"] == ["ops"]
        assert annotations["phase"]["value"] == ["1"]


def test_a_managed_annotation_that_moved_is_still_stale_beside_a_rebased_one(make_sandbox, tmp_path):
    managed, unmanaged = str(FIRST + 3), str(FIRST + 4)

    def others_write(sandbox):
        external_update(sandbox.url, sandbox.token, managed, "RECEIVED", {"phase": {"type": "LONG", "value": ["2"]}})
        external_update(sandbox.url, sandbox.token, unmanaged, "RECEIVED", OWNER)

    report, sent, sandbox = plan_then(make_sandbox, tmp_path, others_write)
    results = {r["item_id"]: r for r in report["results"]}
    assert results[managed]["outcome"] == "stale" and "phase" in results[managed]["detail"], results[managed]
    assert results[unmanaged]["outcome"] == "applied"
    assert report["summary"]["applied"] == N - 1
    assert tally(sent) == {"listing": pages(N), "single GET": 0, "batch 200": 1, "batch 412": 1, "other": 0}
    kept = read_status(sandbox.url, sandbox.token, managed)
    assert kept["status"] == "RECEIVED"  # nothing written to it
    assert kept["submissionAnnotations"]["annotations"]["phase"]["value"] == ["2"]


# ------------------------------------------------------------------ the local store
def local_spec(tmp_path: Path) -> Path:
    def fill(store: Store) -> None:
        store.create_queue("q")
        store.insert("q", [NewItem(id=f"item-{i}", status="RECEIVED") for i in range(5)])

    create_new(tmp_path / "state.db", fill)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "version: 1\n"
        "provider: {type: local, path: state.db}\n"
        "queues:\n"
        "  - id: q\n"
        "    safety: {max_change_percent: 100}\n"
        "    rules:\n"
        "      - {name: review, where: {status: RECEIVED}, set: {status: VALIDATED, tags: {phase: 1}}}\n"
    )
    return spec


def someone_else(tmp_path: Path, item_id: str, **tags) -> None:
    """Another client of the store: a fresh read, then its own etag-guarded write."""
    with LocalProvider(Store(tmp_path / "state.db")) as other:
        (item,) = other.get(QueueSpec(id="q", source=Source("x", 1)), [item_id])
    store = Store(tmp_path / "state.db")
    try:
        store.write("q", [Update(id=item_id, etag=item.etag, tag_changes={k: (v,) for k, v in tags.items()})])
    finally:
        store.close()


def test_local_rebases_an_unmanaged_tag_and_refuses_a_managed_one_in_three_calls(tmp_path):
    """One refused write, one re-read, one write: the report's count of provider calls."""
    spec = local_spec(tmp_path)
    plan_file = tmp_path / "plan.json"
    assert run_cli("plan", spec, "-o", plan_file).code == 0
    someone_else(tmp_path, "item-1", owner="ops")
    someone_else(tmp_path, "item-3", phase=2)
    done = run_cli("apply", plan_file, "--auto-approve", "--format", "json")
    report = json.loads(done.out)
    results = {r["item_id"]: r for r in report["results"]}
    assert results["item-1"]["outcome"] == "applied"
    assert results["item-3"]["outcome"] == "stale" and "phase" in results["item-3"]["detail"]
    assert report["summary"]["applied"] == 4 and report["requests"] == 3
    with LocalProvider(Store(tmp_path / "state.db")) as provider:
        items = {i.id: i for i in provider.list_items(QueueSpec(id="q", source=Source("x", 1)))}
    assert items["item-1"].status == "VALIDATED" and dict(items["item-1"].tags) == {"owner": ("ops",), "phase": (1,)}
    assert items["item-3"].status == "RECEIVED" and dict(items["item-3"].tags) == {"phase": (2,)}
