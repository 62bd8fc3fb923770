"""The raw-HTTP floor: what the work costs with nothing but plain requests.

GET every page of the queue, then PUT the statuses that must change (VALIDATED →
ACCEPTED) in batches of 500. With --naive it writes every status without diffing, as a
"list all, write all" script does (and so rotates every etag); with --list-only it only
GETs every page (the floor of a plan). No retries, no checks:
run.py times this script as a child process, so it pays the same interpreter start-up
as the CLI it is compared with.

    python benchmarks/raw_floor.py URL QUEUE TOKEN [--naive | --list-only]
"""

from __future__ import annotations

import sys

import requests


def list_all(session: requests.Session, url: str, queue: str) -> list[dict]:
    statuses, offset = [], 0
    while True:
        page = session.get(
            f"{url}/evaluation/{queue}/submission/status/all", params={"limit": 100, "offset": offset}, timeout=60
        ).json()["results"]
        statuses += page
        offset += len(page)
        if len(page) < 100:
            return statuses


def put_batches(session: requests.Session, url: str, queue: str, statuses: list[dict]) -> None:
    for i in range(0, len(statuses), 500):
        body = {"statuses": statuses[i : i + 500], "isFirstBatch": True, "isLastBatch": True}
        session.put(f"{url}/evaluation/{queue}/statusBatch", json=body, timeout=120).raise_for_status()


def main(argv: list[str]) -> int:
    url, queue, token, *flags = argv
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        statuses = list_all(session, url, queue)
        if "--list-only" in flags:
            print(0)
            return 0
        todo = statuses if "--naive" in flags else [s for s in statuses if s["status"] == "VALIDATED"]
        for status in todo:
            if status["status"] == "VALIDATED":
                status["status"] = "ACCEPTED"
        put_batches(session, url, queue, todo)
    print(len(todo))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
