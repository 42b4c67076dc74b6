"""What the Transport page shows, read from the same calls as the admin API's transport
reads (``GET /admin/v1/transport/sessions`` and ``…/transport/traffic``).

The sessions come from ``TransportService.sessions`` (never a session's token or its
digest), the queue depths from ``TransportService.depths`` and the bytes per partner
from the node's metrics counters. The per-partner table lists every partner with a
contract, so a partner that sent nothing reads 0 rather than being missing; partners
that only appear in the counters (a contract since removed) are kept too.
"""

from __future__ import annotations

from dataclasses import dataclass

from isthmus.node.context import NodeContext
from isthmus.transport.service import QueueDepths, SessionView


@dataclass(frozen=True)
class PartnerTraffic:
    partner: str
    sent_bytes: int
    received_bytes: int


@dataclass(frozen=True)
class TransportView:
    sessions: list[SessionView]
    depths: QueueDepths
    partners: list[PartnerTraffic]


def partners_traffic(counted: dict[str, dict[str, int]], known: list[str]) -> list[PartnerTraffic]:
    """Every partner in ``known`` or ``counted``, sorted, with its byte counts (0 when
    none were counted)."""
    names = sorted(set(known) | set(counted))
    return [
        PartnerTraffic(
            partner=name,
            sent_bytes=counted.get(name, {}).get("sent_bytes", 0),
            received_bytes=counted.get(name, {}).get("received_bytes", 0),
        )
        for name in names
    ]


async def transport_view(ctx: NodeContext, known_partners: list[str]) -> TransportView:
    """The sessions, the depths and the traffic now (call on the event loop: the
    transport's counts change there)."""
    sessions = await ctx.transport.sessions()
    return TransportView(
        sessions=sessions,
        depths=ctx.transport.depths(),
        partners=partners_traffic(ctx.metrics.traffic(), known_partners),
    )
