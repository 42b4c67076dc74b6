"""Transport behaviour: accept, forward, receive, deliver.

Guarantees (tested with real processes and SIGKILL):

* a push answered OK is in the store; it reaches the partner node even if either node
  dies and restarts meanwhile;
* per (session, partner) stream, messages reach the partner in push order, each stored
  there exactly once (the partner keeps a per-stream mark; resends at or below it are
  dropped);
* a popped message leaves the store only once its reply was handed to the client's
  connection (``Delivery``); a reply that could not be sent puts it back, in order;
* a session takes messages only from its parties, each within its share.

The queues themselves (and every rule about them) are the ``QueueEngine``; this module
adds the east-west hop: the forwarder and the codec of its frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from isthmus.peer.client import PeerClient
from isthmus.store.transport import OutMessage
from isthmus.transport.queues import Delivery, IncomingMessage, QueueEngine, Received
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

__all__ = [
    "Delivery",
    "IncomingMessage",
    "TransportService",
    "from_inbound",
    "invoked_message",
    "to_inbound",
]


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
            ptp.checked_id(meta[ptp.SESSION_ID], ptp.SESSION_ID),
            ptp.checked_topic(meta.get(ptp.TOPIC, "")),
            int(meta[META_SEQ]),
            inbound.payload,
            fragment,
        )
    except TransportRefused:
        raise
    except (KeyError, ValueError) as exc:
        raise TransportRefused(PtpCode.BAD_REQUEST, f"unusable east-west frame: {exc}") from exc
    except Exception as exc:  # protobuf's DecodeError
        raise TransportRefused(PtpCode.CODEC_ERROR, "east-west frame is not an Inbound") from exc


PUSH_URI = "/v1/interconn/chan/push"


def is_wrapped(headers: Mapping[str, str]) -> bool:
    """Wrapped mode (v1.1, Mesh): ``x-ptp-version`` other than ``1`` and the container's
    own push named in ``x-ptp-uri``. Without that URI there is nothing to unwrap, so the
    body is taken as the payload (tolerant of senders that omit the version)."""
    version = ptp.read(headers, ptp.VERSION)
    uri = (ptp.read(headers, ptp.URI) or "").split("?", 1)[0]
    return version != ptp.PASS_THROUGH_VERSION and uri == PUSH_URI


def unwrap_push(data: bytes) -> tuple[str, bytes, dict[str, str]]:
    """The container's ``PushInbound`` a wrapping sender re-serialised: topic, payload
    and metadata; TransportRefused(CODEC_ERROR) if it is not one."""
    push = ptp_pb2.PushInbound()
    try:
        push.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise TransportRefused(PtpCode.CODEC_ERROR, "wrapped payload is not a PushInbound") from exc
    return push.topic, push.payload, dict(push.metadata)


def invoked_message(
    headers: Mapping[str, str], payload: bytes, metadata: Mapping[str, str] | None = None
) -> IncomingMessage:
    """One ``invoke``d message, pass-through or wrapped. Routing is read from the
    ``Inbound.metadata`` (which wins), then the call's headers; a wrapped push's own
    topic wins over both."""
    meta = metadata or {}

    def pick(name: str) -> str | None:
        return ptp.read(meta, name) or ptp.read(headers, name)

    session_id = pick(ptp.SESSION_ID)
    if not session_id:
        raise TransportRefused(PtpCode.BAD_REQUEST, "x-ptp-session-id is required")
    ptp.checked_id(session_id, ptp.SESSION_ID)
    topic = pick(ptp.TOPIC) or ""
    if is_wrapped({**headers, **meta}):
        wrapped_topic, payload, _ = unwrap_push(payload)
        topic = wrapped_topic or topic
    ptp.checked_topic(topic)
    seq = pick(META_SEQ)
    try:
        number = int(seq) if seq else None
    except ValueError:
        raise TransportRefused(PtpCode.BAD_REQUEST, f"{META_SEQ} must be an integer") from None
    return IncomingMessage(session_id, topic, number, payload)


class Route(NamedTuple):
    """Where a partner's messages go, and how: ``native`` partners (Isthmus nodes) take
    numbered batches on the transport stream; any other platform gets one pass-through
    ``invoke`` per message, in order."""

    address: str
    native: bool


#: Success codes other platforms answer with (digest §4.3 and §8: 0 and 200 seen).
FOREIGN_OK = {PtpCode.OK, "0", "200"}


def _looks_like_code(text: str) -> bool:
    return text in FOREIGN_OK or (len(text) == 11 and text[0] == "E" and text[1:].isdigit())


def foreign_reply_code(data: bytes) -> tuple[str, str]:
    """``(code, message)`` of another platform's invoke reply, whichever of the two
    reply layouts it used (Kuscia: 3 fields; Mesh and the v1.2 text: 4).

    Protobuf cannot tell them apart, so: a layout whose ``code`` field holds a code and
    whose ``message`` field does not is taken (a v1.2 reply read in the 3-field layout
    shows its payload as the code and its code as the message)."""
    candidates: list[tuple[str, str]] = []
    for layout in (ptp.LAYOUT_3, ptp.LAYOUT_V12):
        try:
            code, message, _ = ptp.parse_outbound(data, layout=layout)
        except ValueError:
            continue
        if _looks_like_code(code):
            candidates.append((code, message))
    for code, message in candidates:
        if not _looks_like_code(message):
            return code, message
    if candidates:
        return candidates[0]
    raise TransportRefused(PtpCode.CODEC_ERROR, "partner answered no TransportOutbound")


class TransportService:
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
        peer_node_id: str | None,
        topic: str,
        timeout_s: float,
        *,
        remove: bool = True,
        ack: int | None = None,
    ) -> Delivery | None:
        """The next message; the caller settles the ``Delivery`` once it knows whether
        the reply reached the client's connection (unless ``ack``: see ``QueueEngine``)."""
        return await self.queues.pop(
            session_id, token, peer_node_id, topic, timeout_s, remove=remove, ack=ack
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
            route = self.resolve(peer)
            if not route.native:
                return await self._invoke_each(route.address, peer, batch, backoff, now)
            frames, owners = self._frames(batch, await self.queues.payloads(batch))
            outbound = await self._post(route.address, peer, frames)
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

    async def _invoke_each(
        self,
        address: str,
        peer: str,
        batch: list[OutMessage],
        backoff: dict[tuple[str, str | None], float],
        now: float,
    ) -> bool:
        """Another platform's node: one signed pass-through ``invoke`` per message, in
        order, stopping at the first refusal (so nothing overtakes it). Such a partner
        does not filter resends: a message whose reply was lost is delivered again."""
        sent: list[OutMessage] = []
        try:
            for message, payload in zip(batch, await self.queues.payloads(batch), strict=True):
                reply = await self.peers.call_bytes(
                    "POST",
                    address,
                    INVOKE_PATH,
                    target_node_id=peer,
                    body=payload,
                    extra_headers={
                        ptp.VERSION: ptp.PASS_THROUGH_VERSION,
                        ptp.SESSION_ID: message.session_id,
                        ptp.TOPIC: message.topic,
                        ptp.URI: PUSH_URI,
                        META_SEQ: str(message.seq),
                    },
                )
                code, text = foreign_reply_code(reply)
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
        self.queues.acknowledge(sent)
        return bool(sent)

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
