"""The transport plane's HTTP routes on the node's two API listeners.

East-west (``east_west``, signed, approved contract): ``chan/transport``, the
Isthmus-to-Isthmus stream of length-delimited ``Inbound`` frames, and ``chan/invoke``,
one message from any platform (pass-through or wrapped). Both answer an ``Outbound``
protobuf whose code says what was stored; nothing refused is stored.

North-south (``north_south``, admin token): open and release a job's transport
session (the scheduler does this; so may an operator); list the sessions with what each
holds pending, and read the queue depths and the bytes in and out per partner (every
role reads them: counts and ids, no payload and no session token).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from isthmus.node.api.deps import ApprovedPeer, Ctx, authorised
from isthmus.node.http import BoundedJsonRoute
from isthmus.transport.codec import META_ACCEPTED, decode, from_inbound, invoked_message, is_wrapped
from isthmus.wire import paths, ptp
from isthmus.wire.envelope import ok
from isthmus.wire.errors import TransportRefused
from isthmus.wire.framing import unframe
from isthmus.wire.ids import Identifier, check_id
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

east_west = APIRouter(route_class=BoundedJsonRoute)
north_south = APIRouter(dependencies=[Depends(authorised)], route_class=BoundedJsonRoute)


def _outbound(code: str, message: str, metadata: dict[str, str] | None = None) -> Response:
    body = ptp_pb2.Outbound(code=code, message=message, metadata=metadata or {})
    return Response(body.SerializeToString(), media_type="application/x-protobuf")


@east_west.post(paths.CHAN_TRANSPORT, response_class=Response)
async def chan_transport(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Response:
    """Isthmus-to-Isthmus stream: length-delimited ``Inbound`` frames, stored in order."""
    try:
        frames = unframe(
            await request.body(), max_message_bytes=ctx.config.interconn.max_body_bytes
        )
        messages = [from_inbound(f) for f in frames]
        result = await ctx.transport.receive(caller.node_id, messages)
    except ValueError as exc:
        return _outbound(PtpCode.CODEC_ERROR, f"bad framing: {exc}")
    except TransportRefused as exc:
        return _outbound(exc.ptp_code, exc.message)
    counts = {
        "stored": str(result.stored),
        "received": str(len(messages)),
        META_ACCEPTED: str(result.accepted),
    }
    if result.refusal is not None:
        # Everything before the refused frame is stored; the sender resends the rest.
        counts[ptp.SESSION_ID] = result.refused_session or ""
        return _outbound(result.refusal.ptp_code, result.refusal.message, counts)
    return _outbound(PtpCode.OK, "", counts)


@east_west.post(paths.CHAN_INVOKE, response_class=Response)
async def chan_invoke(request: Request, ctx: Ctx, caller: ApprovedPeer) -> Response:
    """One message. Pass-through (``x-ptp-version: 1``): the body is the payload,
    routing in the x-ptp headers. Wrapped (Mesh, v1.1): the body is an ``Inbound``
    whose payload is the container's ``PushInbound``."""
    headers = dict(request.headers)
    body = await request.body()
    try:
        if is_wrapped(headers):
            inbound = decode(ptp_pb2.Inbound, body, "wrapped body is not an Inbound")
            message = invoked_message(headers, inbound.payload, dict(inbound.metadata))
        else:
            message = invoked_message(headers, body)
        stored = await ctx.transport.receive_all(caller.node_id, [message])
    except TransportRefused as exc:
        return _outbound(exc.ptp_code, exc.message)
    return _outbound(PtpCode.OK, "", {"stored": str(stored)})


class SessionRequest(BaseModel):
    session_id: Identifier
    token: str = Field(min_length=1, max_length=256)
    #: The partners whose messages the session accepts and to which its components may
    #: push; none named: no partner at all (east-west is refused both ways).
    parties: list[Identifier] = Field(default_factory=list, max_length=64)


@north_south.post(paths.ADMIN_TRANSPORT_SESSIONS)
async def open_session(body: SessionRequest, ctx: Ctx) -> dict[str, Any]:
    """Open a transport session for a job (the scheduler does this; so may an operator)."""
    created = await ctx.transport.open_session(body.session_id, body.token, frozenset(body.parties))
    return ok(
        {
            "session_id": body.session_id,
            "created": created,
            "transport": ctx.config.transport_address,
        }
    )


@north_south.post(paths.ADMIN_TRANSPORT_SESSION_RELEASE)
async def release_session(session_id: str, ctx: Ctx) -> dict[str, Any]:
    check_id(session_id, "session_id")
    dropped = await ctx.transport.release(session_id, None, None)
    return ok({"session_id": session_id, "dropped": dropped})


@north_south.get(paths.ADMIN_TRANSPORT_SESSIONS)
async def list_sessions(ctx: Ctx, limit: int = Query(default=200, ge=1, le=1000)) -> dict[str, Any]:
    """The sessions, open first, most recently active first, each with its pending
    messages and bytes both ways."""
    views = await ctx.transport.sessions(limit=limit)
    return ok([dataclasses.asdict(v) for v in views])


@north_south.get(paths.ADMIN_TRANSPORT_TRAFFIC)
async def traffic(ctx: Ctx) -> dict[str, Any]:
    """The queue depths now (``/metrics``' gauges) and the payload bytes each partner
    confirmed or sent us since this node started (its counters)."""
    depths = ctx.transport.depths()
    partners = ctx.metrics.traffic()
    return ok(
        {
            "depths": dataclasses.asdict(depths),
            "partners": [{"partner": p, **counts} for p, counts in partners.items()],
        }
    )
