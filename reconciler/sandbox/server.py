"""Run a sandbox: a threaded werkzeug server around one fake service (SERVICES), in the
background for tests (`start`) or in the foreground for `reconciler serve`."""

from __future__ import annotations

import importlib
import json
import shutil
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from ..errors import UserError, suggest
from ..netcheck import is_loopback
from .faults import Faults
from .harness import FakeService, Harness
from .quirks import Quirk, resolve

# `serve --service TYPE`: the module of each fake, each exposing build(config, faults,
# quirks) and QUIRKS, the declaration of its `--quirk` switches (quirks.py).
SERVICES = {
    "synapse": "reconciler.sandbox.synapse",
    "datamaker": "reconciler.sandbox.datamaker",
    "omics": "reconciler.sandbox.omics",
    "supervisely": "reconciler.sandbox.supervisely",
    "workflow-results": "reconciler.sandbox.workflow_results",
}
DEFAULT_SERVICE = "synapse"


def declared_quirks() -> dict[str, tuple[Quirk, ...]]:
    """Each service's quirks, as its fake declares them (`serve --help` lists them)."""
    return {name: tuple(importlib.import_module(module).QUIRKS) for name, module in sorted(SERVICES.items())}


@dataclass(frozen=True)
class SandboxConfig:
    token: str
    service: str = DEFAULT_SERVICE  # which fake: a key of SERVICES
    db_path: str | Path | None = None  # None: a temporary file, removed on stop
    host: str = "127.0.0.1"  # anything else must be named explicitly; serve warns
    port: int = 0  # 0: any free port
    seed: str | Path | None = None  # applied only when db_path does not exist yet
    synthetic: Sequence[tuple[str, int]] = ()  # (queue id, item count), same rule
    log_requests: str | Path | None = None
    fail_rate: float = 0.0  # share of requests answered 503 before any processing
    drop_rate: float = 0.0  # share processed and committed, then cut without an answer
    latency_ms: int = 0
    max_concurrent: int | None = None
    max_per_minute: int | None = None
    random_seed: int | None = None  # of the fault generator
    forbid_batches: Sequence[int] = ()  # these statusBatch requests (1-based) get a 403
    # `--quirk NAME[=VALUE]`: a fake's own switches, name → value ("" for a flag), read
    # with the fake module's QUIRKS declaration (sandbox/quirks.py; docs/sandbox.md)
    quirks: Mapping[str, str] = field(default_factory=dict)


class RunningSandbox:
    """A sandbox serving in a background thread; `service` is the fake (its `store` the
    live state to inspect)."""

    def __init__(self, config: SandboxConfig, servers: Sequence[BaseWSGIServer], app: Harness) -> None:
        self.config, self._servers, self._app = config, servers, app
        self.service: FakeService = app.service
        self.faults = app.faults  # tests may change faults while it serves (refuse_after)
        self.store: Any = getattr(app.service, "store", None)
        self.token = config.token
        self.db_path = getattr(self.store, "path", None)
        self.log_path = Path(config.log_requests) if config.log_requests else None
        self.port: int = servers[0].port
        #: the URL of each host the service answers on (`hosts` of the fake), first = root
        self.roots = {
            name: f"http://{_url_host(config.host)}:{s.port}"
            for name, s in zip(app.service.hosts, servers, strict=True)
        }
        self.root = self.roots[app.service.hosts[0]]
        self.url = self.root + app.service.prefix
        self._threads = [
            threading.Thread(
                target=s.serve_forever,
                kwargs={"poll_interval": 0.02},  # fast stop()
                name=f"sandbox:{s.port}",
                daemon=True,
            )
            for s in servers
        ]
        for thread in self._threads:
            thread.start()

    def request_log(self) -> list[dict[str, Any]]:
        """The requests served so far (needs `log_requests`), oldest first."""
        if self.log_path is None:
            raise ValueError("this sandbox was started without log_requests")
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def stop(self) -> None:
        if not any(t.is_alive() for t in self._threads):
            return
        self.faults.release()  # a held request must not keep the server from stopping
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.shutdown()
            thread.join()
        _close(self._servers, self._app, self.config)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(config: SandboxConfig) -> RunningSandbox:
    servers, app = _build(config)
    return RunningSandbox(config, servers, app)


