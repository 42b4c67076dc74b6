"""``isthmus node``, and the commands about the node as a whole (``init``, ``doctor``,
``version``): make a node home, run the node in the foreground or detached, stop it,
and diagnose it and its partners. ``main`` registers the top-level commands on the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus import __version__
from isthmus.cli.common import (
    ERROR_PREFIX,
    AsJson,
    Home,
    call,
    emit,
    err,
    fail,
    fingerprint,
    open_client,
    out,
    print_table,
)
from isthmus.node.admin_client import AdminClient
from isthmus.node.config import NodeConfig, load_config
from isthmus.node.home import init_home
from isthmus.node.logs import open_log_file
from isthmus.node.ports import busy, listeners, refuse_busy_ports
from isthmus.wire.errors import IsthmusError, PeerUnreachable
from isthmus.wire.paths import ADMIN_DOCTOR, ADMIN_NODE, READYZ

node_app = typer.Typer(help="Run, stop and inspect the node process.", no_args_is_help=True)


def version() -> None:
    """Print the Isthmus version."""
    out.print(__version__)


def init(
    home: Home,
    node_id: Annotated[str, typer.Option(help="This node's BFIA node id.")],
    inst_id: Annotated[str, typer.Option(help="The institution's id.")],
    name: Annotated[str, typer.Option(help="Display name of the node.")] = "",
    institution: Annotated[str, typer.Option(help="Institution name.")] = "",
    auth_type: Annotated[
        str, typer.Option(help="Signature suite: ED25519, SHA256_ECDSA, SHA256_RSA_PSS or SM2_SM3.")
    ] = "ED25519",
    host: Annotated[str, typer.Option(help="Interconn listener address.")] = "127.0.0.1",
    interconn_port: Annotated[
        int,
        typer.Option(
            help="Interconn (east-west) port; every other port is derived from it: admin "
            "+1, transport +2, with --grpc the gRPC faces +3 and +4."
        ),
    ] = 8101,
    admin_port: Annotated[
        int | None, typer.Option(help="Admin (north-south) port [interconn + 1].")
    ] = None,
    transport_port: Annotated[
        int | None,
        typer.Option(help="Transport port for local algorithm components [interconn + 2]."),
    ] = None,
    grpc: Annotated[
        bool,
        typer.Option(
            help="Also open the gRPC faces: interconn gRPC on interconn + 3, transport gRPC "
            "on interconn + 4."
        ),
    ] = False,
    public_address: Annotated[
        str, typer.Option(help="URL partners reach this node at (default http://HOST:PORT).")
    ] = "",
    store_url: Annotated[
        str, typer.Option(help="SQLAlchemy URL of the store (default SQLite in HOME).")
    ] = "",
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            help="Enable mutual TLS on the interconn listener with this certificate (PEM)."
        ),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Private key of --tls-cert.")] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(help="CA bundle that partners' certificates must chain to.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing identity.")] = False,
    as_json: AsJson = False,
) -> None:
    """Create a node home: key pair, configuration and admin token."""
    try:
        path = init_home(
            home,
            node_id=node_id,
            inst_id=inst_id,
            name=name,
            institution=institution,
            auth_type=auth_type,
            host=host,
            interconn_port=interconn_port,
            admin_port=admin_port,
            transport_port=transport_port,
            grpc=grpc,
            public_address=public_address,
            store_url=store_url,
            tls_cert_file=tls_cert,
            tls_key_file=tls_key,
            tls_ca_file=tls_ca,
            force=force,
        )
    except IsthmusError as exc:
        raise fail(exc.message, 2) from exc
    config = load_config(path)
    ports = {listener.setting: listener.port for listener in listeners(config)}
    result = {
        "home": str(path),
        "node_id": node_id,
        "auth_type": config.identity.auth_type,
        "interconn": config.public_address,
        "admin": config.admin_url,
        "transport": config.transport_address,
        "ports": ports,
    }
    emit(result, as_json, _print_initialised)
    for listener in listeners(config):
        problem = busy(listener)
        if problem is not None:
            err.print(
                f"[yellow]warning[/]: {listener.setting} {listener.port} {problem} now; the "
                "node will not start until it is free (choose another --interconn-port)",
                highlight=False,
                soft_wrap=True,
            )


def _print_initialised(d: dict[str, Any]) -> None:
    """Where the node will listen, every port, so that the next node can avoid them."""
    grpc = "".join(
        f", {setting} {port}" for setting, port in d["ports"].items() if "grpc" in setting and port
    )
    out.print(
        f"initialised node [bold]{d['node_id']}[/] in {d['home']} ({d['auth_type']})\n"
        f"  interconn {d['interconn']}, admin {d['admin']}, transport {d['transport']}{grpc}",
        highlight=False,
        soft_wrap=True,
    )


@node_app.command("start")
def node_start(
    home: Home,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background; log to HOME/logs.")
    ] = False,
    wait_s: Annotated[float, typer.Option(help="With --detach: how long to wait for ready.")] = 30,
    as_json: AsJson = False,
) -> None:
    """Start the node (foreground unless --detach)."""
    try:
        config = load_config(home)
    except IsthmusError as exc:
        raise fail(exc.message, 2) from exc
    if not detach:
        from isthmus.console import mount as console_mount
        from isthmus.node.server import NodeFailed, run

        try:
            run(config, admin_mounts=(console_mount,))
        except NodeFailed as exc:
            raise fail(str(exc)) from None
        return
    try:  # the common failure, said before anything is spawned
        refuse_busy_ports(config)
    except IsthmusError as exc:
        raise fail(f"node {config.node.node_id} could not start: {exc.message}") from exc
    log_path = config.home / "logs" / "node.log"
    with open_log_file(log_path) as log_file:
        offset = log_file.tell()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "isthmus", "node", "start", "--home", str(config.home)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if not _wait_ready(config, process, wait_s):
        if process.poll() is not None:
            raise fail(_start_error(log_path, offset, process.returncode))
        raise fail(
            f"node {config.node.node_id} (pid {process.pid}) is not ready after {wait_s:.0f} s; "
            f"it may still be starting: `isthmus node status`, and its log {log_path}"
        )
    started = {"node_id": config.node.node_id, "pid": process.pid, "log": str(log_path)}
    emit(
        started,
        as_json,
        lambda d: out.print(f"node {d['node_id']} started (pid {d['pid']}); log: {d['log']}"),
    )


def _wait_ready(config: NodeConfig, process: subprocess.Popen[bytes], wait_s: float) -> bool:
    """Whether the process just spawned is ready: its admin listener answers ``/readyz``
    and the node's pid file names this process (so that another node answering on the
    same admin port is not taken for it). False if it exited or the time ran out."""
    pid_path = config.home / "run" / "node.pid"
    deadline = time.monotonic() + wait_s
    with AdminClient.for_config(config, timeout_s=2) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.request("GET", READYZ)
                if pid_path.read_text().strip() == str(process.pid):
                    return True
            except (IsthmusError, OSError):
                pass
            time.sleep(0.1)
    return False


def _start_error(log_path: Path, offset: int, code: int) -> str:
    """Why a detached node exited at start: the one-line error its ``node start`` wrote
    last (after the log record with the traceback), read from where this start's output
    began in the log."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode("utf-8", "replace").splitlines()
    for line in reversed(lines):
        if line.startswith(ERROR_PREFIX):
            return line.removeprefix(ERROR_PREFIX)
    return f"the node exited with code {code} before it was ready; its log: {log_path}"


