"""The node process: two listeners and the background loops, in one event loop.

Both uvicorn servers run in the same loop so they share one ``NodeContext`` (store,
caches, metrics). uvicorn's own signal capture is per server and would let only one of
them see SIGTERM; we install one handler that stops both, then drain background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Generator, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from isthmus.node.admin_app import create_admin_app
from isthmus.node.api.transport.south_north import create_transport_app
from isthmus.node.config import NodeConfig
from isthmus.node.context import NodeContext, build_context, client_cert_reqs, server_ssl_files
from isthmus.node.grpc_server import start_grpc_servers, stop_grpc_servers
from isthmus.node.home import restrict_new_files
from isthmus.node.interconn_app import create_interconn_app
from isthmus.node.logs import configure_logging
from isthmus.node.memory import tune_malloc
from isthmus.node.ports import refuse_busy_ports
from isthmus.node.tls import GuardedHttpToolsProtocol, TlsAwareHttpToolsProtocol, guarded
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import IsthmusError

log = logging.getLogger("isthmus.node")

#: Something served by the admin app beside the API (the console): called with the admin
#: app and the node's context once the app is built. The node layer cannot import the
#: layers above it, so ``isthmus node start`` hands them in.
AdminMount = Callable[[Any, "NodeContext"], None]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def pid_file(config: NodeConfig) -> Path:
    return config.home / "run" / "node.pid"


async def _every(seconds: float, job: Callable[[], Any], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            result = job()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("background job %s failed", name)


def refuse_unpinned_waivers(ctx: NodeContext) -> None:
    """A partner excused from signing (``interconn.unsigned_partners``) is identified by
    its pinned TLS certificate alone: a waiver whose contract pins none would let anyone
    with a certificate from the CA speak as that partner, so the node does not start.
    (The configuration already requires mutual TLS for any waiver; a contract recorded
    later without a pin is refused per request, ``RequestAuthenticator``.)"""
    unpinned = []
    with ctx.store.session() as s:
        for peer in ctx.config.interconn.unsigned_partners:
            row = ctx.store.contracts.latest_for_peer(s, peer)
            if row is not None and row.status != "TERMINATED" and not row.peer_tls_fingerprint:
                unpinned.append(f"{peer} (contract {row.contract_id})")
    if unpinned:
        raise SystemExit(
            f"node {ctx.node_id} refuses to start: interconn.unsigned_partners waives the "
            f"signature of {', '.join(unpinned)}, whose contract pins no TLS certificate; "
            "record the partner's certificate fingerprint or drop the waiver"
        )


def warn_unpinned_tls(config: NodeConfig) -> None:
    """``require_client_cert = false`` lets partners *without a pinned certificate* call
    without one; it does not switch pinning off (a pinned partner must still show its
    certificate, and outgoing calls are pinned regardless). Said loudly at every start,
    because it weakens the link for every unpinned partner."""
    tls = config.interconn.tls
    if tls.enabled and not tls.require_client_cert:
        log.warning(
            "SECURITY: interconn.tls.require_client_cert = false: partners whose contract "
            "pins no certificate may call this node without a client certificate (their "
            "signature is then their only proof); pinned partners still must show theirs"
        )


def _server(app: Any, host: str, port: int, **options: Any) -> _Server:
    """One listener: our JSON logging instead of uvicorn's, a bounded graceful stop."""
    return _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            **options,
        )
    )


