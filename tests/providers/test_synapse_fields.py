"""Synapse service fields (`where: {item: …}`, issue 23) against the sandbox over HTTP:
which listing is read, at what request count, what each field holds, and the
organiser's cancellation recipe end to end."""

from __future__ import annotations

import textwrap
from datetime import datetime

import pytest
import requests

from cli_helpers import run_cli
from reconciler.providers.synapse import SynapseProvider
from reconciler.spec import load_spec

QUEUE = "9615000"
FIRST = 9700001  # the sandbox's first synthetic id


def spec_reading(tmp_path, url: str, where: str, set_: str = "{tags: {hit: true}}"):
    path = tmp_path / "spec.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        version: 1
        provider: {{type: synapse, endpoint: "{url}"}}
        queues:
          - id: "{QUEUE}"
            safety: {{max_change_percent: 100}}
            rules:
              - where: {where}
                set: {set_}
        """)
    )
    return path


def listed(sb, tmp_path, where: str, readers: int = 1):
    queue = load_spec(spec_reading(tmp_path, sb.url, where)).queues[0]
    provider = SynapseProvider(sb.url, sb.token, retries=1, backoff=0.01, timeout=(2.0, 10.0), readers=readers)
    try:
        return {i.id: i for i in provider.list_items(queue)}
    finally:
        provider.close()


def pages_of(sb, listing: str) -> list[str]:
    return [e["query"] for e in sb.request_log() if e["method"] == "GET" and f"/submission/{listing}/all" in e["path"]]


@pytest.mark.parametrize("count", [0, 99, 100, 250])
def test_a_bundle_field_reads_the_bundle_listing_at_the_same_request_count(make_sandbox, tmp_path, count):
    sb = make_sandbox(synthetic=[(QUEUE, count)])
    items = listed(sb, tmp_path, "{item: {createdOn: {lt: now-7d}}}")
    assert len(items) == count
    assert pages_of(sb, "status") == []
    assert pages_of(sb, "bundle") == [f"limit=100&offset={100 * n}" for n in range(count // 100 + 1)]


def test_status_fields_alone_keep_the_status_listing(make_sandbox, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 150)])
    items = listed(sb, tmp_path, "{item: {cancelRequested: true}}")
    assert pages_of(sb, "bundle") == [] and len(pages_of(sb, "status")) == 2
    first = items[str(FIRST)].fields
    assert set(first) == {"cancelRequested"} and first["cancelRequested"] is False  # only what is read


def test_every_field_is_read_with_its_type(make_sandbox, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 200)])
    where = (
        "{item: {modifiedOn: {exists: true}, canCancel: {exists: true}, cancelRequested: {exists: true}, "
        "statusVersion: {exists: true}, createdOn: {exists: true}, submitterId: {exists: true}, "
        "userId: {exists: true}, teamId: {exists: true}, name: {exists: true}}}"
    )
    items = listed(sb, tmp_path, where, readers=3)
    for item in items.values():
        f = item.fields
        assert isinstance(f["modifiedOn"], datetime) and isinstance(f["createdOn"], datetime)
        assert isinstance(f["canCancel"], bool) and isinstance(f["cancelRequested"], bool)
        assert f["statusVersion"] == 1 and f["name"] == f"submission {item.id}"
        # the team if a team submitted, else the user
        assert f["submitterId"] == f.get("teamId", f["userId"])
        assert item.base.get("createdOn") is None  # the status written back stays a status
    teams = [i for i in items.values() if "teamId" in i.fields]
    assert 0 < len(teams) < len(items)  # realistic: some team submissions, most not
    assert len({i.fields["userId"] for i in items.values()}) > 50
    assert len({i.fields["createdOn"] for i in items.values()}) > 100


def test_a_field_of_the_wrong_json_type_is_refused_not_silently_unmatched():
    from reconciler.providers.synapse_annotations import MalformedStatus
    from reconciler.providers.synapse_fields import read_fields

    with pytest.raises(MalformedStatus, match="`statusVersion` is not of type integer"):
        read_fields(frozenset({"statusVersion"}), {"id": "1", "statusVersion": "3"})
    with pytest.raises(MalformedStatus, match="`createdOn` is not a time"):
        read_fields(frozenset({"createdOn"}), {"id": "1"}, {"id": "1", "createdOn": "yesterday"})


def test_cancellation_recipe_end_to_end(make_sandbox, tmp_path):
    sb = make_sandbox(synthetic=[(QUEUE, 300)])  # every 97th id asks for cancellation
    env = {"SYNAPSE_AUTH_TOKEN": sb.token}
    spec = spec_reading(tmp_path, sb.url, "{item: {cancelRequested: true}}", "{status: CLOSED}")
    wanted = sorted(str(n) for n in range(FIRST, FIRST + 300) if n % 97 == 0)
    planned = run_cli("plan", spec, "-o", tmp_path / "plan.json", env=env)
    assert planned.code == 0, planned.err
    assert f"{len(wanted)} to change" in planned.out
    applied = run_cli("apply", tmp_path / "plan.json", "--auto-approve", env=env)
    assert applied.code == 0, applied.err + applied.out
    for sid in wanted:
        got = requests.get(
            f"{sb.url}/evaluation/submission/{sid}/status", headers={"Authorization": f"Bearer {sb.token}"}, timeout=10
        ).json()
        assert got["status"] == "CLOSED" and got["cancelRequested"] is True
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 0


def test_a_field_synapse_lacks_is_refused_with_the_list_and_the_closest_name(tmp_path):
    spec = spec_reading(tmp_path, "http://127.0.0.1:9/repo/v1", "{item: {submiterId: x}}")
    result = run_cli("validate", spec)
    assert result.code == 1
    assert result.err.strip() == (
        f"error: {spec}:7:24: synapse items have no field 'submiterId': did you mean 'submitterId'? "
        "(fields: canCancel, cancelRequested, createdOn, modifiedOn, name, statusVersion, submitterId, "
        "teamId, userId)"
    )


def test_the_recipes_in_docs_synapse_md_load(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "synapse.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("version: 1")]
    assert blocks
    monkeypatch.chdir(tmp_path)
    for body in blocks:
        Path("spec.yaml").write_text(body)
        assert load_spec("spec.yaml").queues


def test_apply_spec_re_reads_a_conflicting_item_with_its_bundle_fields(make_sandbox, tmp_path):
    """After a conflict, apply SPEC re-diffs the fresh item: with a rule on a bundle
    field, the re-read must carry that field (by listing; the status GET has none)."""
    sb = make_sandbox(synthetic=[(QUEUE, 250)])  # big enough that one id would be a GET
    env = {"SYNAPSE_AUTH_TOKEN": sb.token}
    spec = spec_reading(tmp_path, sb.url, "{item: {createdOn: {lt: now}, submitterId: {exists: true}}}")
    fake, put_batch = sb.service, sb.service.put_batch
    raced = []

    def racing(request, eval_id):
        if not raced:  # another writer touches one item right before our first batch lands
            raced.append(
                requests.put(
                    f"{sb.url}/evaluation/submission/{FIRST}/status",
                    json={
                        **requests.get(
                            f"{sb.url}/evaluation/submission/{FIRST}/status",
                            headers={"Authorization": f"Bearer {sb.token}"},
                            timeout=10,
                        ).json(),
                        "status": "SCORED",
                    },
                    headers={"Authorization": f"Bearer {sb.token}"},
                    timeout=10,
                ).status_code
            )
        return put_batch(request, eval_id)

    fake.put_batch = racing
    applied = run_cli("apply", spec, "--auto-approve", env=env)
    assert raced == [200]
    assert applied.code == 0, applied.err + applied.out
    assert run_cli("plan", spec, "--detailed-exitcode", env=env).code == 0  # converged, item included


def test_a_few_ids_re_read_after_a_conflict_carry_their_bundle_fields(make_sandbox, tmp_path):
    """One id of 250 would be a single-status GET, which has no bundle fields: a spec
    reading them re-lists instead; one reading status fields only keeps the GET."""
    sb = make_sandbox(synthetic=[(QUEUE, 250)])
    provider = SynapseProvider(sb.url, sb.token, retries=1, backoff=0.01, timeout=(2.0, 10.0))
    try:
        where = "{item: {submitterId: {exists: true}, teamId: {exists: true}}}"
        bundled = load_spec(spec_reading(tmp_path, sb.url, where)).queues[0]
        [item] = provider.reread(bundled, [str(FIRST + 1)], 250)
        assert item.fields["submitterId"] == item.fields["teamId"]  # id divisible by 3: a team's
        status_only = load_spec(spec_reading(tmp_path, sb.url, "{item: {statusVersion: 1}}")).queues[0]
        before = len(sb.request_log())
        [item] = provider.reread(status_only, [str(FIRST)], 250)
        assert item.fields["statusVersion"] == 1
        assert [e["path"].rsplit("/", 2)[-2] for e in sb.request_log()[before:]] == [str(FIRST)]  # one GET
    finally:
        provider.close()


@pytest.mark.parametrize(
    "bundle, message",
    [
        ([], "a bundle is not an object"),
        ({"submission": {"id": "1"}}, "lacks its `submission` or `submissionStatus`"),
        (
            {"submission": {"id": "1"}, "submissionStatus": {"id": "2", "etag": "e", "status": "OPEN"}},
            "bundle of submission '1' holds the status of '2'",
        ),
    ],
)
def test_a_malformed_bundle_is_refused(bundle, message):
    from reconciler.providers.synapse_annotations import MalformedStatus
    from reconciler.providers.synapse_fields import row_to_item

    with pytest.raises(MalformedStatus, match=message):
        row_to_item(bundle, "locked", frozenset({"createdOn"}), True)
