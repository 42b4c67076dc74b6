"""``isthmus``: set up a node, run it, manage its partners, check its audit log.

Every command prints a human table by default and one JSON document with ``--json``.
Exit codes: 0 success, 1 the node or a partner refused or failed, 2 bad usage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus import __version__
from isthmus.cli.approval import approval_app, dataset_app, token_app
from isthmus.cli.common import AsJson, Home, _call, _client, _emit, _fail, _table, err, out
from isthmus.node.admin_client import AdminClient
from isthmus.node.config import load_config
from isthmus.node.home import init_home
from isthmus.node.logs import open_log_file
from isthmus.wire.errors import IsthmusError

app = typer.Typer(
    help="Isthmus: a BFIA interconnection node.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
node_app = typer.Typer(help="Run, stop and inspect the node process.", no_args_is_help=True)
peer_app = typer.Typer(help="Node contracts with partners.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
component_app = typer.Typer(help="The algorithm components this node runs.", no_args_is_help=True)
app.add_typer(node_app, name="node")
app.add_typer(peer_app, name="peer")
app.add_typer(audit_app, name="audit")
app.add_typer(component_app, name="component")
job_app = typer.Typer(help="Jobs: submit, follow, stop, and find out why.", no_args_is_help=True)
app.add_typer(job_app, name="job")
app.add_typer(dataset_app, name="dataset")
app.add_typer(approval_app, name="approval")
app.add_typer(token_app, name="token")


def _components_table(rows: list[dict[str, Any]]) -> None:
    _table(
        "components",
        ["component", "provider", "version", "state", "image", "runner"],
        [
            [
                r["componentName"],
                r["provider"],
                r["version"],
                r["state"],
                r["imageUrl"],
                r["runner"],
            ]
            for r in rows
        ],
    )


@component_app.command("list")
def component_list(
    home: Home,
    name: Annotated[str | None, typer.Option(help="only this componentName")] = None,
    as_json: AsJson = False,
) -> None:
    """Registered components, every version, with their state."""
    _emit(_call(home, "GET", "/components", name=name), as_json, _components_table)


@component_app.command("register")
def component_register(
    home: Home,
    description: Annotated[Path, typer.Argument(help="self-description JSON file")],
    image_url: Annotated[str, typer.Option("--image", help="image URL to run it")] = "",
    runner: Annotated[str, typer.Option(help="process, docker or kubernetes")] = "process",
    as_json: AsJson = False,
) -> None:
    """Register a component's self-description (a new version sits beside the old)."""
    try:
        document = json.loads(description.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {description}: {exc}", 2) from exc
    body = {"component_info": document, "imageUrl": image_url, "runner": runner}
    _emit(_call(home, "POST", "/components", body), as_json, lambda r: _components_table([r]))


@component_app.command("enable")
def component_enable(home: Home, name: str, provider: str, version: str) -> None:
    """Let jobs use this component version."""
    _call(home, "POST", "/components/state", _component_key(name, provider, version, "ENABLED"))
    out.print(f"{name} {version} ({provider}) ENABLED")


@component_app.command("disable")
def component_disable(home: Home, name: str, provider: str, version: str) -> None:
    """Refuse jobs that use this component version."""
    _call(home, "POST", "/components/state", _component_key(name, provider, version, "DISABLED"))
    out.print(f"{name} {version} ({provider}) DISABLED")


@job_app.command("submit")
def job_submit(
    home: Home,
    document: Annotated[Path, typer.Argument(help="the job: {flow_id?, dag, config} JSON")],
    scheduler: Annotated[
        str | None, typer.Option(help="the node that schedules it (default: this one)")
    ] = None,
    wait: Annotated[bool, typer.Option(help="follow the job until it ends")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to follow it")] = 3600.0,
    as_json: AsJson = False,
) -> None:
    """Submit a job on this node (its initiator); with --wait, show its progress and
    exit 0 only if every task succeeded."""
    try:
        body = json.loads(document.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read {document}: {exc}", 2) from exc
    if scheduler:
        body["scheduler"] = scheduler
    job_id = _call(home, "POST", "/v1/platform/schedule/job/create_all", body)["job_id"]
    if not wait:
        _emit({"job_id": job_id}, as_json, lambda d: out.print(d["job_id"]))
        return
    err.print(f"job {job_id} submitted")
    _follow(home, job_id, timeout)
    summary = _call(home, "GET", "/v1/platform/schedule/job/why", job_id=job_id)
    _emit(summary, as_json, _why_report)
    if summary["result"] != "SUCCESS":
        raise typer.Exit(1)


def _follow(home: Path, job_id: str, timeout_s: float) -> None:
    """Print each task's status as it changes, until the job ends."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = _call(home, "GET", "/v1/platform/schedule/job/status_all", job_id=job_id)
        for task, status in state.get("status", {}).items():
            if seen.get(task) != status:
                seen[task] = status
                err.print(f"  {task:<24} {status}", highlight=False)
        if state.get("job_status") in ("FINISHED", "REJECTED"):
            return
        time.sleep(0.5)
    raise _fail(f"job {job_id} still runs after {timeout_s:.0f} s (it goes on)")


@job_app.command("status")
def job_status(home: Home, job_id: str, as_json: AsJson = False) -> None:
    """The job's status and every task's, as its scheduler sees them."""
    state = _call(home, "GET", "/v1/platform/schedule/job/status_all", job_id=job_id)
    _emit(state, as_json, _tasks_table)


def _tasks_table(state: dict[str, Any]) -> None:
    _table(
        f"job {state.get('job_id')}: {state.get('job_status')}",
        ["task", "task id", "status", "parties", "reason"],
        [
            [
                t["task_name"],
                t["task_id"],
                t["status"],
                ", ".join(f"{p['role']}@{p['node_id']}:{p['status']}" for p in t["parties"]),
                t.get("reason"),
            ]
            for t in state.get("tasks", [])
        ],
    )


@job_app.command("list")
def job_list(
    home: Home,
    flow_id: Annotated[str | None, typer.Option(help="only this flow's jobs")] = None,
    as_json: AsJson = False,
) -> None:
    """Jobs this node takes part in or schedules."""
    rows = _call(home, "GET", "/v1/platform/schedule/job/query_job_list", flow_id=flow_id)
    _emit(
        rows["job_list"],
        as_json,
        lambda d: _table("jobs", ["job", "status"], [[k, v] for k, v in d.items()]),
    )


@job_app.command("stop")
def job_stop(
    home: Home,
    job_id: str,
    task: Annotated[str | None, typer.Option(help="stop only this task and its downstream")] = None,
) -> None:
    """Stop a job everywhere, or one task and everything after it."""
    _call(home, "POST", "/v1/platform/schedule/job/stop_all", {"job_id": job_id, "task_name": task})
    err.print(f"stop of {job_id}{' task ' + task if task else ''} requested")


@job_app.command("logs")
def job_logs(
    home: Home,
    task_id: str,
    level: Annotated[str, typer.Option(help="info, debug or error")] = "info",
) -> None:
    """This node's log of a task (every party of ours)."""
    text = _call(
        home, "GET", "/v1/platform/schedule/task/get_log", task_id=task_id, log_level=level
    )
    out.print(text, highlight=False, markup=False)


@job_app.command("why")
def job_why(home: Home, job_id: str, as_json: AsJson = False) -> None:
    """How the job ended and, if it failed, which party's task failed, why, and the
    end of that task's log: one answer, across parties."""
    _emit(_call(home, "GET", "/v1/platform/schedule/job/why", job_id=job_id), as_json, _why_report)


def _why_report(summary: dict[str, Any]) -> None:
    out.print(f"job {summary['job_id']}: {summary['result']}", highlight=False)
    if summary.get("reason"):
        out.print(f"  reason: {summary['reason']}", highlight=False, markup=False)
    for failure in summary.get("failures", []):
        out.print(
            f"\n  {failure['task_name']} failed on {failure['node_id']} ({failure['role']}): "
            f"{failure['reason']}",
            highlight=False,
            markup=False,
        )
        for line in (failure.get("log_tail") or "").splitlines():
            out.print(f"    | {line}", highlight=False, markup=False)


def _component_key(name: str, provider: str, version: str, state: str) -> dict[str, str]:
    return {"componentName": name, "provider": provider, "version": version, "state": state}


@app.command()
def version() -> None:
    """Print the Isthmus version."""
    out.print(__version__)


@app.command()
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
    interconn_port: Annotated[int, typer.Option(help="Interconn (east-west) port.")] = 8101,
    admin_port: Annotated[int, typer.Option(help="Admin (north-south) port.")] = 8102,
    transport_port: Annotated[
        int, typer.Option(help="Transport port for local algorithm components.")
    ] = 8103,
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
            public_address=public_address,
            store_url=store_url,
            tls_cert_file=tls_cert,
            tls_key_file=tls_key,
            tls_ca_file=tls_ca,
            force=force,
        )
    except IsthmusError as exc:
        raise _fail(exc.message, 2) from exc
    config = load_config(path)
    result = {
        "home": str(path),
        "node_id": node_id,
        "auth_type": config.identity.auth_type,
        "interconn": config.public_address,
        "admin": config.admin_url,
    }
    _emit(
        result,
        as_json,
        lambda d: out.print(
            f"initialised node [bold]{d['node_id']}[/] in {d['home']} "
            f"({d['auth_type']}; interconn {d['interconn']}, admin {d['admin']})"
        ),
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
        raise _fail(exc.message, 2) from exc
    if not detach:
        from isthmus.node.server import run

        run(config)
        return
    log_path = config.home / "logs" / "node.log"
    with open_log_file(log_path) as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "isthmus", "node", "start", "--home", str(config.home)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + wait_s
    with AdminClient.for_config(config, timeout_s=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise _fail(f"node exited with code {process.returncode}; see {log_path}")
            try:
                client.request("GET", "/readyz")
            except IsthmusError:
                time.sleep(0.1)
                continue
            started = {"node_id": config.node.node_id, "pid": process.pid, "log": str(log_path)}
            _emit(
                started,
                as_json,
                lambda d: out.print(
                    f"node {d['node_id']} started (pid {d['pid']}); log: {d['log']}"
                ),
            )
            return
    raise _fail(f"node did not become ready in {wait_s:.0f} s; see {log_path}")


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
        raise _fail(f"no running node recorded in {pid_path}") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_path.unlink(missing_ok=True)
        raise _fail(f"node process {pid} was not running (stale pid file removed)") from None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            _emit(
                {"node_id": config.node.node_id, "pid": pid, "stopped": True},
                as_json,
                lambda d: out.print(f"node {d['node_id']} stopped"),
            )
            return
        time.sleep(0.1)
    raise _fail(f"node process {pid} still running after {wait_s:.0f} s")


@node_app.command("status")
def node_status(home: Home, as_json: AsJson = False) -> None:
    """Is the node up, and who is it?"""
    info = _call(home, "GET", "/node")
    _emit(
        info,
        as_json,
        lambda d: _table(
            f"node {d['node_id']}",
            ["field", "value"],
            [[k, v] for k, v in d.items() if k != "description"],
        ),
    )


def _contracts_table(rows: list[dict[str, Any]]) -> None:
    _table(
        "contracts",
        ["contract", "peer", "direction", "status", "address", "key", "expires"],
        [
            [
                r["contract_id"],
                r["peer_node_id"],
                r["direction"],
                r["status"],
                r["peer_address"],
                (r.get("peer_key_fingerprint") or "")[:16],
                _when(r.get("expired_time")),
            ]
            for r in rows
        ],
    )


def _when(ms: int | None) -> str:
    return "" if not ms else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) + "Z"


@peer_app.command("apply")
def peer_apply(
    home: Home,
    address: Annotated[str, typer.Option(help="The partner's interconn URL.")],
    node_id: Annotated[str | None, typer.Option(help="Expected partner node id.")] = None,
    as_json: AsJson = False,
) -> None:
    """Apply for a contract with the partner at ADDRESS."""
    view = _call(home, "POST", "/contracts/apply", {"address": address, "node_id": node_id})
    _emit(
        view,
        as_json,
        lambda d: out.print(
            f"applied to {d['peer_node_id']}: contract {d['contract_id']} is {d['status']}; "
            "waiting for the partner's operator"
        ),
    )


@peer_app.command("list")
def peer_list(
    home: Home,
    status: Annotated[
        str | None, typer.Option(help="APPLIED, APPROVED, REJECTED, TERMINATED")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List contracts (pending applications included)."""
    rows = _call(home, "GET", "/contracts", status=status.upper() if status else None)
    _emit(rows, as_json, _contracts_table)


@peer_app.command("approve")
def peer_approve(
    home: Home,
    contract_id: str,
    valid_days: Annotated[int | None, typer.Option(help="Override the validity.")] = None,
    as_json: AsJson = False,
) -> None:
    """Approve a partner's application."""
    body: dict[str, Any] = {}
    if valid_days:
        body["expired_time"] = int(time.time() * 1000) + valid_days * 86_400_000
    view = _call(home, "POST", f"/contracts/{contract_id}/approve", body)
    _emit(
        view,
        as_json,
        lambda d: out.print(
            f"approved contract {d['contract_id']} with {d['peer_node_id']} "
            f"until {_when(d['expired_time'])}"
        ),
    )


@peer_app.command("reject")
def peer_reject(
    home: Home,
    contract_id: str,
    reason: Annotated[str, typer.Option(help="Told to the partner.")],
    as_json: AsJson = False,
) -> None:
    """Reject a partner's application."""
    view = _call(home, "POST", f"/contracts/{contract_id}/reject", {"reason": reason})
    _emit(view, as_json, lambda d: out.print(f"rejected contract {d['contract_id']}"))


@peer_app.command("terminate")
def peer_terminate(
    home: Home,
    contract_id: str,
    reason: Annotated[str, typer.Option()] = "",
    as_json: AsJson = False,
) -> None:
    """Terminate a contract now (the partner is told)."""
    view = _call(home, "POST", f"/contracts/{contract_id}/terminate", {"reason": reason})
    _emit(view, as_json, lambda d: out.print(f"terminated contract {d['contract_id']}"))


@peer_app.command("sync")
def peer_sync(home: Home, as_json: AsJson = False) -> None:
    """Ask partners about unanswered applications and deliver queued messages now."""
    result = _call(home, "POST", "/contracts/sync")
    _emit(
        result,
        as_json,
        lambda d: out.print(
            f"{d['contracts_changed']} contract(s) changed, {d['messages_delivered']} message(s) "
            "delivered"
        ),
    )


@audit_app.command("verify")
def audit_verify(
    home: Annotated[Path | None, typer.Option("--home", "-H", envvar="ISTHMUS_HOME")] = None,
    file: Annotated[Path | None, typer.Option(help="Verify an exported file instead.")] = None,
    as_json: AsJson = False,
) -> None:
    """Check the audit chain; exit 1 if anything was edited, removed or reordered."""
    if file is not None:
        verdict = _verify_export(file)
    elif home is not None:
        verdict = _call(home, "GET", "/audit/verify")
    else:
        raise _fail("give --home (a running node) or --file (an export)", 2)
    _emit(
        verdict,
        as_json,
        lambda d: out.print(
            f"audit log intact: {d['checked']} events, head {d['last_hash'][:16]}…"
            if d["ok"]
            else f"[bold red]audit log TAMPERED[/] at seq {d.get('bad_seq')}: {d['problem']}"
        ),
    )
    if not verdict["ok"]:
        raise typer.Exit(1)


def _verify_export(file: Path) -> dict[str, Any]:
    from isthmus.crypto import load_public_key
    from isthmus.store.audit import verify_chain

    lines = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line]
    if not lines or "head" not in lines[-1]:
        return {
            "ok": False,
            "checked": 0,
            "last_hash": "",
            "bad_seq": None,
            "problem": "export has no signed head trailer (truncated?)",
        }
    trailer, events = lines[-1], lines[:-1]
    head = trailer["head"]
    key = load_public_key(trailer["public_key"], trailer["auth_type"])
    statement = f"isthmus-audit-head\n{head['node_id']}\n{head['seq']}\n{head['hash']}".encode()
    if not key.verify(bytes.fromhex(trailer["signature"]), statement):
        return {
            "ok": False,
            "checked": 0,
            "last_hash": head["hash"],
            "bad_seq": None,
            "problem": "the head signature does not verify",
        }
    result = verify_chain(events, (int(head["seq"]), head["hash"])).as_dict()
    result["signed_by"] = key.fingerprint()
    return result


@audit_app.command("export")
def audit_export(
    home: Home,
    output: Annotated[Path, typer.Option("--output", "-o", help="NDJSON file to write.")],
    as_json: AsJson = False,
) -> None:
    """Export every event plus the head signed by the node key."""
    with _client(home) as client:
        response = client.raw_get("/audit/export")
        if response.status_code != 200:
            raise _fail(f"export failed: HTTP {response.status_code}: {response.text[:200]}")
        output.write_bytes(response.content)
    count = max(0, response.content.count(b"\n") - 1)
    _emit(
        {"events": count, "output": str(output)},
        as_json,
        lambda d: out.print(f"exported {d['events']} events to {d['output']}"),
    )


@audit_app.command("list")
def audit_list(
    home: Home,
    after_seq: Annotated[int, typer.Option()] = 0,
    limit: Annotated[int, typer.Option()] = 50,
    action: Annotated[str | None, typer.Option()] = None,
    as_json: AsJson = False,
) -> None:
    """Show audit events."""
    rows = _call(home, "GET", "/audit", after_seq=after_seq, limit=limit, action=action)
    _emit(
        rows,
        as_json,
        lambda d: _table(
            "audit",
            ["seq", "time", "actor", "action", "subject", "outcome"],
            [
                [r["seq"], _when(r["ts"]), r["actor"], r["action"], r["subject"], r["outcome"]]
                for r in d
            ],
        ),
    )


@app.command()
def doctor(home: Home, as_json: AsJson = False) -> None:
    """Diagnose this node and every approved partner, and this node's file modes."""
    report = _call(home, "GET", "/doctor")
    report["files"] = _file_modes(home)
    report["ok"] = report["ok"] and not report["files"]

    def render(d: dict[str, Any]) -> None:
        out.print(f"transport: {d['tls']}; store: {d['store']}")
        for finding in d["files"]:
            out.print(
                f"[yellow]warning[/]: {finding['path']} is mode {finding['mode']}, readable "
                f"by others (expected {finding['expected']}): {finding['advice']}"
            )
        _table(
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
        )
        if not d["peers"]:
            out.print("no approved partners yet: `isthmus peer apply --address URL`")
        out.print("[green]all good[/]" if d["ok"] else "[bold red]problems found[/]")

    _emit(report, as_json, render)
    if not report["ok"]:
        raise typer.Exit(1)


def _file_modes(home: Path) -> list[dict[str, Any]]:
    """The local half of ``doctor``: private files open to others (``node.file_modes``)."""
    from isthmus.node import file_modes

    try:
        return file_modes.examine(load_config(home))
    except IsthmusError as exc:
        raise _fail(exc.message, 2) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
