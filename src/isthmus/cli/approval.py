"""``isthmus approval``: ask partners for their resources, and decide on their requests for
ours (the spec's ``audit/apply``; the admin API's ``audits`` paths)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, err, fail, print_ids, print_table
from isthmus.wire.paths import (
    ADMIN_APPROVAL_APPLY,
    ADMIN_APPROVAL_APPROVE,
    ADMIN_APPROVAL_GRANT,
    ADMIN_APPROVAL_REJECT,
    ADMIN_APPROVAL_TERMINATE,
    ADMIN_APPROVALS,
)

approval_app = typer.Typer(
    help="Approvals: ask partners for their resources, decide on their requests.",
    no_args_is_help=True,
)

DAY_MS = 86_400_000
Days = Annotated[float | None, typer.Option(help="valid this many days from now")]
Times = Annotated[int | None, typer.Option("--times", help="uses allowed (-1: unlimited)")]


def _deadline(days: float | None) -> int | None:
    return None if days is None else int(time.time() * 1000 + days * DAY_MS)


def _approvals_table(rows: list[dict[str, Any]]) -> None:
    """One line per request; a partner's refusal of ours shows as REFUSED with its
    reason (``shown_status``), a request we rejected as REJECTED."""
    print_table(
        "approvals",
        ["audit id", "dir", "peer", "resource", "status", "limits", "by", "decided by", "reason"],
        [
            [
                r["audit_id"],
                "in" if r["direction"] == "INBOUND" else "out",
                r["peer_node_id"],
                f"{r['resource_type'].lower()} {r['resource_id']}",
                r.get("shown_status") or r["status"],
                _limits(r.get("permit") or r.get("request") or {}),
                r.get("requested_by"),
                r.get("decided_by"),
                r.get("reason"),
            ]
            for r in rows
        ],
        ids=("audit id", "peer"),
    )


def _limits(permit: dict[str, Any]) -> str:
    times = permit.get("times_limit", -1)
    until = permit.get("time_limit", -1)
    if times in (-1, None):
        parts = ["any uses"]
    else:
        parts = [f"{times} use" if times == 1 else f"{times} uses"]
    if until not in (-1, None):
        parts.append("until " + time.strftime("%Y-%m-%d %H:%M", time.localtime(until / 1000)))
    return ", ".join(parts)


@approval_app.command("apply")
def approval_apply(
    home: Home,
    peer: str,
    resource_id: Annotated[str, typer.Argument(help="e.g. a dataset id <namespace>#<name>")],
    kind: Annotated[
        str, typer.Option("--type", help="dataset, project, flow, job or model")
    ] = "dataset",
    times: Times = None,
    days: Days = None,
    name: Annotated[str, typer.Option(help="a project's name")] = "",
    dataset: Annotated[
        list[str] | None, typer.Option(help="a partner dataset a project uses (repeat)")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Ask a partner for one of its resources; its operator decides."""
    field = {"dataset": "dataset_id", "project": "project_id", "flow": "flow_id",
             "job": "job_id", "model": "model_id"}.get(kind)  # fmt: skip
    if field is None:
        raise fail(f"--type {kind}: not one of dataset, project, flow, job, model", 2)
    fields: dict[str, Any] = {field: resource_id}
    if kind == "project":
        fields["name"] = name or resource_id
        fields["datasets"] = [{"dataset_id": d, "owner": peer} for d in dataset or []]
    if times is not None:
        fields["times_limit"] = times
    if days is not None:
        fields["time_limit"] = _deadline(days)
    body = {"resource_type": kind.upper(), "peer_node_id": peer, "fields": fields}
    emit(call(home, "POST", ADMIN_APPROVAL_APPLY, body), as_json, lambda r: _approvals_table([r]))


@approval_app.command("list")
def approval_list(
    home: Home,
    pending: Annotated[bool, typer.Option(help="only requests awaiting a decision here")] = False,
    ids: Annotated[
        bool, typer.Option("--ids", help="print only the audit ids, one a line")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Requests to and from partners, with their state and limits."""
    if pending:
        rows = call(home, "GET", ADMIN_APPROVALS, direction="INBOUND", status="APPLIED")
    else:
        rows = call(home, "GET", ADMIN_APPROVALS)
    if ids:
        print_ids(r["audit_id"] for r in rows)
        return
    emit(rows, as_json, _approvals_table)


@approval_app.command("approve")
def approval_approve(
    home: Home, peer: str, audit_id: str, times: Times = None, days: Days = None,
    reason: str = "", as_json: AsJson = False,
) -> None:  # fmt: skip
    """Approve a partner's request (limits may only narrow what was asked)."""
    body = {"times_limit": times, "time_limit": _deadline(days), "reason": reason}
    view = call(home, "POST", ADMIN_APPROVAL_APPROVE.format(peer=peer, audit_id=audit_id), body)
    emit(view, as_json, lambda r: _approvals_table([r]))


@approval_app.command("reject")
def approval_reject(
    home: Home, peer: str, audit_id: str,
    reason: Annotated[str, typer.Option(help="why; the partner's operator sees it")],
) -> None:  # fmt: skip
    """Reject a partner's request, saying why."""
    path = ADMIN_APPROVAL_REJECT.format(peer=peer, audit_id=audit_id)
    call(home, "POST", path, {"reason": reason})
    err.print(f"request {audit_id} of {peer} rejected")


@approval_app.command("revoke")
def approval_revoke(
    home: Home, peer: str, audit_id: str,
    outbound: Annotated[bool, typer.Option(help="end a grant we hold, not one we gave")] = False,
    reason: str = "",
) -> None:  # fmt: skip
    """End an approval at once: its permit stops working, and the partner is told."""
    body = {"direction": "OUTBOUND" if outbound else "INBOUND", "reason": reason}
    call(home, "POST", ADMIN_APPROVAL_TERMINATE.format(peer=peer, audit_id=audit_id), body)
    err.print(f"approval {audit_id} with {peer} ended")


@approval_app.command("grant")
def approval_grant(
    home: Home, peer: str, dataset_id: str, times: Times = None, days: Days = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Ask for a standing grant of a dataset to a partner that cannot present permits
    (FATE-Flow); another approver decides it."""
    body = {"peer_node_id": peer, "resource_type": "DATASET", "resource_id": dataset_id,
            "times_limit": -1 if times is None else times,
            "time_limit": _deadline(days) or -1}  # fmt: skip
    emit(call(home, "POST", ADMIN_APPROVAL_GRANT, body), as_json, lambda r: _approvals_table([r]))
