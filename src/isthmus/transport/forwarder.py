"""The east-west hop: the forwarder that carries the out queue to partner nodes.

Guarantees (with the queue engine's):

* a message leaves the out queue only once the partner said it is stored there (its
  ``Outbound`` names how many frames it accepted; a message is acknowledged only when all
  its frames were) or the partner released its session (the message can never land);
* per (session, partner) stream, messages go in push order: a batch stops at the first
  refused message, and nothing of that stream is sent again before ``retry_s``;
* one session a partner refuses (not opened there yet, full) does not hold up the other
  sessions to that partner; an unreachable partner is retried after ``retry_s``;
* a partner is reached only at the address of its APPROVED contract (``partner_address``).

What reached each partner is counted through a ``TrafficMeter`` the node hands in (the
transport may not import the node's metrics): the payload bytes of the messages a
partner confirmed it stored, once each confirmation.

Isthmus partners take numbered batches of ``Inbound`` frames on ``chan/transport``
(payloads above ``east_west_max_bytes`` split in fragments); any other platform gets one
signed pass-through ``invoke`` per message, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import NamedTuple, Protocol

from isthmus.peer.client import PeerClient
from isthmus.store import Store
from isthmus.store.transport import OutMessage
from isthmus.transport.codec import (
    FOREIGN_OK,
    META_ACCEPTED,
    META_SEQ,
    STREAM_VERSION,
    decode,
    foreign_reply_code,
    to_inbound,
)
from isthmus.transport.queues import QueueEngine
from isthmus.wire import paths, ptp
from isthmus.wire.errors import PeerError, TransportRefused
from isthmus.wire.framing import frame
from isthmus.wire.node import ContractStatus
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

log = logging.getLogger(__name__)
#: ``x-ptp-tech-provider-code`` on the invokes we send (digest §4.1: the vendor's code).
TECH_PROVIDER = "isthmus"

#: (partner, None) or (partner, session) -> the loop time before which it is not tried.
Backoff = dict[tuple[str, str | None], float]


class TrafficMeter(Protocol):
    """Counts east-west transport bytes per partner (the node's metrics)."""

    def sent_to(self, partner: str, size: int) -> None: ...

    def received_from(self, partner: str, size: int) -> None: ...


class Route(NamedTuple):
    """Where a partner's messages go, and how: ``native`` partners (Isthmus nodes) take
    numbered batches on the transport stream; any other platform gets one pass-through
    ``invoke`` per message, in order."""

    address: str
    native: bool


def partner_address(store: Store, native_system: str) -> Callable[[str], Route]:
    """Where to deliver a partner's messages: the address of its APPROVED contract, and
    whether it runs ``native_system`` (numbered batches) or another platform (invoke).

    The forwarder asks before every round, so routes are cached, under the contracts'
    ``version`` taken before the read (``ContractRepository``): any committed contract
    change drops them all, so a revoked or re-addressed contract is never used after its
    change committed. Refusals are not cached."""
    routes: dict[str, Route] = {}
    cached_version = -1

    def resolve(peer_node_id: str) -> Route:
        nonlocal cached_version
        version = store.contracts.version
        if version != cached_version:
            routes.clear()
            cached_version = version
        route = routes.get(peer_node_id)
        if route is not None:
            return route
        with store.session() as s:
            contract = store.contracts.active_for_peer(s, peer_node_id)
        if contract is None or contract.status != ContractStatus.APPROVED:
            raise TransportRefused(
                PtpCode.NOT_FOUND, f"no approved contract with node {peer_node_id}"
            )
        route = Route(contract.peer_address, native=contract.peer_system == native_system)
        routes[peer_node_id] = route
        return route

    return resolve


class Forwarder:
    """Delivers the engine's out queue to partners, for ever (``run``)."""

    def __init__(
        self,
        queues: QueueEngine,
        peers: PeerClient,
        resolve: Callable[[str], Route],
        *,
        east_west_max_bytes: int = 4 * 1024 * 1024,
        batch_max_bytes: int = 8 * 1024 * 1024,
        idle_poll_s: float = 0.5,
        retry_s: float = 1.0,
        meter: TrafficMeter | None = None,
    ) -> None:
        self._queues = queues
        self.meter = meter
        self.peers = peers
        self.resolve = resolve
        self.east_west_max_bytes = east_west_max_bytes
        self.batch_max_bytes = batch_max_bytes
        self.idle_poll_s = idle_poll_s
        self.retry_s = retry_s

    async def run(self) -> None:
        """Deliver the out queue forever; what fails is retried after ``retry_s``."""
        backoff: Backoff = {}
        while True:
            sent_any = False
            try:
                sent_any = await self.forward_once(backoff)
            except Exception:  # a bug must not end the loop; logged, the round is retried
                log.exception("transport forwarding round failed")
            if not sent_any:
                self._queues.outgoing.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queues.outgoing.wait(), self.idle_poll_s)

    async def forward_once(self, backoff: Backoff | None = None) -> bool:
        """One batch to every partner with messages waiting; True if any progress.

        ``backoff`` maps (partner, None) or (partner, session) to the loop time before
        which it is not tried again: one session the partner refuses (not opened there
        yet, full) does not hold up the other sessions to that partner."""
        await self._queues.start()
        backoff = {} if backoff is None else backoff
        rounds = [
            self._forward_to(peer, messages, backoff)
            for peer, messages in self._queues.outgoing_by_peer().items()
        ]
        return any(await asyncio.gather(*rounds))

    def _batch(
        self, peer: str, messages: list[OutMessage], backoff: Backoff, now: float
    ) -> list[OutMessage]:
        """The next batch for ``peer``: its messages not backed off, in order, up to
        ``batch_max_bytes`` (at least one)."""
        if backoff.get((peer, None), 0.0) > now:
            return []
        batch: list[OutMessage] = []
        size = 0
        for message in messages:
            if backoff.get((peer, message.session_id), 0.0) > now:
                continue
            if batch and size + message.size > self.batch_max_bytes:
                break
            batch.append(message)
            size += message.size
        return batch

    async def _forward_to(self, peer: str, messages: list[OutMessage], backoff: Backoff) -> bool:
        now = asyncio.get_running_loop().time()
        batch = self._batch(peer, messages, backoff, now)
        if not batch:
            return False
        try:
            route = self.resolve(peer)
            if not route.native:
                return await self._invoke_each(route.address, peer, batch, backoff, now)
            frames, owners = self._frames(batch, await self._queues.payloads(batch))
            outbound = await self._post(route.address, peer, frames)
        except (PeerError, TransportRefused) as exc:
            log.warning("transport to %s failed, will retry: %s", peer, exc)
            backoff[peer, None] = now + self.retry_s
            return False
        if outbound.code == PtpCode.OK:
            self._delivered(peer, batch)
            return True
        return self._refused(peer, messages, batch, owners, outbound, backoff, now)

    def _refused(
        self,
        peer: str,
        messages: list[OutMessage],
        batch: list[OutMessage],
        owners: list[int],
        outbound: ptp_pb2.Outbound,
        backoff: Backoff,
        now: float,
    ) -> bool:
        """A partner stored part of a batch: acknowledge what it stored, then back off
        the refused session (or the partner), or drop a released session's messages."""
        meta = dict(outbound.metadata)
        try:
            accepted_frames = int(meta.get(META_ACCEPTED, "0"))
        except ValueError:
            accepted_frames = 0
        stored = self._fully_sent(batch, owners, accepted_frames)
        self._delivered(peer, stored)
        session = meta.get(ptp.SESSION_ID)
        code = PtpCode.parse(outbound.code)
        if session is None:
            log.warning("%s refused a batch: %s %s", peer, outbound.code, outbound.message)
            backoff[peer, None] = now + self.retry_s
        elif code == PtpCode.SESSION_RELEASED:
            doomed = [m for m in messages if m.session_id == session]
            log.warning(
                "%s released session %s: %d undeliverable message(s) dropped",
                peer,
                session,
                len(doomed),
            )
            self._queues.acknowledge(doomed)
        else:
            log.info("%s refused session %s for now: %s", peer, session, outbound.message)
            backoff[peer, session] = now + self.retry_s
        return bool(stored) or code == PtpCode.SESSION_RELEASED

    async def _invoke_each(
        self, address: str, peer: str, batch: list[OutMessage], backoff: Backoff, now: float
    ) -> bool:
        """Another platform's node: one signed pass-through ``invoke`` per message, in
        order, stopping at the first refusal (so nothing overtakes it). Such a partner
        does not filter resends: a message whose reply was lost is delivered again."""
        sent: list[OutMessage] = []
        try:
            for message, payload in zip(batch, await self._queues.payloads(batch), strict=True):
                code, text = foreign_reply_code(await self._invoke(address, peer, message, payload))
                if code not in FOREIGN_OK:
                    log.info(
                        "%s refused session %s for now: %s %s", peer, message.session_id, code, text
                    )
                    backoff[peer, message.session_id] = now + self.retry_s
                    break
                sent.append(message)
        except (PeerError, TransportRefused) as exc:
            log.warning("transport to %s failed, will retry: %s", peer, exc)
            backoff[peer, None] = now + self.retry_s
        self._delivered(peer, sent)
        return bool(sent)

    def _delivered(self, peer: str, messages: list[OutMessage]) -> None:
        """``peer`` stored ``messages``: counted, then forgotten here."""
        if self.meter is not None and messages:
            self.meter.sent_to(peer, sum(m.size for m in messages))
        self._queues.acknowledge(messages)

    async def _invoke(self, address: str, peer: str, message: OutMessage, payload: bytes) -> bytes:
        """One signed pass-through ``invoke``; the partner's raw reply. Every header the
        digest's §4.1 table requires east-west is sent in the spec's spelling (Kuscia
        keys its queues by ``x-ptp-source-node-id``)."""
        return await self.peers.call_bytes(
            "POST",
            address,
            paths.CHAN_INVOKE,
            target_node_id=peer,
            body=payload,
            extra_headers={
                ptp.VERSION: ptp.PASS_THROUGH_VERSION,
                ptp.SESSION_ID: message.session_id,
                ptp.TOPIC: message.topic,
                ptp.URI: paths.CHAN_PUSH,
                ptp.SOURCE_NODE_ID: self.peers.identity.node_id,
                ptp.TARGET_NODE_ID: peer,
                ptp.TRACE_ID: f"{message.session_id}.{message.seq}",
                ptp.TECH_PROVIDER_CODE: TECH_PROVIDER,
                META_SEQ: str(message.seq),
            },
        )

    @staticmethod
    def _fully_sent(batch: list[OutMessage], owners: list[int], accepted: int) -> list[OutMessage]:
        """The messages all of whose frames are among the first ``accepted``."""
        complete = len(batch) if accepted >= len(owners) else owners[accepted] if accepted else 0
        return batch[:complete]

    def _frames(
        self, batch: list[OutMessage], payloads: list[bytes]
    ) -> tuple[list[bytes], list[int]]:
        """The batch's frames, and for each frame the index of its message."""
        frames: list[bytes] = []
        owners: list[int] = []
        limit = self.east_west_max_bytes
        for position, (message, payload) in enumerate(zip(batch, payloads, strict=True)):
            if len(payload) <= limit:
                frames.append(to_inbound(message, payload, None))
                owners.append(position)
                continue
            count = -(-len(payload) // limit)
            for i in range(count):
                piece = payload[i * limit : (i + 1) * limit]
                frames.append(to_inbound(message, piece, (i, count)))
                owners.append(position)
        return frames, owners

    async def _post(self, address: str, peer: str, frames: list[bytes]) -> ptp_pb2.Outbound:
        """One signed east-west call; the partner's ``Outbound`` says what it stored."""
        reply = await self.peers.call_bytes(
            "POST",
            address,
            paths.CHAN_TRANSPORT,
            target_node_id=peer,
            body=frame(frames),
            extra_headers={ptp.VERSION: STREAM_VERSION},
        )
        return decode(ptp_pb2.Outbound, reply, f"{peer} answered no Outbound")
