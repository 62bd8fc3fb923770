"""Fault-injection figures for docs/RELIABILITY.md: apply 3,000 changes under faults.

    python benchmarks/reliability.py

Prints, per fault setting: exit code, the report line, requests seen by the sandbox by
HTTP status, connections dropped after processing, and how many items ended at each
statusVersion (every item starts at 1; exactly-once writing means all end at 2).
"""

import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import tempfile
from reconciler.sandbox import SandboxConfig, start
from cli_helpers import run_cli
from end_to_end.test_synapse import write_spec

for faults in (
    {"fail_rate": 0.1, "drop_rate": 0.05, "random_seed": 7},
    {"fail_rate": 0.2, "drop_rate": 0.1, "random_seed": 7},
    {"max_concurrent": 1, "max_per_minute": 600},
):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with start(
            SandboxConfig(token="t", synthetic=[("9615000", 3000)], log_requests=str(tmp / "log.jsonl"), **faults)
        ) as sb:
            r = run_cli("apply", write_spec(tmp, sb.url), "--auto-approve", env={"SYNAPSE_AUTH_TOKEN": "t"})
            log = [json.loads(line) for line in (tmp / "log.jsonl").read_text().splitlines()]
            st = collections.Counter(e["status"] for e in log)
            dropped = sum(1 for e in log if e.get("dropped"))
            versions = collections.Counter(sb.store.get(str(9700001 + i)).version for i in range(3000))
            print(
                faults,
                "exit",
                r.code,
                r.out.strip().splitlines()[-1],
                "requests",
                len(log),
                dict(st),
                "dropped",
                dropped,
                "versions",
                dict(versions),
            )