def serve_forever(config: SandboxConfig, url_file: str | None = None) -> None:
    """Serve in the foreground until interrupted (the CLI's `serve`). `url_file`: where
    to write the base URL (one line) once listening, so a script that asked for
    `--port 0` learns the port without parsing a human's message."""
    servers, app = _build(config)
    server, extra = servers[0], servers[1:]
    if not is_loopback(config.host):
        print(
            f"warning: listening on {config.host}: anyone who can reach this address and "
            "knows the token can change the sandbox's data",
            file=sys.stderr,
        )
    # SIGTERM (a service manager, `kill`) must clean up like Ctrl-C: the temporary store
    # is deleted on exit (docs/sandbox.md); installed before the "listening" line, which
    # is what a supervisor waits for
    previous = signal.signal(signal.SIGTERM, _interrupt)
    store = getattr(app.service, "store", None)
    where = f" (store: {store.path})" if store is not None else ""
    for other in extra:
        threading.Thread(target=other.serve_forever, name=f"sandbox:{other.port}", daemon=True).start()
    names = app.service.hosts
    also = "".join(
        f", {name} host on http://{_url_host(config.host)}:{s.port}" for name, s in zip(names[1:], extra, strict=True)
    )
    first = f" ({names[0]} host)" if also else ""
    url = f"http://{_url_host(config.host)}:{server.port}{app.service.prefix}"
    try:
        if url_file:
            _write_url(Path(url_file), url)
        print(f"{app.service.title} listening on {url}{first}{also}{where}", file=sys.stderr, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for other in extra:
            other.shutdown()
        _close(servers, app, config)


def _write_url(path: Path, url: str) -> None:
    """Whole or not at all: a reader polling for the file never sees half a URL."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(url + "\n", encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the sandbox URL: {exc.strerror}") from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _close(servers: Sequence[BaseWSGIServer], app: Harness, config: SandboxConfig) -> None:
    for server in servers:
        server.server_close()
    app.close()
    store = getattr(app.service, "store", None)
    if config.db_path is None and store is not None:
        shutil.rmtree(Path(store.path).parent, ignore_errors=True)


def build_fake(config: SandboxConfig) -> FakeService:
    """The fake of `config.service` built in this process without serving it (a benchmark
    prepares its store this way), its quirks read as `serve` reads them."""
    module, quirks = _fake_module(config)
    fake: FakeService = module.build(config, Faults(), quirks)
    return fake


def _fake_module(config: SandboxConfig) -> tuple[ModuleType, dict[str, Any]]:
    """The fake's module and its quirks' values: everything wrong with the config that
    can be said before a port is taken or a store made."""
    if not config.token:
        raise UserError("the sandbox needs a token (clients must send it with every request)")
    if config.service not in SERVICES:
        near = suggest(config.service, SERVICES, ignore_case=True)
        hint = f"did you mean {near!r}? " if near else ""
        raise UserError(f"unknown sandbox service {config.service!r}: {hint}(known: {', '.join(sorted(SERVICES))})")
    module = importlib.import_module(SERVICES[config.service])
    return module, resolve(config.service, module.QUIRKS, config.quirks)


def _build(config: SandboxConfig) -> tuple[list[BaseWSGIServer], Harness]:
    module, quirks = _fake_module(config)
    faults = Faults(
        config.fail_rate,
        config.drop_rate,
        config.latency_ms,
        config.max_concurrent,
        config.max_per_minute,
        config.random_seed,
        config.forbid_batches,
    )
    listeners = [_listen(config.host, config.port)]
    servers: list[BaseWSGIServer] = []
    app: Harness | None = None
    try:
        service = module.build(config, faults, quirks)
        app = Harness(service, faults, Path(config.log_requests) if config.log_requests else None)
        for n, name in enumerate(service.hosts):
            if n:  # another host of the same service: the next port, or any free one
                listeners.append(_listen(config.host, config.port + n if config.port else 0))
            servers.append(
                make_server(
                    config.host,
                    listeners[n].getsockname()[1],
                    _on_host(app, name),
                    threaded=True,
                    request_handler=_QuietHandler,
                    fd=listeners[n].fileno(),
                )
            )
    except BaseException:  # e.g. the next port is taken: nothing may stay open
        if app is None:
            for server in servers:
                server.server_close()
        else:
            _close(servers, app, config)
        raise
    finally:
        for listener in listeners:
            listener.close()  # each server holds its own duplicate of its socket
    return servers, app


def _on_host(app: Harness, name: str) -> Callable[[dict, Callable], Any]:
    """The harness, told which of the service's hosts a request came to."""

    def serve(environ: dict, start_response: Callable) -> Any:
        environ["sandbox.host"] = name
        return app(environ, start_response)

    return serve


def _listen(host: str, port: int) -> socket.socket:
    """Bind ourselves: werkzeug's make_server exits the process on a bind error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class _QuietHandler(WSGIRequestHandler):
    """The app writes its own JSON request log; werkzeug's access log is noise."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
