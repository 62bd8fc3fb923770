"""Provider options are checked once, by each provider's declaration (`options_schema`),
on every path they arrive by: a spec (the assembled spec schema), a plan file (untrusted:
edited, or made elsewhere) and the Python API, in the same words (issue 28)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

import reconciler
from reconciler.errors import ConfigError, Located, UserError
from reconciler.model import Change, FieldChange, Plan, ProviderConfig, QueuePlan, Source
from reconciler.planfile import dump_plan, load_plan
from reconciler.providers import open_provider, open_provider_for_plan, provider_class, provider_types

SPEC_LINE = Source("spec.yaml", 3)


def plan_file(directory: Path, endpoint: str, provider: str = "supervisely", /, **options: object) -> Path:
    """A sealed plan file (valid checksum) for one tag change, recording `options`."""
    change = Change("101", "d" + "0" * 23, (FieldChange("tags.phase", None, ("one",), SPEC_LINE),), base={"id": 101})
    plan = Plan(
        provider, endpoint, "0" * 64, (QueuePlan("7", 1, (change,)),), provider_options=options, guard="compare"
    )
    path = directory / "plan.json"
    path.write_text(dump_plan(plan, tool_version="0.1.0", created_at="2026-12-05T00:00:00Z"), "utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line)


@pytest.mark.parametrize("command", [("apply", "--auto-approve"), ("show",)], ids=lambda c: c[0])
def test_a_wrongly_typed_option_in_a_plan_file_is_one_located_line_and_nothing_is_sent(
    hostile, tmp_path, monkeypatch, command
):
    monkeypatch.chdir(tmp_path)
    path = plan_file(tmp_path, hostile.url, max_in_flight="3")
    result = run_cli(*command, "plan.json", env={"API_TOKEN": "t" * 20})
    line = line_of(path, '"max_in_flight"')
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: plan.json:{line}:24: provider.options.max_in_flight: expected an integer, got string"
    ]
    assert hostile.seen == []


def test_an_unknown_option_in_a_plan_file_is_refused_with_the_spec_wording(hostile, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = plan_file(tmp_path, hostile.url, tag_key="rt")
    result = run_cli("apply", "plan.json", "--auto-approve", env={"API_TOKEN": "t" * 20})
    assert result.code == 1
    assert result.err.splitlines() == [
        f"error: plan.json:{line_of(path, 'tag_key')}:7: provider.options: unknown field 'tag_key': "
        "did you mean 'tags_key'? (allowed: endpoint, max_in_flight, tags_key)"
    ]
    assert hostile.seen == []


@pytest.mark.parametrize(
    "provider, options, message",
    [
        # what the hand checks in from_config let through before: none of them knew the pattern
        (
            "omics",
            {"region": "Mars", "tags_endpoint": "http://127.0.0.1:1"},
            "provider.options.region: expected an AWS region such as us-east-1",
        ),
        (
            "datamaker",
            {"tenant": "two words"},
            "provider.options.tenant: expected a tenant code without spaces or control characters",
        ),
        ("supervisely", {"tags_key": "id"}, "provider.options.tags_key: expected a non-empty meta key other than `id`"),
        ("supervisely", {"max_in_flight": 4.0}, "provider.options.max_in_flight: expected an integer, got number"),
        (
            "synapse",
            {"endpoint": "https://elsewhere.example.org"},
            "provider.options: unknown field 'endpoint' (a plan file records it as provider.endpoint)",
        ),
        (
            "workflow-results",
            {"apiToken": "x" * 20},
            "provider.options: secrets do not belong in provider options: remove 'apiToken' "
            "(credentials come from the environment)",
        ),
    ],
)
def test_plan_file_options_are_checked_by_the_declaration(tmp_path, provider, options, message):
    path = plan_file(tmp_path, "http://127.0.0.1:1", provider, **options)
    with pytest.raises(UserError) as caught:
        load_plan(path.read_bytes(), "plan.json")
    assert str(caught.value).split(": ", 1)[1] == message
    assert "x" * 20 not in str(caught.value)


def test_several_problems_are_reported_at_once_each_at_its_line(tmp_path):
    path = plan_file(tmp_path, "http://127.0.0.1:1", max_in_flight=0, tags_key="")
    with pytest.raises(UserError) as caught:
        load_plan(path.read_bytes(), "plan.json")
    assert sorted(p.message for p in caught.value.problems) == [
        "provider.options.max_in_flight: must be at least 1, got 0",
        "provider.options.tags_key: expected a non-empty meta key other than `id`",
    ]
    assert {p.line for p in caught.value.problems} == {line_of(path, "max_in_flight"), line_of(path, "tags_key")}


def test_the_python_api_refuses_the_plan_file_and_the_spec_in_the_same_words(tmp_path):
    path = plan_file(tmp_path, "http://127.0.0.1:1", max_in_flight="3")
    with pytest.raises(reconciler.SpecError) as from_plan:
        reconciler.Plan.load(path)
    (problem,) = from_plan.value.problems
    assert (problem.file, problem.line) == (str(path), line_of(path, "max_in_flight"))
    assert problem.message == "provider.options.max_in_flight: expected an integer, got string"
    with pytest.raises(reconciler.SpecError) as from_dict:
        reconciler.Spec.from_dict(
            {
                "version": 1,
                "provider": {"type": "supervisely", "max_in_flight": "3"},
                "queues": [{"id": "7", "submissions": {"101": {"tags": {"a": "b"}}}}],
            },
            tmp_path,
        )
    assert [p.message for p in from_dict.value.problems] == ["expected an integer, got string"]


def test_options_built_in_python_are_checked_before_anything_is_opened(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("API_TOKEN", "t" * 20)
    with pytest.raises(ConfigError) as caught:
        open_provider(ProviderConfig("supervisely", {"endpoint": hostile.url, "max_in_flight": 99}, str(tmp_path)))
    assert str(caught.value) == "supervisely provider: max_in_flight: must be at most 16, got 99"
    assert caught.value.problems[0].file is None and not isinstance(caught.value, Located)  # no place in a file
    # a plan that never went through a plan file (revert builds one from its journal)
    plan = Plan("supervisely", hostile.url, "0" * 64, (), provider_options={"max_in_flight": True})
    with pytest.raises(ConfigError, match=r"^supervisely provider: max_in_flight: expected an integer, got boolean$"):
        open_provider_for_plan(plan)
    assert hostile.seen == []


@pytest.mark.parametrize("name", provider_types())
def test_every_provider_refuses_an_unknown_option_by_its_declaration(name, tmp_path):
    declared = sorted(provider_class(name).options_schema["properties"])
    with pytest.raises(ConfigError) as caught:
        open_provider(ProviderConfig(name, {"colour": "red"}, str(tmp_path)))
    assert str(caught.value) == f"{name} provider: unknown field 'colour' (allowed: {', '.join(declared)})"
    assert not (tmp_path / ".reconciler").exists()  # the local store was not created


def test_a_plan_files_options_as_written_by_each_provider_pass(tmp_path):
    """The control: what `plan_options` records is what the declaration accepts."""
    path = plan_file(tmp_path, "http://127.0.0.1:1", tags_key="rt", max_in_flight=4)
    assert load_plan(path.read_bytes(), "plan.json").plan.provider_options == {"tags_key": "rt", "max_in_flight": 4}
    doc = json.loads(path.read_text("utf-8"))
    assert doc["provider"]["options"] == {"max_in_flight": 4, "tags_key": "rt"}
