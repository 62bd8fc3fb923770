"""Run the sandbox: a threaded werkzeug server over a store file, in the background for
tests (`start`) or in the foreground for `reconciler serve` (`serve_forever`)."""
from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ..errors import UserError
from ..seed import load_seed
from ..store import NewItem, Store, create_new
from .app import PREFIX, SandboxApp
from .faults import Faults

FIRST_SYNTHETIC_ID = 9700001
# What a new Synapse submission's status carries besides the modelled fields.
NEW_STATUS_EXTRA = {"canCancel": False, "cancelRequested": False}


@dataclass(frozen=True)
class SandboxConfig:
    token: str
    db_path: str | Path | None = None  # None: a temporary file, removed on stop
    host: str = "127.0.0.1"  # anything else must be named explicitly; serve warns
    port: int = 0  # 0: any free port
    seed: str | Path | None = None  # applied only when db_path does not exist yet
    synthetic: Sequence[tuple[str, int]] = ()  # (evaluation id, item count), same rule
    log_requests: str | Path | None = None
    fail_rate: float = 0.0  # share of requests answered 503 before any processing
    drop_rate: float = 0.0  # share processed and committed, then cut without an answer
    latency_ms: int = 0
    max_concurrent: int | None = None
    max_per_minute: int | None = None
    random_seed: int | None = None  # of the fault generator
    forbid_batches: Sequence[int] = ()  # these statusBatch requests (1-based) get a 403


class RunningSandbox:
    """A sandbox serving in a background thread; `store` is the live state to inspect."""

    def __init__(self, config: SandboxConfig, server: BaseWSGIServer, app: SandboxApp) -> None:
        self.config, self._server, self._app = config, server, app
        self.store: Store = app.store
        self.token = config.token
        self.db_path = app.store.path
        self.log_path = Path(config.log_requests) if config.log_requests else None
        self.port: int = server.port
        self.url = f"http://{_url_host(config.host)}:{self.port}{PREFIX}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02},  # fast stop()
            name=f"sandbox:{self.port}", daemon=True,
        )
        self._thread.start()

    def request_log(self) -> list[dict[str, Any]]:
        """The requests served so far (needs `log_requests`), oldest first."""
        if self.log_path is None:
            raise ValueError("this sandbox was started without log_requests")
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._thread.join()
        _close(self._server, self._app, self.config)

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: SandboxConfig) -> RunningSandbox:
    server, app = _build(config)
    return RunningSandbox(config, server, app)


def serve_forever(config: SandboxConfig) -> None:
    """Serve in the foreground until interrupted (the CLI's `serve`)."""
    server, app = _build(config)
    if not _is_loopback(config.host):
        print(f"warning: listening on {config.host}: anyone who can reach this address and "
              "knows the token can change the sandbox's data", file=sys.stderr)
    print(f"Synapse-compatible sandbox listening on http://{_url_host(config.host)}:"
          f"{server.port}{PREFIX} (store: {app.store.path})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        _close(server, app, config)


def _close(server: BaseWSGIServer, app: SandboxApp, config: SandboxConfig) -> None:
    server.server_close()
    app.close()
    app.store.close()
    if config.db_path is None:
        shutil.rmtree(app.store.path.parent, ignore_errors=True)


def open_store(config: SandboxConfig) -> Store:
    """The sandbox's store, created from the seed and synthetic items if it is new."""
    seeded = load_seed(config.seed) if config.seed else {}

    def fill(store: Store) -> None:
        for queue_id, items in seeded.items():
            store.create_queue(queue_id)
            store.insert(queue_id, [_as_submission(item) for item in items])
        next_id = max([FIRST_SYNTHETIC_ID - 1] + [
            int(item.id) for items in seeded.values() for item in items if item.id.isdigit()
        ]) + 1
        for eval_id, count in config.synthetic:
            store.create_queue(eval_id)
            store.insert(eval_id, _synthetic(next_id, count))
            next_id += count

    path = Path(config.db_path) if config.db_path is not None else Path(
        tempfile.mkdtemp(prefix="reconciler-sandbox-")) / "sandbox.db"
    create_new(path, fill)
    return Store(path)


def _as_submission(item: NewItem) -> NewItem:
    """Synapse has no native lock: a seeded lock becomes the BOOLEAN annotation `locked`."""
    tags = dict(item.tags)
    if item.locked:
        tags["locked"] = (True,)
    return NewItem(id=item.id, status=item.status, tags=tags,
                   extra={**NEW_STATUS_EXTRA, **item.extra})


def _synthetic(first: int, count: int) -> Iterator[NewItem]:
    for n in range(first, first + count):
        yield NewItem(id=str(n), extra=NEW_STATUS_EXTRA)


def _build(config: SandboxConfig) -> tuple[BaseWSGIServer, SandboxApp]:
    if not config.token:
        raise UserError("the sandbox needs a token (clients must send it as a Bearer token)")
    faults = Faults(config.fail_rate, config.drop_rate, config.latency_ms,
                    config.max_concurrent, config.max_per_minute, config.random_seed,
                    config.forbid_batches)
    listener = _listen(config.host, config.port)
    try:
        store = open_store(config)
        app = SandboxApp(store, config.token, faults,
                         Path(config.log_requests) if config.log_requests else None)
        server = make_server(config.host, config.port, app, threaded=True,
                             request_handler=_QuietHandler, fd=listener.fileno())
    finally:
        listener.close()  # the server holds its own duplicate of the socket
    return server, app


def _listen(host: str, port: int) -> socket.socket:
    """Bind ourselves: werkzeug's make_server exits the process on a bind error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _QuietHandler(WSGIRequestHandler):
    """The app writes its own JSON request log; werkzeug's access log is noise."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
