"""`serve --quirk NAME[=VALUE]`: every fake's switches come from its one declaration
(QUIRKS), which the help, the errors and the in-process sandbox all read."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import run_cli

from reconciler.errors import UserError
from reconciler.sandbox.server import SERVICES, declared_quirks

DECLARED = declared_quirks()
WITH_QUIRKS = [service for service, declared in DECLARED.items() if declared]


def test_help_lists_each_services_quirks_with_values_and_defaults():
    shown = run_cli("serve", "--help").out
    for service, declared in DECLARED.items():
        section = shown.split(f"Quirks of --service {service}:\n", 1)[1].split("\n\n", 1)[0]
        if not declared:
            assert section.strip() == "none"
        for quirk in declared:
            assert quirk.usage() in section and f"(default: {quirk.shown_default()})" in " ".join(section.split())
    assert "--service supervisely:\n  meta-update=deep-merge|merge|replace|allow-list" in shown
    assert "one-host" in shown.split("Quirks of --service omics:", 1)[1]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_an_unknown_quirk_is_refused_in_one_line_naming_the_service_and_what_it_accepts(service):
    result = run_cli("serve", "--service", service, "--token", "t", "--port", "0", "--quirk", "no-such-switch")
    accepted = ", ".join(q.usage() for q in DECLARED[service]) or "none"
    assert result.code == 1 and result.err == (
        f"error: --quirk no-such-switch: the {service} sandbox has no such quirk (its quirks: {accepted})\n"
    )


@pytest.mark.parametrize("service", WITH_QUIRKS)
def test_a_bad_value_is_refused_in_one_line_naming_the_service_and_what_it_accepts(service):
    quirk = DECLARED[service][0]
    bad = f"{quirk.name}=surely-not" if quirk.values or quirk.is_flag else f"{quirk.name}=-1"
    result = run_cli("serve", "--service", service, "--token", "t", "--port", "0", "--quirk", bad)
    assert result.code == 1 and result.err.count("\n") == 1
    assert result.err.startswith(f"error: --quirk {bad}: expected ")
    assert result.err.endswith(f"(the {service} sandbox's quirks: {', '.join(q.usage() for q in DECLARED[service])})\n")


def test_a_misspelt_quirk_gets_a_did_you_mean():
    result = run_cli("serve", "--service", "supervisely", "--token", "t", "--port", "0", "--quirk", "meta_update=merge")
    assert result.code == 1 and result.err == (
        "error: --quirk meta_update: the supervisely sandbox has no such quirk (did you mean 'meta-update'? "
        "its quirks: meta-update=deep-merge|merge|replace|allow-list, list-rows=short|full)\n"
    )


def test_a_quirk_without_a_name_is_refused_in_one_line():
    result = run_cli("serve", "--service", "omics", "--token", "t", "--port", "0", "--quirk", "=1")
    assert (result.code, result.err) == (1, "error: --quirk '=1': expected NAME[=VALUE]\n")


@pytest.mark.parametrize("option", ["--meta-update=merge", "--list-rows=full", "--one-host", "--no-lock-refusal"])
def test_the_former_per_service_options_are_gone(option):
    """Pre-1.0: folded into --quirk (meta-update=, list-rows=, one-host, no-lock-refusal)."""
    result = run_cli("serve", "--service", "supervisely", "--token", "t", "--port", "0", option)
    assert result.code != 0 and "No such option" in result.err


def test_the_in_process_sandbox_reads_the_same_declaration(make_sandbox):
    """SandboxConfig(quirks=...) takes the strings the command line takes, refused alike."""
    sb = make_sandbox(service="supervisely", quirks={"meta-update": "merge", "list-rows": "full"})
    assert (sb.service.meta_update, sb.service.list_rows) == ("merge", "full")
    assert make_sandbox(service="omics", token="AKIDSANDBOX", quirks={"one-host": ""}).service.hosts == ("",)
    with pytest.raises(
        UserError, match=r"^--quirk one-host=1: expected no value \(the omics sandbox's quirks: one-host\)$"
    ):
        make_sandbox(service="omics", quirks={"one-host": "1"})


def test_docs_have_a_row_for_every_quirk():
    """docs/sandbox.md: one table of quirks per service, a row per declared quirk."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text(encoding="utf-8")
    for declared in DECLARED.values():
        for quirk in declared:
            assert f"| `{quirk.usage().replace('|', chr(92) + '|')}` |" in docs, quirk.name
