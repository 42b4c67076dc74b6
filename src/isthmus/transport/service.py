"""Transport behaviour: accept, forward, receive, deliver.

Guarantees (tested with real processes and SIGKILL):

* a push answered OK is in the store; it reaches the partner node even if either node
  dies and restarts meanwhile;
* per (session, partner) stream, messages reach the partner in push order, each stored
  there exactly once (the partner keeps a per-stream mark; resends at or below it are
  dropped);
* a pop's removal is committed before its payload is returned.

The queues themselves (and every rule about them) are the ``QueueEngine``; this module
adds the east-west hop: the forwarder and the codec of its frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from isthmus.peer.client import PeerClient
from isthmus.store.transport import OutMessage
from isthmus.transport.queues import IncomingMessage, QueueEngine, Received
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

#: Outbound metadata of a refused batch: how many frames were stored before the refusal.
META_ACCEPTED = "x-ptp-accepted"

__all__ = ["IncomingMessage", "TransportService", "from_inbound", "to_inbound"]


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
        queues: QueueEngine,
        peers: PeerClient,
        resolve: Callable[[str], str],
        *,
        east_west_max_bytes: int = 4 * 1024 * 1024,
        batch_max_bytes: int = 8 * 1024 * 1024,
        idle_poll_s: float = 0.5,
        retry_s: float = 1.0,
    ) -> None:
        self.queues = queues
        self.peers = peers
        self.resolve = resolve
        self.east_west_max_bytes = east_west_max_bytes
        self.batch_max_bytes = batch_max_bytes
        self.idle_poll_s = idle_poll_s
        self.retry_s = retry_s

    # --- south-north ----------------------------------------------------------------

    async def push(
        self, session_id: str, token: str | None, peer_node_id: str, topic: str, payload: bytes
    ) -> None:
        await self.queues.push(session_id, token, peer_node_id, topic, payload)

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
        return await self.queues.pop(
            session_id, token, peer_node_id, topic, timeout_s, remove=remove
        )

    async def release(self, session_id: str, token: str | None, topic: str | None) -> int:
        return await self.queues.release(session_id, token, topic)

    # --- east-west, receiving -------------------------------------------------------

    async def receive(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> Received:
        """Store a partner's batch in order, as far as it goes (see ``QueueEngine``)."""
        return await self.queues.receive(source_node_id, messages)

    async def receive_all(self, source_node_id: str, messages: Sequence[IncomingMessage]) -> int:
        """``receive`` for single-message calls: the refusal, if any, is raised."""
        result = await self.queues.receive(source_node_id, messages)
        if result.refusal is not None:
            raise result.refusal
        return result.stored

    # --- east-west, sending ---------------------------------------------------------

    async def run_forwarder(self) -> None:
        """Deliver the out queue forever; what fails is retried after ``retry_s``."""
        backoff: dict[tuple[str, str | None], float] = {}
        while True:
            sent_any = False
            try:
                sent_any = await self.forward_once(backoff)
            except Exception:
                log.exception("transport forwarding round failed")
            if not sent_any:
                self.queues.outgoing.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.queues.outgoing.wait(), self.idle_poll_s)

    async def forward_once(
        self, backoff: dict[tuple[str, str | None], float] | None = None
    ) -> bool:
        """One batch to every partner with messages waiting; True if any progress.

        ``backoff`` maps (partner, None) or (partner, session) to the loop time before
        which it is not tried again: one session the partner refuses (not opened there
        yet, full) does not hold up the other sessions to that partner."""
        await self.queues.start()
        backoff = {} if backoff is None else backoff
        rounds = [
            self._forward_to(peer, messages, backoff)
            for peer, messages in self.queues.outgoing_by_peer().items()
        ]
        return any(await asyncio.gather(*rounds))

    async def _forward_to(
        self,
        peer: str,
        messages: list[OutMessage],
        backoff: dict[tuple[str, str | None], float],
    ) -> bool:
        now = asyncio.get_running_loop().time()
        if backoff.get((peer, None), 0.0) > now:
            return False
        eligible = [m for m in messages if backoff.get((peer, m.session_id), 0.0) <= now]
        if not eligible:
            return False
        batch: list[OutMessage] = []
        size = 0
        for message in eligible:
            if batch and size + message.size > self.batch_max_bytes:
                break
            batch.append(message)
            size += message.size
        try:
            address = self.resolve(peer)
            frames, owners = self._frames(batch, await self.queues.payloads(batch))
            outbound = await self._post(address, peer, frames)
        except (PeerError, TransportRefused) as exc:
            log.warning("transport to %s failed, will retry: %s", peer, exc)
            backoff[peer, None] = now + self.retry_s
            return False
        if outbound.code == PtpCode.OK:
            self.queues.acknowledge(batch)
            return True
        meta = dict(outbound.metadata)
        try:
            accepted_frames = int(meta.get(META_ACCEPTED, "0"))
        except ValueError:
            accepted_frames = 0
        stored = self._fully_sent(batch, owners, accepted_frames)
        self.queues.acknowledge(stored)
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
            self.queues.acknowledge(doomed)
        else:
            log.info("%s refused session %s for now: %s", peer, session, outbound.message)
            backoff[peer, session] = now + self.retry_s
        return bool(stored) or code == PtpCode.SESSION_RELEASED

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
        return outbound
