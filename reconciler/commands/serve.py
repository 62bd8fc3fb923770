"""`reconciler serve`: run a fake of a service (sandbox/) until interrupted."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ..error_handler import EXIT_OK
from ..errors import UserError


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
            raise UserError(f"--quirk {entry!r}: expected NAME[=VALUE]")
        out[name.strip()] = value.strip()
    return out


def write_quirks_help(formatter: click.HelpFormatter) -> None:
    """One section per service: what `--quirk` it accepts, from its fake's declaration."""
    from ..sandbox.server import declared_quirks

    for service, declared in declared_quirks().items():
        with formatter.section(f"Quirks of --service {service}"):
            if declared:
                formatter.write_dl([(q.usage(), f"{q.help} (default: {q.shown_default()})") for q in declared])
            else:
                formatter.write_text("none")


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
    quirk: Sequence[str] = (),
    url_file: str | None = None,
) -> int:
    from ..sandbox.server import SandboxConfig, serve_forever

    serve_forever(
        SandboxConfig(
            service=service,
            host=host,
            port=port,
            db_path=db,
            token=token,
            seed=seed,
            synthetic=synthetic_queues(synthetic),
            log_requests=log_requests,
            fail_rate=fail_rate,
            drop_rate=drop_rate,
            latency_ms=latency_ms,
            max_concurrent=max_concurrent,
            max_per_minute=max_per_minute,
            random_seed=random_seed,
            quirks=quirks(quirk),
        ),
        url_file=url_file,
    )
    return EXIT_OK