def _servers(
    ctx: NodeContext, admin_mounts: Sequence[AdminMount] = ()
) -> tuple[_Server, _Server, _Server]:
    config = ctx.config
    tls_kwargs: dict[str, Any] = {}
    ssl_files = server_ssl_files(config)
    if ssl_files is not None:
        cert, key, ca = ssl_files
        tls_kwargs = {
            "ssl_certfile": str(cert),
            "ssl_keyfile": str(key),
            "ssl_ca_certs": str(ca),
            "ssl_cert_reqs": client_cert_reqs(config),
        }
    deadlines = {
        "header_timeout_s": config.listeners.header_timeout_s,
        "body_timeout_s": config.listeners.body_timeout_s,
    }
    interconn = _server(
        create_interconn_app(ctx),
        config.interconn.host,
        config.interconn.port,
        http=guarded(TlsAwareHttpToolsProtocol, **deadlines),
        **tls_kwargs,
    )
    plain = guarded(GuardedHttpToolsProtocol, **deadlines)  # a slow client is cut everywhere
    admin_app = create_admin_app(ctx)
    for mount in admin_mounts:
        mount(admin_app, ctx)
    admin = _server(admin_app, config.admin.host, config.admin.port, http=plain)
    transport = _server(
        create_transport_app(ctx), config.transport.host, config.transport.port, http=plain
    )
    return interconn, admin, transport


class NodeFailed(Exception):
    """The node could not start, or stopped on an error: ``str()`` is one plain line
    (``isthmus node start`` prints it); the log has the traceback."""


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line: an Isthmus error's message, a refusal's sentence,
    else the exception's type and its text with the line breaks folded."""
    if isinstance(exc, IsthmusError):
        text = exc.message
    elif isinstance(exc, SystemExit) and isinstance(exc.code, str):
        text = exc.code
    elif isinstance(exc, SystemExit):
        text = f"a listener could not start (exit code {exc.code})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 600 else text[:597] + "..."


async def serve(config: NodeConfig, *, admin_mounts: Sequence[AdminMount] = ()) -> None:
    """Run the node until SIGTERM or SIGINT. Any failure is logged with its traceback
    and raised as ``NodeFailed``, one line saying whether the node had started."""
    started = asyncio.Event()
    try:
        await _serve(config, started, admin_mounts)
    except (Exception, SystemExit) as exc:
        phase = "stopped" if started.is_set() else "could not start"
        message = f"node {config.node.node_id} {phase}: {one_line(exc)}"
        log.error("%s", message, exc_info=exc)
        raise NodeFailed(message) from exc


async def _serve(
    config: NodeConfig, started: asyncio.Event, admin_mounts: Sequence[AdminMount]
) -> None:
    ctx = await _prepare(config)
    servers = _servers(ctx, admin_mounts)
    try:  # the gRPC faces, if configured: listening before the node says it is ready
        grpc_servers = await start_grpc_servers(ctx)
    except OSError as exc:
        raise SystemExit(f"node {ctx.node_id} could not open its gRPC listeners: {exc}") from exc
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, servers)
    background = _background(ctx)
    pid_path = pid_file(config)
    pid_path.parent.mkdir(parents=True, exist_ok=True)
    pid_path.write_text(str(os.getpid()))
    serving = [asyncio.create_task(server.serve()) for server in servers]
    readiness = asyncio.create_task(_mark_ready(ctx, servers, serving, started))
    try:
        await _until_stopped(ctx, servers, serving)
    finally:
        await stop_grpc_servers(grpc_servers)
        readiness.cancel()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, readiness, return_exceptions=True)
        await asyncio.to_thread(ctx.authenticator.refusals.flush, force=True)
        await ctx.aclose()
        with contextlib.suppress(FileNotFoundError):
            if pid_path.read_text().strip() == str(os.getpid()):
                pid_path.unlink()
        log.info("stopped")


async def _prepare(config: NodeConfig) -> NodeContext:
    """Everything before the listeners open: file modes, logging, the context, the
    schema, the start-up refusals, the built-in components, lost runs, the queues."""
    restrict_new_files()  # before anything is created: database, logs, spill, task storage
    configure_logging(
        config.node.node_id,
        config.log.level,
        config.path(config.log.file) if config.log.file else None,
    )
    refuse_busy_ports(config)  # one sentence naming the setting, not uvicorn's exit 3
    ctx = build_context(config)
    await asyncio.to_thread(ctx.store.migrate)
    await asyncio.to_thread(refuse_unpinned_waivers, ctx)
    warn_unpinned_tls(config)
    await asyncio.to_thread(ctx.components.register_builtins)
    lost = await asyncio.to_thread(ctx.jobs.participant.runs.recover)
    if lost:
        log.warning("%d task runs were never launched before the last stop; failed them", lost)
    await ctx.transport.start()  # load the queues before anything can use them
    return ctx


