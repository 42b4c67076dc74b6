"""What the Approvals page shows: the requests in and out, what each viewer may do to
each, and the permits this node granted with how often each was used.

Guarantees: the actions offered on a row are decided by the same policy table as the
admin API (``can``) *and* by the service's own rules (a request is decided only while
APPLIED, and never by the principal who made it: ``ApprovalService.decide`` refuses that
with ``Forbidden``); so an approver never sees a button to decide their own request, and
the server refuses it regardless. Permits are read without their tokens (only the hash
is stored; nothing here reads it). A partner's datasets are fetched as the admin API
fetches them (metadata only), each partner waited for at most ``PARTNER_WAIT_S``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from isthmus.console.datasets_data import permit_state
from isthmus.node.context import NodeContext
from isthmus.store.schema import PermitRow
from isthmus.wire import paths
from isthmus.wire.errors import IsthmusError
from isthmus.wire.management import AuditStatus

INBOUND, OUTBOUND = "INBOUND", "OUTBOUND"
DAY_MS = 86_400_000

#: ``can(method, api_route) -> bool`` for the viewer (``authz.can`` with them bound).
Can = Callable[[str, str], bool]


@dataclass(frozen=True)
class Actions:
    """The buttons a viewer gets on one request."""

    decide: bool = False  # approve and reject
    revoke: bool = False  # end an approval we gave
    withdraw: bool = False  # end (or withdraw) a request of ours
    own: bool = False  # the viewer made this request: nobody else's decision is theirs


def limits(approval: dict[str, Any]) -> tuple[int, int]:
    """(times_limit, time_limit) of a request: the permit's when granted (it may have
    narrowed them), the request's otherwise; ``-1`` is no limit."""
    source = approval.get("permit") or approval.get("request") or {}
    return _limit(source.get("times_limit")), _limit(source.get("time_limit"))


def _limit(value: Any) -> int:
    return -1 if value is None else int(value)


def actions_for(approval: dict[str, Any], actor: str, can: Can) -> Actions:
    """What the viewer (``actor`` = ``token:<name>``) may do to ``approval``."""
    status = approval["status"]
    own = approval.get("requested_by") == actor
    if approval["direction"] == INBOUND:
        decide = (
            status == AuditStatus.APPLIED
            and not own
            and can("POST", paths.ADMIN_APPROVAL_APPROVE)
            and can("POST", paths.ADMIN_APPROVAL_REJECT)
        )
        revoke = status == AuditStatus.APPROVED and can("POST", paths.ADMIN_APPROVAL_TERMINATE)
        return Actions(decide=decide, revoke=revoke, own=own)
    live = status in (AuditStatus.APPLIED, AuditStatus.APPROVED)
    return Actions(withdraw=live and can("POST", paths.ADMIN_APPROVAL_TERMINATE), own=own)


@dataclass(frozen=True)
class InboxRow:
    approval: dict[str, Any]
    times_limit: int
    time_limit: int
    actions: Actions


def inbox(ctx: NodeContext, actor: str, can: Can, direction: str) -> list[InboxRow]:
    """The requests of one direction, newest first, with the viewer's actions."""
    rows = ctx.approvals.approvals(direction=direction)
    return [InboxRow(a, *limits(a), actions_for(a, actor, can)) for a in rows]


@dataclass(frozen=True)
class PermitUse:
    audit_id: str
    partner: str
    resource_type: str
    resource_id: str
    standing: bool
    times_used: int
    times_limit: int
    time_limit: int
    last_used_at: int | None
    state: str


def permits(ctx: NodeContext, now: int) -> list[PermitUse]:
    """Every permit this node granted, live ones first, then by grant time."""
    with ctx.store.session() as s:
        rows = s.query(PermitRow).order_by(PermitRow.created_at.desc()).all()
        found = [
            PermitUse(
                audit_id=r.audit_id,
                partner=r.request_node_id,
                resource_type=r.resource_type,
                resource_id=r.resource_id,
                standing=r.standing,
                times_used=r.times_used,
                times_limit=r.times_limit,
                time_limit=r.time_limit,
                last_used_at=r.last_used_at,
                state=permit_state(r, now),
            )
            for r in rows
        ]
    return sorted(found, key=lambda p: p.state != "active")


def partners(ctx: NodeContext) -> list[str]:
    """The partners with an approved contract: those a request can go to."""
    rows = ctx.contracts.list(status="APPROVED")
    return sorted({str(r["peer_node_id"]) for r in rows})


def deadline(days: str, now: int) -> int | None:
    """``days`` from now in epoch ms (the CLI's ``--days``); ``None`` when empty.
    Raises ``ValueError`` for a number that is not one, or not above zero."""
    if not days.strip():
        return None
    value = float(days)
    if not value > 0 or value > 36_500:
        raise ValueError(days)
    return int(now + value * DAY_MS)


def times(value: str) -> int | None:
    """A use count (``-1``: unlimited); ``None`` when empty; ``ValueError`` otherwise."""
    if not value.strip():
        return None
    number = int(value)
    if number < -1:
        raise ValueError(value)
    return number


#: How long the page waits for a partner's list of datasets before showing it as
#: unreachable (a partner that does not answer never hangs the page).
PARTNER_WAIT_S = 3.0


@dataclass(frozen=True)
class PartnerDatasets:
    partner: str
    datasets: list[dict[str, Any]]
    reachable: bool


async def _offered(ctx: NodeContext, peer: str) -> PartnerDatasets:
    """``peer``'s public datasets, as ``GET /admin/v1/partners/{peer}/datasets`` fetches
    them (``dataset/pub/list``: metadata only)."""
    try:
        address = await asyncio.to_thread(ctx.approvals.address_of, peer)
        data = await asyncio.wait_for(
            ctx.peers.call(
                "GET",
                address,
                paths.DATASET_PUB_LIST,
                target_node_id=peer,
                params={"page_size": "-1"},
            ),
            PARTNER_WAIT_S,
        )
    except (IsthmusError, TimeoutError):
        return PartnerDatasets(peer, [], reachable=False)
    records = (data or {}).get("records", []) if isinstance(data, dict) else []
    return PartnerDatasets(peer, [r for r in records if isinstance(r, dict)], reachable=True)


async def partners_datasets(ctx: NodeContext, peers: list[str]) -> list[PartnerDatasets]:
    """Every partner's public datasets, asked of all partners at once."""
    return list(await asyncio.gather(*(_offered(ctx, p) for p in peers)))
