"""`reconciler serve`: run a fake of a service (sandbox/) until interrupted."""
from __future__ import annotations

from typing import Sequence

import click

from ..error_handler import EXIT_OK


def synthetic_queues(entries: Sequence[str]) -> list[tuple[str, int]]:
    """`--synthetic QUEUE:COUNT` values as (queue, count) pairs."""
    queues = []
    for entry in entries:
        queue_id, _, count = entry.rpartition(":")
        if not (queue_id and count.isdigit()):
            raise click.BadParameter(f"expected QUEUE:COUNT, got {entry!r}", param_hint="--synthetic")
        queues.append((queue_id, int(count)))
    return queues


def quirks(entries: Sequence[str]) -> dict[str, str]:
    """`--quirk NAME[=VALUE]` values as a name → value map ("" when no value is given)."""
    out = {}
    for entry in entries:
        name, _, value = entry.partition("=")
        if not name.strip():
            raise click.BadParameter(f"expected NAME[=VALUE], got {entry!r}", param_hint="--quirk")
        out[name.strip()] = value.strip()
    return out


def serve(
    *,
    service: str,
    host: str,
    port: int,
    db: str | None,
    token: str,
    seed: str | None,
    synthetic: Sequence[str],
    log_requests: str | None,
    fail_rate: float,
    drop_rate: float,
    latency_ms: int,
    max_concurrent: int | None,
    max_per_minute: int | None,
    random_seed: int | None,
    no_lock_refusal: bool,
    meta_update: str,
    list_rows: str,
    one_host: bool = False,
    quirk: Sequence[str] = (),
    url_file: str | None = None,
) -> int:
    from ..sandbox.server import SandboxConfig, serve_forever

    serve_forever(SandboxConfig(
        service=service, host=host, port=port, db_path=db, token=token, seed=seed,
        synthetic=synthetic_queues(synthetic), log_requests=log_requests, fail_rate=fail_rate,
        drop_rate=drop_rate, latency_ms=latency_ms, max_concurrent=max_concurrent,
        max_per_minute=max_per_minute, random_seed=random_seed,
        lock_refuses_updates=not no_lock_refusal, one_host=one_host,
        supervisely_meta_update=meta_update, supervisely_list_rows=list_rows, quirks=quirks(quirk),
    ), url_file=url_file)
    return EXIT_OK