@node_app.command("stop")
def node_stop(
    home: Home, wait_s: Annotated[float, typer.Option()] = 15, as_json: AsJson = False
) -> None:
    """Stop a running node (SIGTERM, then wait)."""
    config = load_config(home)
    pid_path = config.home / "run" / "node.pid"
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        raise fail(f"no running node recorded in {pid_path}") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_path.unlink(missing_ok=True)
        raise fail(f"node process {pid} was not running (stale pid file removed)") from None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            emit(
                {"node_id": config.node.node_id, "pid": pid, "stopped": True},
                as_json,
                lambda d: out.print(f"node {d['node_id']} stopped"),
            )
            return
        time.sleep(0.1)
    raise fail(f"node process {pid} still running after {wait_s:.0f} s")


@node_app.command("status")
def node_status(home: Home, as_json: AsJson = False) -> None:
    """Is the node up, and who is it? A stopped node says how to start it (exit 1)."""
    info = _running_node(home)
    emit(
        info,
        as_json,
        lambda d: print_table(
            f"node {d['node_id']}",
            ["field", "value"],
            [
                [k, fingerprint(v) if k == "key_fingerprint" else v]
                for k, v in d.items()
                if k != "description"
            ],
            ids=("value",),
        ),
    )


def _running_node(home: Path) -> dict[str, Any]:
    """The node's own description, or exit 1 saying it is not running and how to start
    it (only when its admin API does not answer at all; any other failure as it is)."""
    with open_client(home) as client:
        try:
            return dict(client.get(ADMIN_NODE))
        except PeerUnreachable:
            node_id = load_config(home).node.node_id
            raise fail(
                f"node {node_id} is not running (start it: isthmus node start --home {home})"
            ) from None
        except IsthmusError as exc:
            raise fail(exc.message) from exc


def doctor(home: Home, as_json: AsJson = False) -> None:
    """Diagnose this node and every approved partner, and this node's file modes."""
    report = call(home, "GET", ADMIN_DOCTOR)
    report["files"] = _file_modes(home)
    report["ok"] = report["ok"] and not report["files"]

    def render(d: dict[str, Any]) -> None:
        out.print(f"transport: {d['tls']}; store: {d['store']}")
        for finding in d["files"]:
            out.print(
                f"[yellow]warning[/]: {finding['path']} is mode {finding['mode']}, readable "
                f"by others (expected {finding['expected']}): {finding['advice']}"
            )
        print_table(
            "partners",
            ["peer", "address", "reachable", "rtt ms", "skew ms", "signed ping", "diagnosis"],
            [
                [
                    p["peer_node_id"],
                    p["address"],
                    p.get("reachable"),
                    p.get("rtt_ms"),
                    p.get("clock_skew_ms"),
                    p.get("signed_ping"),
                    p["diagnosis"],
                ]
                for p in d["peers"]
            ],
            ids=("peer",),
        )
        if not d["peers"]:
            out.print("no approved partners yet: `isthmus peer apply --address URL`")
        own = d.get("tee_report", {"state": "none", "ok": True})
        if own["state"] != "none":
            line = f"own TEE report: {own['state']}"
            if own.get("valid_until"):
                line += f", valid until {own['valid_until']}"
            out.print(line if own["ok"] else f"[bold red]{line}[/]: {own.get('problem', '')}")
        out.print("[green]all good[/]" if d["ok"] else "[bold red]problems found[/]")

    emit(report, as_json, render)
    if not report["ok"]:
        raise typer.Exit(1)


def _file_modes(home: Path) -> list[dict[str, Any]]:
    """The local half of ``doctor``: private files open to others (``node.file_modes``)."""
    from isthmus.node import file_modes

    try:
        return file_modes.examine(load_config(home))
    except IsthmusError as exc:
        raise fail(exc.message, 2) from exc