def _stop(servers: tuple[_Server, ...]) -> None:
    log.info("stopping")
    for server in servers:
        server.should_exit = True


def _background(ctx: NodeContext) -> list[asyncio.Task[Any]]:
    """The node's loops: outbox, syncs, pruning, refusal counts, forwarding, tasks,
    scheduling, session expiry. Cancelled at stop."""
    config = ctx.config

    def _prune() -> None:
        with ctx.store.session() as s:
            ctx.store.nonces.prune(s, now_ms())

    def expire_sessions() -> Any:
        return ctx.transport.expire_idle(config.transport.session_idle_timeout_s * 1000)

    sync_s = config.contract.sync_interval_s
    loops: list[tuple[str, Coroutine[Any, Any, None]]] = [
        ("outbox", ctx.outbox.run_forever()),
        ("contract-sync", _every(sync_s, ctx.contracts.sync_pending, "contract-sync")),
        ("approval-sync", _every(sync_s, ctx.approvals.sync_pending, "approval-sync")),
        ("nonce-prune", _every(60.0, _prune, "nonce-prune")),
        (
            "refusal-counts",
            _every(
                min(config.interconn.refusal_window_s / 2, 10.0),
                lambda: asyncio.to_thread(ctx.authenticator.refusals.flush),
                "refusal-counts",
            ),
        ),
        ("transport-forwarder", ctx.transport.run_forwarder()),
        ("task-monitor", ctx.jobs.participant.runs.run_forever()),
        ("scheduler", ctx.jobs.coordinator.run_forever()),
        ("session-expiry", _every(60.0, expire_sessions, "session-expiry")),
    ]
    return [asyncio.create_task(loop, name=name) for name, loop in loops]


async def _mark_ready(
    ctx: NodeContext,
    servers: tuple[_Server, ...],
    serving: list[asyncio.Task[None]],
    started: asyncio.Event,
) -> None:
    """Ready (``/readyz``) once every listener has started."""
    config = ctx.config
    while not all(server.started for server in servers):
        if any(t.done() for t in serving):
            return
        await asyncio.sleep(0.02)
    ctx.ready.set()
    started.set()
    log.info(
        "node %s ready: interconn %s, admin %s, transport %s",
        ctx.node_id,
        config.public_address,
        config.admin_url,
        config.transport_address,
    )


async def _until_stopped(
    ctx: NodeContext, servers: tuple[_Server, ...], serving: list[asyncio.Task[None]]
) -> None:
    """Wait for the first server to end (a signal, or a listener that failed), stop the
    others, and raise what made a server fail."""
    done, _ = await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
    _stop(servers)
    await asyncio.gather(*serving, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    if not all(server.started for server in servers):
        raise SystemExit(f"node {ctx.node_id} could not open its listeners (port in use?)")


def run(config: NodeConfig, *, admin_mounts: Sequence[AdminMount] = ()) -> None:
    """Serve on uvloop where it is installed (it comes with ``uvicorn[standard]``): the
    transport path is event-loop bound, and uvloop's loop is about twice as fast.

    Raises ``NodeFailed`` (one line) on any failure. A listener task that ends with
    ``SystemExit`` (uvicorn's way of saying it could not start) escapes the event loop
    rather than the coroutine, so it is caught here as well."""
    tune_malloc()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(config, admin_mounts=admin_mounts))
    except SystemExit as exc:
        if exc.code in (None, 0):
            raise
        message = f"node {config.node.node_id} could not start: {one_line(exc)}"
        log.error("%s", message, exc_info=exc)
        raise NodeFailed(message) from exc
