"""``isthmus peer``: node contracts with partners. Applying, approving, rejecting and
terminating all go through this node's admin API, which tells the partner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import (
    AsJson,
    Home,
    call,
    emit,
    fingerprint,
    out,
    print_ids,
    print_table,
    utc_minute,
)
from isthmus.wire.clock import now_ms
from isthmus.wire.paths import (
    ADMIN_CONTRACT_APPLY,
    ADMIN_CONTRACT_APPROVE,
    ADMIN_CONTRACT_REJECT,
    ADMIN_CONTRACT_SYNC,
    ADMIN_CONTRACT_TERMINATE,
    ADMIN_CONTRACTS,
)

peer_app = typer.Typer(help="Node contracts with partners.", no_args_is_help=True)


def tee_cell(row: dict[str, Any], now: int) -> str:
    """The partner's attestation, in a word: ``-`` (not required), ``VERIFIED until
    <date>`` (or ``VERIFIED``, nothing expires), ``LAPSED`` (past the proof, whatever
    the status column says: request authentication already refuses the partner)."""
    if not row.get("tee_required"):
        return "-"
    until = row.get("peer_tee_valid_until")
    if row.get("peer_tee_status") == "LAPSED" or (until is not None and until <= now):
        return "LAPSED"
    if row.get("peer_tee_status") != "VERIFIED":
        return "REQUIRED"
    return f"VERIFIED until {utc_minute(until)}" if until else "VERIFIED"


def _contracts_table(rows: list[dict[str, Any]]) -> None:
    now = now_ms()
    print_table(
        "contracts",
        ["contract", "peer", "direction", "status", "address", "key", "expires", "tee"],
        [
            [
                r["contract_id"],
                r["peer_node_id"],
                r["direction"],
                r["status"],
                r["peer_address"],
                fingerprint(r.get("peer_key_fingerprint")),
                utc_minute(r.get("expired_time")),
                tee_cell(r, now),
            ]
            for r in rows
        ],
        ids=("contract", "peer"),
    )


@peer_app.command("apply")
def peer_apply(
    home: Home,
    address: Annotated[str, typer.Option(help="The partner's interconn URL.")],
    node_id: Annotated[str | None, typer.Option(help="Expected partner node id.")] = None,
    as_json: AsJson = False,
) -> None:
    """Apply for a contract with the partner at ADDRESS."""
    view = call(home, "POST", ADMIN_CONTRACT_APPLY, {"address": address, "node_id": node_id})
    emit(
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
    ids: Annotated[
        bool, typer.Option("--ids", help="Print only the contract ids, one a line.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """List contracts (pending applications included)."""
    rows = call(home, "GET", ADMIN_CONTRACTS, status=status.upper() if status else None)
    if ids:
        print_ids(r["contract_id"] for r in rows)
        return
    emit(rows, as_json, _contracts_table)


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
        body["expired_time"] = now_ms() + valid_days * 86_400_000
    view = call(home, "POST", ADMIN_CONTRACT_APPROVE.format(contract_id=contract_id), body)
    emit(
        view,
        as_json,
        lambda d: out.print(
            f"approved contract {d['contract_id']} with {d['peer_node_id']} "
            f"until {utc_minute(d['expired_time'])}"
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
    _end(home, ADMIN_CONTRACT_REJECT, contract_id, reason, as_json, "rejected")


@peer_app.command("terminate")
def peer_terminate(
    home: Home,
    contract_id: str,
    reason: Annotated[str, typer.Option()] = "",
    as_json: AsJson = False,
) -> None:
    """Terminate a contract now (the partner is told)."""
    _end(home, ADMIN_CONTRACT_TERMINATE, contract_id, reason, as_json, "terminated")


def _end(
    home: Path, template: str, contract_id: str, reason: str, as_json: bool, done: str
) -> None:
    """Reject or terminate: the same call, with the reason the partner is told."""
    view = call(home, "POST", template.format(contract_id=contract_id), {"reason": reason})
    emit(view, as_json, lambda d: out.print(f"{done} contract {d['contract_id']}"))


@peer_app.command("sync")
def peer_sync(home: Home, as_json: AsJson = False) -> None:
    """Ask partners about unanswered applications and deliver queued messages now."""
    result = call(home, "POST", ADMIN_CONTRACT_SYNC)
    emit(
        result,
        as_json,
        lambda d: out.print(
            f"{d['contracts_changed']} contract(s) changed, {d['messages_delivered']} message(s) "
            "delivered"
        ),
    )
