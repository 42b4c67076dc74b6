"""What the Partners page shows, gathered the way the admin API gathers it.

Each contract row is the service's own view (``ContractService.list``, as ``GET
/admin/v1/contracts`` answers), with its partner's attestation said in a word and the
actions its state admits. Which of those actions a principal sees is decided by the
policy table (``authz.can``, the admin API's routes), never here: a state may admit an
action that the principal's roles do not. A partner's published datasets and components
are read through the node (``node.api.management.partner_list``, the same call as the
admin routes), never from the browser, and each list failing (the partner unreachable,
no approved contract) is shown as that list's error, not as a broken page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from isthmus.management.contracts import INBOUND
from isthmus.node.api.management import partner_list
from isthmus.node.context import NodeContext
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError
from isthmus.wire.node import ContractStatus

#: The contract actions, each with the admin API route whose policy decides who sees it.
ACTIONS: dict[str, str] = {
    "approve": paths.ADMIN_CONTRACT_APPROVE,
    "reject": paths.ADMIN_CONTRACT_REJECT,
    "terminate": paths.ADMIN_CONTRACT_TERMINATE,
}
#: States a contract can still be terminated from (``store.contracts.ACTIVE``).
LIVE = frozenset({ContractStatus.APPLIED.value, ContractStatus.APPROVED.value})


def utc_minute(ms: int | None) -> str:
    """A millisecond timestamp as ``YYYY-MM-DD HH:MMZ`` (empty for none or 0)."""
    return "" if not ms else time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) + "Z"


def grouped(fingerprint: str | None) -> str:
    """A fingerprint in groups of eight hex digits, to read aloud and compare."""
    text = fingerprint or ""
    return " ".join(text[i : i + 8] for i in range(0, len(text), 8))


def tee_state(row: dict[str, Any], now: int) -> str:
    """The partner's attestation in a word (an i18n key suffix): ``none`` (not
    required), ``required`` (required, not proven yet), ``verified``, or ``lapsed``
    (past its proof, whatever the status says: requests are refused already)."""
    if not row.get("tee_required"):
        return "none"
    until = row.get("peer_tee_valid_until")
    if row.get("peer_tee_status") == "LAPSED" or (until is not None and until <= now):
        return "lapsed"
    return "verified" if row.get("peer_tee_status") == "VERIFIED" else "required"


def actions_for(row: dict[str, Any]) -> tuple[str, ...]:
    """The actions the contract's state and direction admit: approve and reject an
    application the partner made to us; terminate while it is live."""
    admitted: list[str] = []
    if row["status"] == ContractStatus.APPLIED.value and row["direction"] == INBOUND:
        admitted += ["approve", "reject"]
    if row["status"] in LIVE:
        admitted.append("terminate")
    return tuple(admitted)


@dataclass(frozen=True)
class ContractLine:
    """One row of the contracts table."""

    contract_id: str
    peer_node_id: str
    peer_name: str
    direction: str
    status: str
    address: str
    key_fingerprint: str
    tls_pin: str
    tee: str
    tee_until: str
    expires: str
    reason: str
    actions: tuple[str, ...]


def contract_lines(ctx: NodeContext) -> list[ContractLine]:
    """Every contract, as ``GET /admin/v1/contracts`` lists it (call off the loop)."""
    now = int(time.time() * 1000)
    return [
        ContractLine(
            contract_id=r["contract_id"],
            peer_node_id=r["peer_node_id"],
            peer_name=r.get("peer_name") or "",
            direction=r["direction"],
            status=r["status"],
            address=r.get("peer_address") or "",
            key_fingerprint=grouped(r.get("peer_key_fingerprint")),
            tls_pin=grouped(r.get("peer_tls_fingerprint")),
            tee=tee_state(r, now),
            tee_until=utc_minute(r.get("peer_tee_valid_until")),
            expires=utc_minute(r.get("expired_time")),
            reason=r.get("reason") or "",
            actions=actions_for(r),
        )
        for r in ctx.contracts.list()
    ]


@dataclass(frozen=True)
class Listing:
    """A partner's list: its records, or why it could not be read."""

    records: list[dict[str, Any]]
    error: str = ""


async def partner_listing(ctx: NodeContext, peer: str, path: str) -> Listing:
    """The partner's list at ``path`` (``dataset/pub/list`` or ``component/list``)."""
    try:
        data = await partner_list(ctx, peer, path)
    except IsthmusError as exc:
        return Listing([], f"{exc.code.name}: {exc.message}")
    records = data.get("records") if isinstance(data, dict) else None
    return Listing([r for r in records or [] if isinstance(r, dict)])


async def partner_datasets(ctx: NodeContext, peer: str) -> Listing:
    """The datasets ``peer`` publishes to us (metadata only, never rows)."""
    return await partner_listing(ctx, peer, paths.DATASET_PUB_LIST)


async def partner_components(ctx: NodeContext, peer: str) -> Listing:
    """The components ``peer`` lets us use in jobs with it."""
    return await partner_listing(ctx, peer, paths.COMPONENT_LIST)
