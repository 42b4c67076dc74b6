"""The east-west codec: what goes into and comes out of the bytes partners exchange.

Guarantees: bytes from a partner become an ``IncomingMessage`` or a ``TransportRefused``
and nothing else — ``E0000000616`` (codec error) when they are not the protobuf message
they should be, ``E0000000400`` when the message is one but its routing is unusable
(session and topic are checked with ``wire.ptp``); ``to_inbound`` and ``from_inbound``
round-trip. Every protobuf read of the transport goes through ``decode``, the one place
that turns malformed bytes into the codec error.
"""

from __future__ import annotations

from collections.abc import Mapping

from isthmus.store.transport import OutMessage
from isthmus.transport.queues import IncomingMessage
from isthmus.wire import paths, ptp
from isthmus.wire.errors import TransportRefused
from isthmus.wire.proto import ptp_pb2
from isthmus.wire.protobuf import MalformedMessage, MessageT, parse
from isthmus.wire.ptp import PtpCode

__all__ = [
    "FOREIGN_OK",
    "META_ACCEPTED",
    "META_FRAGMENT",
    "META_SEQ",
    "STREAM_VERSION",
    "decode",
    "foreign_reply_code",
    "from_inbound",
    "invoked_message",
    "is_wrapped",
    "to_inbound",
    "unwrap_push",
]

#: ``x-ptp-version`` of Isthmus's HTTP mapping of the ``transport`` stream.
STREAM_VERSION = "isthmus-stream-1"
#: Isthmus extensions carried in ``Inbound.metadata`` of the east-west stream.
META_SEQ = "x-ptp-seq"
META_FRAGMENT = "x-ptp-fragment"
#: Outbound metadata of a refused batch: how many frames were stored before the refusal.
META_ACCEPTED = "x-ptp-accepted"
#: Success codes other platforms answer with (digest §4.3 and §8: 0 and 200 seen).
FOREIGN_OK = {PtpCode.OK, "0", "200"}


def decode(message_type: type[MessageT], data: bytes, what: str) -> MessageT:
    """``data`` as a ``message_type``; ``TransportRefused(CODEC_ERROR, what)`` if it is
    not one (``what`` says what was expected)."""
    try:
        return parse(message_type, data, what)
    except MalformedMessage as exc:
        raise TransportRefused(PtpCode.CODEC_ERROR, exc.message) from exc


def to_inbound(message: OutMessage, payload: bytes, fragment: tuple[int, int] | None) -> bytes:
    """One frame of the east-west stream: the payload (or a fragment ``(index, count)``
    of it) with its routing and sequence number in ``Inbound.metadata``."""
    metadata = {
        ptp.SESSION_ID: message.session_id,
        ptp.TOPIC: message.topic,
        META_SEQ: str(message.seq),
    }
    if fragment is not None:
        metadata[META_FRAGMENT] = f"{fragment[0]}/{fragment[1]}"
    return bytes(ptp_pb2.Inbound(metadata=metadata, payload=payload).SerializeToString())


def from_inbound(data: bytes) -> IncomingMessage:
    """Decode one frame of the east-west stream: TransportRefused(CODEC_ERROR) if it is
    not an ``Inbound``, TransportRefused(BAD_REQUEST) if its routing is unusable."""
    inbound = decode(ptp_pb2.Inbound, data, "east-west frame is not an Inbound")
    meta = dict(inbound.metadata)
    try:
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
    except (KeyError, ValueError) as exc:
        raise TransportRefused(PtpCode.BAD_REQUEST, f"unusable east-west frame: {exc}") from exc


def is_wrapped(headers: Mapping[str, str]) -> bool:
    """Wrapped mode (v1.1, Mesh): ``x-ptp-version`` other than ``1`` and the container's
    own push named in ``x-ptp-uri``. Without that URI there is nothing to unwrap, so the
    body is taken as the payload (tolerant of senders that omit the version)."""
    version = ptp.read(headers, ptp.VERSION)
    uri = (ptp.read(headers, ptp.URI) or "").split("?", 1)[0]
    return version != ptp.PASS_THROUGH_VERSION and uri == paths.CHAN_PUSH


def unwrap_push(data: bytes) -> tuple[str, bytes, dict[str, str]]:
    """The container's ``PushInbound`` a wrapping sender re-serialised: topic, payload
    and metadata; TransportRefused(CODEC_ERROR) if it is not one."""
    push = decode(ptp_pb2.PushInbound, data, "wrapped payload is not a PushInbound")
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
