"""`reconciler serve` (reconciler/commands/serve.py): choosing the service, --url-file. What
each fake serves: tests/sandbox/."""

from __future__ import annotations

import re
import subprocess

from serve_process import serving


def test_serve_suggests_the_service_meant_and_completes_it(capsys):
    from reconciler.cli import main

    assert main(["serve", "--service", "workflow-result", "--token", "t", "--port", "0"]) == 1
    assert "did you mean 'workflow-results'?" in capsys.readouterr().err
    from click.shell_completion import ShellComplete

    from reconciler.cli import cli

    completions = ShellComplete(cli, {}, "reconciler", "_RECONCILER_COMPLETE").get_completions(
        ["serve", "--service"], "work"
    )
    assert [c.value for c in completions] == ["workflow-results"]


def test_serve_port_0_writes_its_url_to_url_file(tmp_path):
    import requests

    url_file = tmp_path / "url"
    with serving(
        "--token",
        "t",
        "--port",
        "0",
        "--synthetic",
        "9615000:2",
        "--url-file",
        str(url_file),
        stdout=subprocess.DEVNULL,
        deadline=30,
    ) as served:
        url = url_file.read_text().strip()  # written before the announcement
        assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+/repo/v1", url) and not url.endswith(":0/repo/v1")
        assert url == served.url
        answer = requests.get(
            f"{url}/evaluation/submission/9700001/status", headers={"Authorization": "Bearer t"}, timeout=10
        )
        assert answer.status_code == 200


def test_a_request_log_that_cannot_be_written_is_one_line_and_nothing_listens(tmp_path, capsys):
    """It was "a bug in reconciler" (FileNotFoundError, exit 3)."""
    from reconciler.cli import main

    where = tmp_path / "no-such-dir" / "requests.jsonl"
    assert main(["serve", "--service", "synapse", "--token", "t", "--port", "0", "--log-requests", str(where)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: --log-requests {where}: cannot write there: No such file or directory"
