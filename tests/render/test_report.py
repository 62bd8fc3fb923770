"""The apply report (reconciler/render/report.py): text and dict."""

from __future__ import annotations

import json

from golden_files import check_golden

from reconciler.model import ApplyReport, ItemResult
from reconciler.render.report import render_report_text, report_to_dict


def sample_report() -> ApplyReport:
    return ApplyReport(
        results=(
            ItemResult("9615000", "9700001", "applied"),
            ItemResult("9615000", "9700002", "applied", "already held the planned values when re-read"),
            ItemResult(
                "9615000",
                "9700003",
                "stale",
                "changed since the plan was made (etag e-3 is now e-4); nothing was written to it",
            ),
            ItemResult("9615000", "9700004", "failed", "HTTP 400: bad annotation"),
            ItemResult("9615000", "9700005", "blocked", "item is locked"),
            ItemResult(
                "9615000", "9700006", "skipped", "not attempted after an earlier failure (HTTP 400: bad annotation)"
            ),
            ItemResult("9615001", "9700007", "unchanged"),
        ),
        requests=3,
    )


def test_report_golden():
    check_golden("report.txt", render_report_text(sample_report()))
    check_golden("report.json", json.dumps(report_to_dict(sample_report()), indent=2, sort_keys=True))


def test_report_lists_every_item_not_applied_by_outcome_and_ends_with_the_summary():
    text = render_report_text(sample_report())
    lines = text.splitlines()
    assert lines[-1] == "Apply complete: 2 applied, 1 unchanged, 1 stale, 1 blocked, 1 failed, 1 skipped."
    assert "  queue 9615000, item 9700004: HTTP 400: bad annotation" in lines
    assert [line for line in lines if line and not line.startswith(" ")][:-1] == [
        "Failed: 1",
        "Blocked: 1",
        "Stale: 1",
        "Skipped: 1",
        "Unchanged: 1",
    ]
    assert "9700001" not in text and "9700002" not in text


def test_report_of_nothing_to_do():
    assert render_report_text(ApplyReport(results=())) == (
        "Apply complete: 0 applied, 0 unchanged, 0 stale, 0 blocked, 0 failed, 0 skipped."
    )


def test_report_colours_only_when_asked():
    assert "\x1b" not in render_report_text(sample_report())
    assert render_report_text(sample_report(), color=True).endswith(
        "\x1b[1;31m" + ("Apply complete: 2 applied, 1 unchanged, 1 stale, 1 blocked, 1 failed, 1 skipped.\x1b[0m")
    )


def test_report_dict_has_every_result_and_the_counts():
    data = report_to_dict(sample_report())
    assert data["ok"] is False and data["requests"] == 3
    assert data["summary"] == {"applied": 2, "unchanged": 1, "stale": 1, "blocked": 1, "failed": 1, "skipped": 1}
    assert data["results"][2] == {
        "queue_id": "9615000",
        "item_id": "9700003",
        "outcome": "stale",
        "detail": "changed since the plan was made (etag e-3 is now e-4); nothing was written to it",
    }
    assert len(data["results"]) == 7
