"""``wire.protobuf.parse``: bad bytes are one refusal, never another exception."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.proto import ecdh_psi_pb2, handshake_pb2, ptp_pb2
from isthmus.wire.protobuf import MalformedMessage, parse, unpacked

#: Messages parsed from bytes a partner or a client sent.
MESSAGE_TYPES = [
    ptp_pb2.Inbound,
    ptp_pb2.Outbound,
    ptp_pb2.PushInbound,
    ptp_pb2.PopInbound,
    ptp_pb2.PeekInbound,
    ptp_pb2.ReleaseInbound,
    handshake_pb2.HandshakeRequest,
    handshake_pb2.HandshakeResponse,
    handshake_pb2.HandshakeVersionCheckHelper,
    ecdh_psi_pb2.EcdhPsiCipherBatch,
]
message_types = st.sampled_from(MESSAGE_TYPES)
#: Plausible garbage: random bytes, and valid frames of other messages cut or spliced.
garbage = st.binary(max_size=256) | st.builds(
    lambda payload, cut: ptp_pb2.Inbound(payload=payload, metadata={"k": "v"}).SerializeToString()[
        :cut
    ],
    st.binary(max_size=64),
    st.integers(0, 80),
)


@given(message_types, garbage)
def test_bad_bytes_are_the_one_refusal(message_type: type, data: bytes) -> None:
    try:
        message = parse(message_type, data, "not the message")
    except MalformedMessage as exc:
        assert exc.message == "not the message"
        assert exc.__cause__ is not None  # protobuf's DecodeError, kept for the log
    else:
        assert isinstance(message, message_type)


@given(st.binary(max_size=512), st.dictionaries(st.text(max_size=8), st.text(max_size=8)))
def test_a_real_message_round_trips(payload: bytes, metadata: dict[str, str]) -> None:
    data = ptp_pb2.Inbound(payload=payload, metadata=metadata).SerializeToString()
    message = parse(ptp_pb2.Inbound, data, "unused")
    assert (message.payload, dict(message.metadata)) == (payload, metadata)


def test_known_garbage_is_refused() -> None:
    with pytest.raises(MalformedMessage):
        parse(ptp_pb2.Inbound, b"\xff\xff\xff", "x")


def test_only_decode_errors_are_caught() -> None:
    """A programming error (not bytes) is not mistaken for a sender's garbage."""
    with pytest.raises(TypeError):
        parse(ptp_pb2.Inbound, "text, not bytes", "x")  # type: ignore[arg-type]


@given(message_types, garbage, st.booleans())
def test_a_packed_message_is_itself_none_or_the_one_refusal(
    message_type: type, data: bytes, same_type: bool
) -> None:
    """``unpacked``: another type inside the ``Any`` is None; this type over bad bytes is
    ``MalformedMessage``; nothing else escapes (``Any.Unpack`` raises DecodeError)."""
    packed = any_pb2.Any()
    other = ptp_pb2.Outbound if message_type is not ptp_pb2.Outbound else ptp_pb2.Inbound
    packed.Pack(message_type() if same_type else other())
    packed.value = data
    try:
        message = unpacked(packed, message_type, "not the message")
    except MalformedMessage as exc:
        assert same_type and exc.message == "not the message"
    else:
        assert (message is None) != same_type
        assert message is None or isinstance(message, message_type)
