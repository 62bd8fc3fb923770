"""Building datamaker queues and running the engine against the datamaker sandbox
without the spec loader (plain QueueSpec data), for the provider's tests."""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

import requests

from reconciler.apply import apply_plan
from reconciler.model import Assignment, Match, ProviderConfig, QueueSpec, Rule, Safety, Setting, Source, Spec
from reconciler.planner import build_plan
from reconciler.providers.datamaker import DatamakerProvider

PROJECT = "7"
SRC = Source("spec.yaml", 1)


def setting(value: Any) -> Setting:
    return Setting(value, SRC)


def label_rule(
    name: str, tags: Mapping[str, bool | None], *, ids=None, where_tags=None, locked: bool | None = None
) -> Rule:
    return Rule(
        name=name,
        where=Match(ids=None if ids is None else frozenset(str(i) for i in ids), tags=where_tags or {}),
        set=Assignment(
            tags={k: setting(None if v is None else (True,)) for k, v in tags.items()},
            locked=None if locked is None else setting(locked),
        ),
        source=SRC,
    )


def queue(
    *rules: Rule,
    project: str = PROJECT,
    policy: str = "merge",
    lock_key: str = "locked",
    submissions: Mapping[str, Assignment] | None = None,
) -> QueueSpec:
    return QueueSpec(
        id=project,
        source=SRC,
        tag_policy=policy,
        lock_key=lock_key,
        safety=Safety(max_change_percent=100),
        rules=tuple(rules),
        submissions=submissions or {},
    )


def provider(sandbox, **kwargs) -> DatamakerProvider:
    return DatamakerProvider(sandbox.url, sandbox.token, **kwargs)


def plan_and_apply(prov: DatamakerProvider, q: QueueSpec, *, spec_mode: bool = True):
    spec = Spec(provider=ProviderConfig("datamaker", {}, "/"), queues=(q,), files=("spec.yaml",), digest="0" * 64)
    result = build_plan(spec, prov)
    report = apply_plan(result.plan, prov, {q.id: q}, rediff=result.rediffers() if spec_mode else None)
    return result.plan, report


def plan_only(prov: DatamakerProvider, q: QueueSpec):
    spec = Spec(provider=ProviderConfig("datamaker", {}, "/"), queues=(q,), files=("spec.yaml",), digest="0" * 64)
    return build_plan(spec, prov).plan


def headers(sandbox) -> dict[str, str]:
    return {"Synapse-Access-Token": f"Token {sandbox.token}"}


def tag_ids(sandbox, project: str = PROJECT) -> dict[str, int]:
    got = requests.get(f"{sandbox.url}/task_tags/", params={"project": project}, headers=headers(sandbox), timeout=10)
    got.raise_for_status()
    return {t["name"]: t["id"] for t in got.json()["results"]}


def set_tags(sandbox, ids, tags, action="add") -> None:
    """Someone else (the datamaker UI, a labelling pipeline) changes tags."""
    names = tag_ids(sandbox)
    posted = requests.post(
        f"{sandbox.url}/tasks/set_tags/",
        headers=headers(sandbox),
        timeout=10,
        json={"ids": list(ids), "tags": [names[t] for t in tags], "action": action},
    )
    posted.raise_for_status()


def task_tag_names(sandbox, task_id: int) -> set[str]:
    names = {v: k for k, v in tag_ids(sandbox).items()}
    return {names[t] for t in sandbox.store.get("tasks", str(task_id))["tags"]}


def set_tags_calls(sandbox) -> list[dict]:
    return [r for r in sandbox.request_log() if r["method"] == "POST" and r["path"] == "/tasks/set_tags/"]
