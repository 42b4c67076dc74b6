"""The kit as the target NODE's east-west partner, for ``PsiTarget.link = "node"``.

The target's PSI party runs on its node and pushes through the node's own transport
(``system.transport``), with the kit's node id as the peer. The node forwards each
message east-west to the kit, at the address of their contract (the kit's listener),
as a signed pass-through ``invoke`` (digest §4.3); the kit hands its body, the party's
``PushRequest``, to its own party. The kit's messages go the other way as signed
pass-through ``invoke``s to the node, with the session, the topic
``<kit party>-<target party>`` and ``x-ptp-uri: /v1/interconn/chan/push``, so the node
queues them for its party's pops. The transport session must be open on the node (its
scheduler opens one per job; an operator may open one by hand).
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from isthmus.conformance.listener import KitListener, ListenerTimeout
from isthmus.conformance.psi.relay import PARTIES
from isthmus.link import LinkBackend
from isthmus.link.backends import OnPush
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.transport.codec import foreign_reply_code
from isthmus.wire import paths, ptp
from isthmus.wire.errors import LinkError, LinkTimeout, TransportRefused
from isthmus.wire.proto import link_pb2

RETRYABLE = frozenset({ptp.PtpCode.BUFFER_FULL, ptp.PtpCode.NOT_FOUND, ptp.PtpCode.TIMEOUT})


class EastWest:
    """What the kit needs to be the node's partner: its listener, its key, the node."""

    def __init__(
        self,
        *,
        listener: KitListener,
        identity: NodeIdentity,
        target_address: str,
        target_node_id: str,
    ) -> None:
        self.listener = listener
        self.identity = identity
        self.target_address = target_address.rstrip("/")
        self.target_node_id = target_node_id

    def backend(self, *, session: str, token: str, kit_rank: int) -> LinkBackend:
        return EastWestBackend(self, session=session, token=token, kit_rank=kit_rank)


class EastWestBackend(LinkBackend):
    def __init__(self, east_west: EastWest, *, session: str, token: str, kit_rank: int) -> None:
        self.ew = east_west
        self.session = session
        self.token = token
        self.topic = f"{PARTIES[kit_rank]}-{PARTIES[1 - kit_rank]}"
        self._http = httpx.AsyncClient(timeout=30)
        self._task: asyncio.Task[None] | None = None

    async def start(self, on_push: OnPush) -> None:
        ok = ptp.outbound(ptp.PtpCode.OK, "ok")
        self.ew.listener.answer(paths.CHAN_INVOKE, 200, ok, "application/x-protobuf")
        self._task = asyncio.create_task(self._receive(on_push))

    async def _receive(self, on_push: OnPush) -> None:
        while True:
            try:
                received = await self.ew.listener.expect(paths.CHAN_INVOKE, 3600)
            except ListenerTimeout:
                continue
            if ptp.read(received.headers, ptp.SESSION_ID) != self.session:
                continue  # another session's traffic: not this scenario's
            await on_push(link_pb2.PushRequest.FromString(received.body))

    async def send(self, dst: int, request: link_pb2.PushRequest, timeout_s: float) -> None:
        body = request.SerializeToString()
        ptp_headers = {
            "content-type": "application/x-protobuf",
            ptp.VERSION: ptp.PASS_THROUGH_VERSION,
            ptp.SESSION_ID: self.session,
            ptp.TOPIC: self.topic,
            ptp.URI: paths.CHAN_PUSH,
            ptp.TOKEN: self.token,
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            headers = sign_request(
                self.ew.identity,
                method="POST",
                path=paths.CHAN_INVOKE,
                query="",
                target_node_id=self.ew.target_node_id,
                body=body,
                ptp_headers=ptp_headers,
            )
            headers.update(ptp_headers)  # every x-ptp-* header is signed
            code: str
            message: str
            try:
                reply = await self._http.post(
                    f"{self.ew.target_address}{paths.CHAN_INVOKE}", content=body, headers=headers
                )
            except httpx.HTTPError as exc:
                code, message = ptp.PtpCode.NETWORK_UNREACHABLE, str(exc)
            else:
                if reply.headers.get("content-type", "").startswith("application/json"):
                    raise LinkError(  # an error envelope: refused before the transport
                        f"the node refused {request.key!r}: HTTP {reply.status_code} "
                        f"{reply.text[:300]}"
                    )
                try:
                    code, message = foreign_reply_code(reply.content)
                except TransportRefused as exc:
                    raise LinkError(f"the node answered {request.key!r} with {exc}") from exc
            if code == ptp.PtpCode.OK:
                return
            if code not in RETRYABLE and code != ptp.PtpCode.NETWORK_UNREACHABLE:
                raise LinkError(f"the node refused {request.key!r}: {code} {message}")
            if loop.time() > deadline:
                raise LinkTimeout(f"the node kept refusing {request.key!r}: {code} {message}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._http.aclose()
