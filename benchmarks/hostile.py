"""Figures for docs/RELIABILITY.md "Hostile answers": how long reconciler takes to end a
hostile answer, and its peak memory meanwhile, with the shipped bounds.

    python benchmarks/hostile.py              # every scenario but the slow trickle
    python benchmarks/hostile.py trickle      # one byte every 5 s, default deadline (~5 min)
    python benchmarks/hostile.py SCENARIO...  # some of: baseline bomb endless trickle retry-after
                                              # omics-large omics-trickle (HealthOmics, botocore)

Each scenario runs `reconciler plan` (in-process, through the CLI) in a fresh child
process against tests/hostile_server.py on loopback, so the peak RSS
(resource.getrusage: ru_maxrss of the child) is that run's alone. Printed per scenario:
exit code, wall seconds, peak RSS in MiB, requests the server saw, the error line.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from cli_helpers import run_cli
from hostile_server import GiB, MiB, Answer, HostileServer, gzip_bomb
from service_cli import SERVICES, datamaker_pages, write_spec

TOKEN = "token-1234567890"


def scenario(name: str, server: HostileServer) -> str:
    """Routes the server for `name`; returns the provider to run."""
    if name == "baseline":
        server.route("/", datamaker_pages(server, endless=False))
    elif name == "bomb":  # 2 MiB of gzip that inflates to 2 GiB
        server.route("/", Answer(body=gzip_bomb(2 * GiB), headers={"Content-Encoding": "gzip"}))
    elif name == "endless":
        server.route("/", datamaker_pages(server, endless=True))
    elif name == "trickle":  # one byte every 5 s
        server.route("/", Answer(body=b"{}" * 100, trickle=5.0))
    elif name == "retry-after":  # a 429 with a garbage Retry-After, every time
        server.route("/", Answer(429, body=b'{"detail": "slow down"}', headers={"Retry-After": "-5"}))
    elif name == "omics-large":  # 100 MiB of JSON for ListBatch (botocore inflates nothing)
        server.route("/", Answer(body=b'{"items": [], "x": "' + b"a" * (100 * MiB) + b'"}'))
        return "omics"
    elif name == "omics-trickle":  # one byte every 5 s
        server.route("/", Answer(body=b"{}" * 100, trickle=5.0))
        return "omics"
    return "datamaker"


def omics_run(url: str, tmp: Path) -> tuple[Path, dict[str, str]]:
    """A HealthOmics spec pointed at the server, and AWS variables that read nothing else."""
    spec = tmp / "spec.yaml"
    spec.write_text(
        f'version: 1\nprovider: {{type: omics, region: us-east-1, endpoint: "{url}"}}\nqueues:\n  - id: "4242"\n'
    )
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        "AWS_PROFILE": None,
        "AWS_SESSION_TOKEN": None,
    }
    return spec, env


def child(name: str, out: multiprocessing.Queue[tuple]) -> None:
    with HostileServer() as server, tempfile.TemporaryDirectory() as tmp:
        provider = scenario(name, server)
        if provider == "omics":
            spec, env = omics_run(server.url, Path(tmp))
        else:
            service = SERVICES[provider]
            spec, env = write_spec(service, server.url, Path(tmp)), service.env(server.url, TOKEN, Path(tmp))
        started = time.monotonic()
        result = run_cli("plan", spec, env=env)
        seconds = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out.put(
            (result.code, seconds, peak, len(server.seen), (result.err or result.out).strip().splitlines()[-1][:160])
        )


def main(names: list[str]) -> None:
    context = multiprocessing.get_context("spawn")  # a fresh process: its own peak RSS
    for name in names:
        out = context.Queue()
        process = context.Process(target=child, args=(name, out))
        process.start()
        code, seconds, peak, requests, line = out.get()
        process.join()
        print(f"{name:12} exit {code}  {seconds:7.1f} s  peak RSS {peak:6.0f} MiB  {requests:5} requests  {line}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["baseline", "bomb", "endless", "retry-after"])
