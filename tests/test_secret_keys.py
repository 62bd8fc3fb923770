"""The one rule for keys named like secrets (reconciler/secret_keys.py) and the places
that use it: plan files of compare-guard services, stale details in reports."""

from __future__ import annotations

import dataclasses

import pytest

from plan_samples import META, normal_plan
from reconciler.apply import what_changed
from reconciler.planfile import dump_plan, load_plan
from reconciler.secret_keys import is_secret_key, without_secrets

SESSION = "sess-planted-1b2c3d4e5f"


@pytest.mark.parametrize(
    "key",
    [
        "sessionToken",
        "token",
        "TOKEN",
        "auth_token",
        "refresh-token",
        "apiKey",
        "api_key",
        "X-API-KEY",
        "secret",
        "clientSecret",
        "password",
        "DB_Password",
        "user.password",
    ],
)
def test_keys_named_like_secrets(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["tokens", "token_count", "secretary", "passwords_checked", "key", "api", "reconciler_tags", "locked", "", 3, None],
)
def test_keys_that_are_not(key):
    assert not is_secret_key(key)


def test_without_secrets_leaves_them_out_at_any_depth_and_keeps_the_rest():
    task = {
        "id": 1,
        "meta": {
            "sessionToken": SESSION,
            "app": {"id": 2, "apiKey": "k"},
            "runs": [{"password": "p", "n": 1}],
            "reconciler_tags": {"phase": "one"},
        },
    }
    assert without_secrets(task) == {
        "id": 1,
        "meta": {"app": {"id": 2}, "runs": [{"n": 1}], "reconciler_tags": {"phase": "one"}},
    }
    assert task["meta"]["sessionToken"] == SESSION  # the input is not changed
    plain = {"id": 1, "status": "finished"}
    assert without_secrets(plain) is plain


def with_base(plan, base_of):
    queue = plan.queues[0]
    changes = tuple(dataclasses.replace(c, base=base_of(c)) for c in queue.changes)
    return dataclasses.replace(plan, queues=(dataclasses.replace(queue, changes=changes),))


def test_a_compare_guard_plan_file_leaves_secrets_out_of_each_base():
    plan = with_base(
        dataclasses.replace(normal_plan(), guard="compare"),
        lambda c: {**c.base, "meta": {"sessionToken": SESSION, "kept": 1}},
    )
    text = dump_plan(plan, **META)
    assert SESSION not in text and "sessionToken" not in text
    loaded = load_plan(text, "plan.json").plan
    assert all(c.base["meta"] == {"kept": 1} for c in loaded.queues[0].changes)


def test_an_etag_plan_file_keeps_the_object_apply_writes_back_whole():
    """Synapse and the local store write the saved object back: a tag called `token` is
    data (docs/spec.md) and must survive the write."""
    plan = with_base(normal_plan(), lambda c: {**c.base, "tags": {"token": ["v"]}})
    loaded = load_plan(dump_plan(plan, **META), "plan.json").plan
    assert all(c.base["tags"] == {"token": ["v"]} for c in loaded.queues[0].changes)


def test_what_changed_never_shows_a_secret():
    base = {"id": 1, "meta": {"sessionToken": "old-secret-value", "reconciler_tags": {"a": "1"}}}
    fresh = {"id": 1, "meta": {"sessionToken": "new-secret-value", "reconciler_tags": {"a": "2"}}}
    shown = what_changed(base, fresh)
    assert "secret-value" not in shown and "sessionToken" not in shown
    assert shown == 'meta.reconciler_tags.a: "1" → "2"'


def test_a_spec_setting_named_like_a_secret_is_refused_by_the_same_rule(tmp_path):
    from reconciler.errors import UserError
    from reconciler.spec import load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text("version: 1\nprovider: {type: supervisely, apiKey: abc}\nqueues: []\n")
    with pytest.raises(UserError, match=r"spec.yaml:2:31: secrets do not belong in a spec: remove 'apiKey'"):
        load_spec(spec)
