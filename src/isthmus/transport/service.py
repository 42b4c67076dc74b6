"""Transport behaviour: accept, forward, receive, deliver.

Guarantees (tested with real processes and SIGKILL):

* a push answered OK is in the store; it reaches the partner node even if either node
  dies and restarts meanwhile;
* per (session, partner) stream, messages reach the partner in push order, each stored
  there exactly once (resends hit the unique sequence index);
* a pop takes a message out in the same transaction that returns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from isthmus.peer.client import PeerClient
from isthmus.store.transport import OutMessage, TransportStore
from isthmus.wire import ptp
from isthmus.wire.errors import PeerError, TransportRefused
from isthmus.wire.framing import frame
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.ptp import PtpCode

log = logging.getLogger(__name__)

TRANSPORT_PATH = "/v1/interconn/chan/transport"
INVOKE_PATH = "/v1/interconn/chan/invoke"
#: ``x-ptp-version`` of Isthmus's HTTP mapping of the ``transport`` stream.
STREAM_VERSION = "isthmus-stream-1"
#: Isthmus extensions carried in ``Inbound.metadata`` of the east-west stream.
META_SEQ = "x-ptp-seq"
META_FRAGMENT = "x-ptp-fragment"

QueueKey = tuple[str, str, str]  # session, partner node, topic


@dataclass(frozen=True)
class IncomingMessage:
    session_id: str
    topic: str
    seq: int
    payload: bytes
    fragment: tuple[int, int] | None = None  # (index, count)


def to_inbound(message: OutMessage, payload: bytes, fragment: tuple[int, int] | None) -> bytes:
    metadata = {
        ptp.SESSION_ID: message.session_id,
        ptp.TOPIC: message.topic,
        META_SEQ: str(message.seq),
    }
    if fragment is not None:
        metadata[META_FRAGMENT] = f"{fragment[0]}/{fragment[1]}"
    return bytes(ptp_pb2.Inbound(metadata=metadata, payload=payload).SerializeToString())


def from_inbound(data: bytes) -> IncomingMessage:
    """Decode one frame of the east-west stream; TransportRefused(BAD_REQUEST) if unusable."""
    inbound = ptp_pb2.Inbound()
    try:
        inbound.ParseFromString(data)
        meta = dict(inbound.metadata)
        fragment = None
        if META_FRAGMENT in meta:
            index, count = (int(v) for v in meta[META_FRAGMENT].split("/", 1))
            fragment = (index, count)
        return IncomingMessage(
            meta[ptp.SESSION_ID],
            meta.get(ptp.TOPIC, ""),
            int(meta[META_SEQ]),
            inbound.payload,
            fragment,
        )
    except (KeyError, ValueError) as exc:
        raise TransportRefused(PtpCode.BAD_REQUEST, f"unusable east-west frame: {exc}") from exc
    except Exception as exc:  # protobuf's DecodeError
        raise TransportRefused(PtpCode.CODEC_ERROR, "east-west frame is not an Inbound") from exc


class TransportService:
    def __init__(
        self,
        queues: TransportStore,
        peers: PeerClient,
        resolve: Callable[[str], str],
        *,
        east_west_max_bytes: int = 4 * 1024 * 1024,
        batch_max_bytes: int = 8 * 1024 * 1024,
        idle_poll_s: float = 0.5,
    ) -> None:
        self.queues = queues
        self.peers = peers
        self.resolve = resolve
        self.east_west_max_bytes = east_west_max_bytes
        self.batch_max_bytes = batch_max_bytes
        self.idle_poll_s = idle_poll_s
        self._arrivals: dict[QueueKey, asyncio.Event] = {}
        self._outgoing = asyncio.Event()

    # --- south-north ----------------------------------------------------------------

    async def push(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, payload: bytes
    ) -> None:
        await run_in_threadpool(
            self.queues.push_out, session_id, token, peer_node_id, topic, payload
        )
        self._outgoing.set()

    async def pop(
        self,
        session_id: str,
        token: str | None,
        peer_node_id: str,
        topic: str,
        timeout_s: float,
        *,
        remove: bool = True,
    ) -> bytes | None:
        """The next message of the queue, waiting up to ``timeout_s`` for one."""
        key = (session_id, peer_node_id, topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        while True:
            # Take the event *before* looking, so an arrival in between still wakes us.
            arrived = self._arrivals.setdefault(key, asyncio.Event())
            payload = await run_in_threadpool(
                self.queues.take_in, session_id, token, peer_node_id, topic, remove=remove
            )
            remaining = deadline - loop.time()
            if payload is not None or remaining <= 0:
                return payload
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), remaining)

    async def release(self, session_id: str, token: str | None, topic: str | None) -> int:
        dropped = await run_in_threadpool(self.queues.release, session_id, token, topic)
        for key in [k for k in self._arrivals if k[0] == session_id]:
            self._arrivals.pop(key).set()  # waiting pops look again and see the release
        return dropped

    # --- east-west, receiving -------------------------------------------------------

    async def receive(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> int:
        """Store a partner's batch in order; returns how many were new."""

        def _store() -> list[QueueKey]:
            if all(m.fragment is None for m in messages):  # the common case: one transaction
                whole = [(m.session_id, m.topic, m.seq, m.payload) for m in messages]
                return [
                    (session, source_node_id, topic)
                    for session, topic in self.queues.store_many(source_node_id, whole)
                ]
            ready: list[QueueKey] = []  # fragments present: one by one, in order
            for m in messages:
                if m.fragment is None:
                    stored = self.queues.store_in(
                        m.session_id, source_node_id, m.topic, m.seq, m.payload
                    )
                else:
                    stored = self.queues.store_fragment(
                        m.session_id, source_node_id, m.topic, m.seq, *m.fragment, m.payload
                    )
                if stored:
                    ready.append((m.session_id, source_node_id, m.topic))
            return ready

        ready = await run_in_threadpool(_store)
        for key in set(ready):
            event = self._arrivals.pop(key, None)
            if event is not None:
                event.set()
        return len(ready)

    # --- east-west, sending ---------------------------------------------------------

    async def run_forwarder(self) -> None:
        """Deliver the out queue forever; partners that fail are retried with backoff."""
        backoff: dict[str, float] = {}
        while True:
            sent_any = False
            try:
                sent_any = await self.forward_once(backoff)
            except Exception:
                log.exception("transport forwarding round failed")
            if not sent_any:
                self._outgoing.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outgoing.wait(), self.idle_poll_s)

    async def forward_once(self, backoff: dict[str, float] | None = None) -> bool:
        """One pass over the out queue; True if anything was delivered."""
        backoff = {} if backoff is None else backoff
        pending = await run_in_threadpool(self.queues.pending_out)
        loop = asyncio.get_running_loop()
        by_peer: dict[str, list[OutMessage]] = {}
        for message in pending:
            by_peer.setdefault(message.peer_node_id, []).append(message)
        delivered = False
        for peer, messages in by_peer.items():
            if backoff.get(peer, 0.0) > loop.time():
                continue
            try:
                done = await self._send_in_order(peer, messages)
            except (PeerError, TransportRefused) as exc:
                log.warning("transport to %s failed, will retry: %s", peer, exc)
                backoff[peer] = loop.time() + 1.0
                continue
            backoff.pop(peer, None)
            if done:
                await run_in_threadpool(self.queues.ack_out, done)
                delivered = True
        return delivered

    async def _send_in_order(self, peer: str, messages: list[OutMessage]) -> list[OutMessage]:
        """Send batches in sequence order; stop at the first failure so a later message
        can never overtake an earlier one. Returns the messages the partner stored."""
        address = self.resolve(peer)
        done: list[OutMessage] = []
        batch: list[bytes] = []
        batch_messages: list[OutMessage] = []
        size = 0
        for message in messages:
            for frame_bytes in self._frames(message):
                if batch and size + len(frame_bytes) > self.batch_max_bytes:
                    await self._post(address, peer, batch)
                    done.extend(batch_messages)
                    batch, size, batch_messages = [], 0, []
                batch.append(frame_bytes)
                size += len(frame_bytes)
            batch_messages.append(message)
        if batch:
            await self._post(address, peer, batch)
            done.extend(batch_messages)
        return done

    def _frames(self, message: OutMessage) -> list[bytes]:
        payload = message.payload
        limit = self.east_west_max_bytes
        if len(payload) <= limit:
            return [to_inbound(message, payload, None)]
        count = -(-len(payload) // limit)
        return [
            to_inbound(message, payload[i * limit : (i + 1) * limit], (i, count))
            for i in range(count)
        ]

    async def _post(self, address: str, peer: str, frames: list[bytes]) -> None:
        """One signed east-west call; returns only when the partner stored every frame."""
        reply = await self.peers.call_bytes(
            "POST",
            address,
            TRANSPORT_PATH,
            target_node_id=peer,
            body=frame(frames),
            extra_headers={ptp.VERSION: STREAM_VERSION},
        )
        outbound = ptp_pb2.Outbound()
        try:
            outbound.ParseFromString(reply)
        except Exception as exc:  # protobuf's DecodeError
            raise TransportRefused(PtpCode.CODEC_ERROR, f"{peer} answered no Outbound") from exc
        if outbound.code != PtpCode.OK:
            raise TransportRefused(
                PtpCode.parse(outbound.code),
                f"{peer} refused the batch: {outbound.code} {outbound.message}",
            )
