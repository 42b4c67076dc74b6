"""The east-west hop: the forwarder that carries the out queue to partner nodes.

Guarantees (with the queue engine's):

* a message leaves the out queue only once the partner said it is stored there (its
  ``Outbound`` names how many frames it accepted; a message is acknowledged only when all
  its frames were) or the partner released its session (the message can never land);
* per (session, partner) stream, messages go in push order: a batch stops at the first
  refused message, and nothing of that stream is sent again before ``retry_s``;
* up to ``max_rounds`` batches to a partner are on the way at once (an Isthmus partner;
  another platform gets one message at a time). A batch sent while earlier ones are in
  flight names, per stream, the highest sequence number among them (``META_AFTER``): the
  partner stores it only after those, so overtaking on the way changes nothing. A stream
  whose earlier batch failed sends nothing more until the batches in flight settled;
* a round that failed tells the queues (``not_delivered``), so a stored-once push in it
  is written here at once instead of after its wait;
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
import logging
from collections.abc import Callable
from typing import NamedTuple, Protocol

from isthmus.peer.client import PeerClient
from isthmus.store import Store
from isthmus.store.transport import OutMessage
from isthmus.transport import trace
from isthmus.transport.codec import (
    FOREIGN_OK,
    META_ACCEPTED,
    META_SEQ,
    STREAM_VERSION,
    Piece,
    decode,
    foreign_reply_code,
    framed,
    inbound_pieces,
)
from isthmus.transport.queues import QueueEngine
from isthmus.wire import paths, ptp
from isthmus.wire.errors import PeerError, TransportRefused
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
    whether it runs ``native_system`` (numbered batches) or another platform (invoke)."""

    def resolve(peer_node_id: str) -> Route:
        with store.session() as s:
            contract = store.contracts.active_for_peer(s, peer_node_id)
        if contract is None or contract.status != ContractStatus.APPROVED:
            raise TransportRefused(
                PtpCode.NOT_FOUND, f"no approved contract with node {peer_node_id}"
            )
        return Route(contract.peer_address, native=contract.peer_system == native_system)

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
        max_rounds: int = 2,
        min_extra_round_bytes: int = 256 * 1024,
    ) -> None:
        self._queues = queues
        self.meter = meter
        self.peers = peers
        self.resolve = resolve
        self.east_west_max_bytes = east_west_max_bytes
        self.batch_max_bytes = batch_max_bytes
        self.idle_poll_s = idle_poll_s
        self.retry_s = retry_s
        #: Rounds in flight to one partner at most (``run``; ``forward_once``: one).
        self.max_rounds = max(1, max_rounds)
        #: A round starts beside others in flight only when it carries this much: each
        #: round costs a signed request, which small messages would pay per message.
        self.min_extra_round_bytes = min_extra_round_bytes
        #: The rounds in flight (task -> partner) and the messages they carry, by id.
        self._rounds: dict[asyncio.Task[bool], str] = {}
        self._sending: dict[int, OutMessage] = {}
        #: Payload bytes in flight per partner (read per push, so never summed there).
        self._sending_bytes: dict[str, int] = {}

    async def run(self) -> None:
        """Deliver the out queue forever, up to ``max_rounds`` rounds in flight per
        partner; what fails is retried after ``retry_s``."""
        backoff: Backoff = {}
        while True:
            started = False
            try:
                started = await self._start_rounds(backoff)
            except Exception:  # a bug must not end the loop; logged, the round is retried
                log.exception("transport forwarding round failed")
            if not started:
                self._queues.outgoing.clear()
                wake = asyncio.ensure_future(self._queues.outgoing.wait())
                await asyncio.wait(
                    {wake, *self._rounds},
                    timeout=self.idle_poll_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                wake.cancel()

    async def _start_rounds(self, backoff: Backoff) -> bool:
        """Start a round to every partner with messages not yet in flight and room for
        one more round; True if any started.

        A round may start while earlier ones to the same partner are in flight: each
        stream's first frame in it names the highest sequence number of that stream
        still in flight (``META_AFTER``), and the partner stores nothing of the stream
        before it holds that one (it waits a bounded time, else refuses the round and it
        is resent). A stream whose first unsent message is older than one in flight (an
        earlier round failed) waits until the rounds in flight are settled."""
        await self._queues.start()
        loop = asyncio.get_running_loop()
        started = False
        busy: dict[str, int] = {}  # partner -> rounds in flight
        for peer in self._rounds.values():
            busy[peer] = busy.get(peer, 0) + 1
        skip = self._skip(busy, self._sending_bytes)
        for peer, messages in self._queues.outgoing_by_peer(skip=skip).items():
            rounds = busy.get(peer, 0)
            if rounds >= self.max_rounds:
                continue
            now = loop.time()
            try:
                route = self.resolve(peer)
            except TransportRefused as exc:
                log.warning("transport to %s failed, will retry: %s", peer, exc)
                backoff[peer, None] = now + self.retry_s
                continue
            if rounds and not route.native:
                continue  # another platform: one message at a time, in order
            top = self._in_flight_top(peer)
            free = self._unblocked(messages, top)
            batch = self._batch(peer, free, backoff, now)
            if not batch or (rounds and sum(m.size for m in batch) < self.min_extra_round_bytes):
                continue
            after = {m.session_id: top[m.session_id] for m in batch if m.session_id in top}
            for message in batch:
                self._sending[message.id] = message
            self._sending_bytes[peer] = self._sending_bytes.get(peer, 0) + sum(
                m.size for m in batch
            )
            task = asyncio.create_task(self._round(peer, messages, batch, backoff, after))
            self._rounds[task] = peer
            started = True
        return started

    async def _round(
        self,
        peer: str,
        messages: list[OutMessage],
        batch: list[OutMessage],
        backoff: Backoff,
        after: dict[str, int],
    ) -> bool:
        try:
            return await self._forward_to(peer, messages, backoff, batch=batch, after=after)
        except Exception:  # a bug must not end the loop; logged, the round is retried
            log.exception("transport forwarding round to %s failed", peer)
            return False
        finally:
            for message in batch:
                self._sending.pop(message.id, None)
            self._sending_bytes[peer] -= sum(m.size for m in batch)
            self._rounds.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._queues.outgoing.set()  # look again: room for a round, maybe a resend

    def _skip(self, busy: dict[str, int], sending: dict[str, int]) -> set[str]:
        """Partners no round can start to now (rounds full, or too little waiting beside
        the rounds in flight), known without listing their queues: a push wakes this
        loop, and a scan of a long queue per push would cost more than the push."""
        return {
            peer
            for peer, rounds in busy.items()
            if rounds >= self.max_rounds
            or self._queues.outgoing_bytes(peer) - sending.get(peer, 0) < self.min_extra_round_bytes
        }

    def _in_flight_top(self, peer: str) -> dict[str, int]:
        """Per session, the highest sequence number in flight to ``peer``."""
        top: dict[str, int] = {}
        for message in self._sending.values():
            if message.peer_node_id == peer and message.seq > top.get(message.session_id, 0):
                top[message.session_id] = message.seq
        return top

    def _unblocked(self, messages: list[OutMessage], top: dict[str, int]) -> list[OutMessage]:
        """The messages not in flight whose stream may go on: a stream whose first such
        message is older than one in flight waits (nothing may overtake a resend)."""
        blocked: set[str] = set()
        seen: set[str] = set()
        free: list[OutMessage] = []
        for message in messages:
            if message.id in self._sending:
                continue
            session = message.session_id
            if session not in seen:
                seen.add(session)
                if message.seq < top.get(session, 0):
                    blocked.add(session)
            if session not in blocked:
                free.append(message)
        return free

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

    async def _forward_to(
        self,
        peer: str,
        messages: list[OutMessage],
        backoff: Backoff,
        *,
        batch: list[OutMessage] | None = None,
        after: dict[str, int] | None = None,
    ) -> bool:
        now = asyncio.get_running_loop().time()
        if batch is None:
            batch = self._batch(peer, messages, backoff, now)
        if not batch:
            return False
        try:
            route = self.resolve(peer)
            if not route.native:
                return await self._invoke_each(route.address, peer, batch, backoff, now)
            started = trace.now()
            waits = [trace.TRACE.waited("out", m.id) or 0.0 for m in batch] if trace.TRACE else []
            payloads = await self._queues.payloads(batch)
            frames, owners = self._frames(batch, payloads, after or {})
            outbound = await self._post(route.address, peer, frames)
            if trace.TRACE is not None:
                trace.TRACE.event(
                    "forward",
                    start=round(started, 6),
                    n=len(batch),
                    size=sum(m.size for m in batch),
                    rtt=round(trace.now() - started, 6),
                    outbox_wait_max=max(waits),
                    outbox_wait_sum=round(sum(waits), 6),
                )
        except (PeerError, TransportRefused) as exc:
            log.warning("transport to %s failed, will retry: %s", peer, exc)
            backoff[peer, None] = now + self.retry_s
            self._queues.not_delivered(batch)
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
        self._queues.not_delivered(batch[len(stored) :])
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
        self._queues.not_delivered(batch[len(sent) :])
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
        self, batch: list[OutMessage], payloads: list[bytes], after: dict[str, int] | None = None
    ) -> tuple[list[list[Piece]], list[int]]:
        """The batch's frames (as pieces, the payloads not copied), and for each frame
        the index of its message; the first
        frame of each session in ``after`` names the sequence number the partner must
        hold before it (``META_AFTER``)."""
        frames: list[list[Piece]] = []
        owners: list[int] = []
        limit = self.east_west_max_bytes
        gates = dict(after or {})
        for position, (message, payload) in enumerate(zip(batch, payloads, strict=True)):
            gate = gates.pop(message.session_id, None)
            if len(payload) <= limit:
                frames.append(inbound_pieces(message, payload, None, after=gate))
                owners.append(position)
                continue
            count = -(-len(payload) // limit)
            view = memoryview(payload)
            for i in range(count):
                piece = view[i * limit : (i + 1) * limit]
                frames.append(inbound_pieces(message, piece, (i, count), after=gate))
                gate = None
                owners.append(position)
        return frames, owners

    async def _post(self, address: str, peer: str, frames: list[list[Piece]]) -> ptp_pb2.Outbound:
        """One signed east-west call; the partner's ``Outbound`` says what it stored."""
        reply = await self.peers.call_bytes(
            "POST",
            address,
            paths.CHAN_TRANSPORT,
            target_node_id=peer,
            body=framed(frames),
            extra_headers={ptp.VERSION: STREAM_VERSION},
        )
        return decode(ptp_pb2.Outbound, reply, f"{peer} answered no Outbound")
