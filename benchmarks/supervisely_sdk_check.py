"""Check the Supervisely fake against the official SDK (docs/sandbox.md, "Supervisely").

The SDK is too heavy for the test extras (about 800 MB installed), so this runs by hand
in a throwaway venv:

    python3 -m venv /tmp/sly && /tmp/sly/bin/pip install supervisely==6.74.51
    PYTHONPATH=. /tmp/sly/bin/python benchmarks/supervisely_sdk_check.py

It starts `reconciler serve --service supervisely` as a separate process (with the
project's own interpreter, RECONCILER_PYTHON, default `python3`), drives it with
`supervisely.Api` and prints one line per check; exit 0 when all pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TOKEN = "sdk-check-token-0123456789"
WORKSPACE = 7


def main() -> int:
    import requests
    import supervisely as sly

    wire = []  # what the SDK sends, for tests/sandbox/test_supervisely.py's replay
    real_post = requests.post

    def recording_post(url, *args, **kwargs):
        wire.append(
            {
                "path": url.split("//", 1)[1].split("/", 1)[1],
                "json": kwargs.get("json"),
                "headers": sorted(kwargs.get("headers") or {}),
            }
        )
        return real_post(url, *args, **kwargs)

    requests.post = recording_post

    tmp = Path(tempfile.mkdtemp(prefix="sly-check-"))
    log = tmp / "requests.jsonl"
    python = os.environ.get("RECONCILER_PYTHON", "python3")
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "reconciler",
            "serve",
            "--service",
            "supervisely",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--synthetic",
            f"{WORKSPACE}:45",
            "--log-requests",
            str(log),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    failures = 0
    try:
        url = None
        while url is None:
            line = proc.stderr.readline()
            if not line:
                raise SystemExit("the sandbox did not start")
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None

        def check(name: str, ok: bool, detail: object = "") -> None:
            nonlocal failures
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")

        api = sly.Api(url, TOKEN, retry_count=2)
        tasks = api.task.get_list(WORKSPACE)  # 3 pages of 20: first without page/per_page
        check(
            "task.get_list(7) pages through all 45 tasks",
            len(tasks) == 45 and [t["id"] for t in tasks] == sorted(t["id"] for t in tasks),
            len(tasks),
        )
        some = api.task.get_list(WORKSPACE, filters=[{"field": "id", "operator": "=", "value": tasks[3]["id"]}])
        check("task.get_list with an `=` id filter", [t["id"] for t in some] == [tasks[3]["id"]])
        task_id = tasks[4]["id"]
        info = api.task.get_info_by_id(task_id)
        check("task.get_info_by_id", info["id"] == task_id and info["status"] == "finished", info["status"])
        check("task.get_info_by_id of an unknown task is None", api.task.get_info_by_id(999) is None)
        api.task.update_status(task_id, api.task.Status.STOPPED)
        check(
            "task.update_status + get_status",
            api.task.get_status(task_id) == api.task.Status.STOPPED,
            api.task.get_status(task_id),
        )
        before = api.task.get_info_by_id(tasks[0]["id"])["meta"]  # a task with an `app` key
        api.task.update_meta(tasks[0]["id"], {**before, "reconciler_tags": {"phase": "one"}})
        after = api.task.get_info_by_id(tasks[0]["id"])["meta"]
        check(
            "task.update_meta with the whole meta keeps the other keys",
            after == {**before, "reconciler_tags": {"phase": "one"}},
            after,
        )
        check("instance_version", api.instance_version == "6.12.44", api.instance_version)
        try:
            sly.Api(url, "wrong-token-0123456789", retry_count=1).task.get_info_by_id(task_id)
            check("a wrong token is refused", False)
        except Exception as exc:  # the SDK raises requests' HTTPError after its retries
            check("a wrong token is refused (HTTP 401)", "401" in str(exc), type(exc).__name__)
        paths = [line for line in log.read_text().splitlines()]
        check(
            "every API call was POST /public/api/v3/<method>",
            all('"POST"' in p and "/public/api/v3/" in p for p in paths if '"/public/' in p),
            len(paths),
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if os.environ.get("SDK_WIRE_OUT"):
        import json

        Path(os.environ["SDK_WIRE_OUT"]).write_text(json.dumps(wire, indent=1))
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
